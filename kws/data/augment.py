"""Training augmentation as batched TensorFlow ops driven by stateless seeds.

Every random draw takes an explicit ``seed`` tensor (shape [2], int64), so a pipeline is deterministic
for a given seed and nothing random is frozen at trace time. All ops work on whole batches
([batch, samples] waveforms, [batch, frames, dim] features): per-example work in tf.data costs more.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

BACKGROUND_LEVELS = ("volume", "snr")


@dataclasses.dataclass(kw_only=True, frozen=True)
class AugmentConfig:
    """Training-time augmentation. Each part can be turned off by a zero."""

    time_shift_ms: float = 100.0
    """Clips move by a uniform random shift in [-time_shift_ms, +time_shift_ms], zero-filled."""
    background_frequency: float = 0.8
    """Probability that a clip gets background noise mixed in (silence examples always do)."""
    background_volume: float = 0.1
    """Noise is scaled by a uniform random factor in [0, background_volume]."""
    gain_db: float = 6.0
    """Clips are scaled by a uniform random gain in [-gain_db, +gain_db] decibels."""
    time_masks: int = 2
    """SpecAugment: number of time masks per example."""
    time_mask_max_frames: int = 5
    """SpecAugment: longest time mask."""
    freq_masks: int = 2
    """SpecAugment: number of frequency masks per example."""
    freq_mask_max_bins: int = 2
    """SpecAugment: widest frequency mask (in feature bins: MFCCs, mel bands, ...)."""
    feature_noise: float = 0.0
    """Uniform noise in [-x/2, +x/2] added to every feature value after SpecAugment: with x the
    int8 input step of the features-in model (about 0.6 for MFCC), the network learns to ignore the
    rounding of its int8 input (quantization-friendly training). 0: off."""
    vtlp_probability: float = 0.0
    """Share of clips given vocal-tract-length perturbation: the spectrum stretched along frequency
    by a factor uniform in [vtlp_min, vtlp_max] (kws.frontend.warp_frequencies), like another
    speaker's formants. Not for the micro front end."""
    vtlp_min: float = 0.9
    """Smallest warp factor (formants down)."""
    vtlp_max: float = 1.1
    """Largest warp factor (formants up)."""
    # Imitating a real recording (kws.data.recording); all off by default.
    background_level: str = "volume"
    """How loud noise is mixed into speech clips: 'volume' (noise * U(0, background_volume)) or
    'snr' (a speech-to-noise ratio U(background_snr_min_db, background_snr_max_db), speech power
    over the whole clip). _silence_ examples get noise * U(0, background_volume) either way."""
    background_snr_min_db: float = 0.0
    """Lowest speech-to-noise ratio of background_level 'snr'."""
    background_snr_max_db: float = 20.0
    """Highest speech-to-noise ratio of background_level 'snr'."""
    speed_probability: float = 0.0
    """Share of clips played faster or slower (resampled: tempo and pitch), length kept."""
    speed_min: float = 0.9
    """Slowest speed factor (uniform in [speed_min, speed_max])."""
    speed_max: float = 1.1
    """Fastest speed factor."""
    reverb_probability: float = 0.0
    """Share of clips convolved with a synthetic room impulse response."""
    reverb_rt60_min_s: float = 0.15
    """Shortest reverberation time (60 dB decay), uniform in [min, max]."""
    reverb_rt60_max_s: float = 0.8
    """Longest reverberation time; also the impulse responses' length."""
    reverb_drr_min_db: float = 0.0
    """Lowest direct-to-reverberant energy ratio (uniform in [min, max]): lower is farther away."""
    reverb_drr_max_db: float = 15.0
    """Highest direct-to-reverberant energy ratio."""
    eq_probability: float = 0.0
    """Share of clips given a random microphone / channel response (low-pass, high-pass, tilt,
    peak), drawn independently of reverberation."""
    eq_lowpass_min_hz: float = 3000.0
    """Lowest low-pass cutoff (uniform in [min, max]; Butterworth order 6)."""
    eq_lowpass_max_hz: float = 8000.0
    """Highest low-pass cutoff."""
    eq_highpass_min_hz: float = 50.0
    """Lowest high-pass cutoff (uniform in [min, max]; Butterworth order 2)."""
    eq_highpass_max_hz: float = 400.0
    """Highest high-pass cutoff."""
    eq_tilt_db_per_octave: float = 2.0
    """Spectral tilt uniform in [-x, +x] dB per octave, 0 dB at 1 kHz."""
    eq_peak_db: float = 6.0
    """One peak or dip of uniform [-x, +x] dB, half an octave wide, centred in 300 Hz - 6 kHz."""

    def __post_init__(self):
        for name in ("background_frequency", "speed_probability", "reverb_probability",
                     "eq_probability", "vtlp_probability"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")
        for name in ("time_shift_ms", "background_volume", "gain_db", "time_masks", "feature_noise",
                     "time_mask_max_frames", "freq_masks", "freq_mask_max_bins",
                     "eq_highpass_min_hz", "eq_tilt_db_per_octave", "eq_peak_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("speed_min", "reverb_rt60_min_s", "eq_lowpass_min_hz", "vtlp_min"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        for low, high in (("background_snr_min_db", "background_snr_max_db"),
                          ("speed_min", "speed_max"), ("vtlp_min", "vtlp_max"),
                          ("reverb_rt60_min_s", "reverb_rt60_max_s"),
                          ("reverb_drr_min_db", "reverb_drr_max_db"),
                          ("eq_lowpass_min_hz", "eq_lowpass_max_hz"),
                          ("eq_highpass_min_hz", "eq_highpass_max_hz")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} ({getattr(self, low)}) must be <= {high} "
                                 f"({getattr(self, high)})")
        if self.background_level not in BACKGROUND_LEVELS:
            raise ValueError(f"unknown background_level {self.background_level!r}; valid: "
                             f"{', '.join(BACKGROUND_LEVELS)}")

    @property
    def uses_noise(self) -> bool:
        return self.background_frequency > 0 and (self.background_volume > 0
                                                  or self.background_level == "snr")

    @property
    def snr_range_db(self) -> tuple[float, float] | None:
        """(low, high) for mix_noise when background_level is 'snr', else None."""
        if self.background_level != "snr":
            return None
        return (self.background_snr_min_db, self.background_snr_max_db)


NO_AUGMENTATION = AugmentConfig(time_shift_ms=0, background_frequency=0, background_volume=0,
                                gain_db=0, time_masks=0, freq_masks=0)


def _seeds(seed: tf.Tensor, n: int) -> list[tf.Tensor]:
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, n)))


def shift_block_samples(sample_rate_hz: int, clip_samples: int) -> int:
    """Granularity of time shifts and noise offsets: 1 ms when that divides the clip, else 1 sample.

    Moving whole blocks lets a batched gather copy contiguous runs: ~7x faster than per-sample.
    """
    block = max(1, sample_rate_hz // 1000)
    return block if clip_samples % block == 0 else 1


def time_shift(audio: tf.Tensor, max_shift_samples: int, block_samples: int, seed: tf.Tensor
               ) -> tf.Tensor:
    """Shifts each clip of [batch, samples] by its own random multiple of ``block_samples`` in
    [-max_shift_samples, +max_shift_samples], filling with zeros. samples % block_samples == 0."""
    max_blocks = max_shift_samples // block_samples
    if max_blocks <= 0:
        return audio
    batch, samples = tf.shape(audio)[0], audio.shape[1]
    shift = tf.random.stateless_uniform([batch], seed, -max_blocks, max_blocks + 1, dtype=tf.int32)
    pad = max_blocks * block_samples
    blocks = tf.reshape(tf.pad(audio, [[0, 0], [pad, pad]]), [batch, -1, block_samples])
    index = tf.range(samples // block_samples)[None, :] + (max_blocks - shift)[:, None]
    return tf.reshape(tf.gather(blocks, index, batch_dims=1), [batch, samples])


def random_gain(audio: tf.Tensor, max_gain_db: float, seed: tf.Tensor) -> tf.Tensor:
    """Scales each clip by 10^(g/20), g uniform in [-max_gain_db, max_gain_db]."""
    if max_gain_db <= 0:
        return audio
    gain_db = tf.random.stateless_uniform([tf.shape(audio)[0]], seed, -max_gain_db, max_gain_db)
    return audio * tf.pow(10.0, gain_db / 20.0)[:, None]


class NoiseBank:
    """Long background-noise recordings in one tensor of blocks, sliced at random per example."""

    def __init__(self, noises: list, clip_samples: int, block_samples: int = 1):
        """noises: 1-D float arrays, each at least ``clip_samples`` long (tails shorter than one
        block are dropped). Offsets are multiples of ``block_samples``, which divides clip_samples."""
        if not noises:
            raise ValueError("NoiseBank needs at least one noise recording")
        starts, lengths, parts, offset = [], [], [], 0
        for noise in noises:
            if len(noise) < clip_samples:
                raise ValueError(f"a noise recording of {len(noise)} samples is shorter than one clip "
                                 f"({clip_samples}); use recordings of at least one clip")
            n_blocks = len(noise) // block_samples
            parts.append(tf.cast(noise[:n_blocks * block_samples], tf.float32))
            starts.append(offset)
            lengths.append(n_blocks)
            offset += n_blocks
        self.blocks = tf.reshape(tf.concat(parts, axis=0), [-1, block_samples])
        self.starts = tf.constant(starts, tf.int32)
        self.lengths = tf.constant(lengths, tf.int32)
        self.clip_samples = clip_samples
        self.block_samples = block_samples

    def sample(self, batch: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """[batch, clip_samples] noise: for each example a random recording at a random offset."""
        s_file, s_offset = _seeds(seed, 2)
        clip_blocks = self.clip_samples // self.block_samples
        which = tf.random.stateless_uniform([batch], s_file, 0, tf.size(self.starts), dtype=tf.int32)
        room = tf.gather(self.lengths, which) - clip_blocks + 1
        offset = tf.cast(tf.floor(tf.random.stateless_uniform([batch], s_offset)
                                  * tf.cast(room, tf.float32)), tf.int32)
        offset = tf.minimum(offset, room - 1) + tf.gather(self.starts, which)
        index = offset[:, None] + tf.range(clip_blocks)[None, :]
        return tf.reshape(tf.gather(self.blocks, index), [batch, self.clip_samples])


def mix_noise(audio: tf.Tensor, is_silence: tf.Tensor, bank: NoiseBank, frequency: float,
              max_volume: float, seed: tf.Tensor,
              snr_range_db: tuple[float, float] | None = None) -> tf.Tensor:
    """Adds noise * U(0, max_volume) to each clip of [batch, samples] with probability ``frequency``;
    always to silence examples.

    snr_range_db: (low, high): clips that are not silence get their noise scaled instead to a
    signal-to-noise ratio uniform in [low, high] dB: mean(clip^2) / mean((scale * noise)^2) over the
    whole clip. A clip of zeros gets none; so does a slice of noise that is all zeros.
    """
    s_noise, s_use, s_volume = _seeds(seed, 3)
    batch = tf.shape(audio)[0]
    noise = bank.sample(batch, s_noise)
    use = tf.logical_or(tf.random.stateless_uniform([batch], s_use) < frequency, is_silence)
    volume = tf.random.stateless_uniform([batch], s_volume, 0.0, max_volume)
    if snr_range_db is not None:
        low, high = snr_range_db
        snr_db = tf.random.stateless_uniform(
            [batch], tf.random.experimental.stateless_fold_in(s_volume, 1), low, high)
        clip_power = tf.reduce_mean(tf.square(audio), axis=1)
        noise_power = tf.reduce_mean(tf.square(noise), axis=1)
        scale = tf.sqrt(tf.math.divide_no_nan(clip_power,
                                              noise_power * tf.pow(10.0, snr_db / 10.0)))
        volume = tf.where(is_silence, volume, scale)
    volume = tf.where(use, volume, 0.0)
    return tf.clip_by_value(audio + noise * volume[:, None], -1.0, 1.0)


def _band_masks(batch: tf.Tensor, size: int, count: int, max_width: int, seed: tf.Tensor
                ) -> tf.Tensor:
    """[batch, size] bool, True inside any of ``count`` random bands of width 0..max_width."""
    mask = tf.zeros([batch, size], tf.bool)
    positions = tf.range(size)[None, :]
    for s in _seeds(seed, count) if count else []:
        s_width, s_start = _seeds(s, 2)
        width = tf.random.stateless_uniform([batch], s_width, 0, max_width + 1, dtype=tf.int32)
        start = tf.cast(tf.floor(tf.random.stateless_uniform([batch], s_start)
                                 * tf.cast(size - width + 1, tf.float32)), tf.int32)
        band = (positions >= start[:, None]) & (positions < (start + width)[:, None])
        mask = mask | band
    return mask


def warp_factors(batch: tf.Tensor, probability: float, low: float, high: float,
                 seed: tf.Tensor) -> tf.Tensor | None:
    """Per-example frequency-warp factors [batch]: uniform in [low, high] with ``probability``,
    else 1; None when ``probability`` is 0."""
    if not probability:
        return None
    s_use, s_factor = _seeds(seed, 2)
    use = tf.random.stateless_uniform([batch], s_use) < probability
    factor = tf.random.stateless_uniform([batch], s_factor, low, high)
    return tf.where(use, factor, tf.ones_like(factor))


def feature_noise(features: tf.Tensor, step: float, seed: tf.Tensor) -> tf.Tensor:
    """Adds uniform noise in [-step/2, step/2] to every value (``step`` 0: unchanged)."""
    if not step:
        return features
    return features + tf.random.stateless_uniform(tf.shape(features), seed, -step / 2, step / 2)


def spec_augment(features: tf.Tensor, config: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """SpecAugment time and frequency masks on [batch, frames, dim], filled with each example's mean."""
    if not (config.time_masks and config.time_mask_max_frames) and not (
            config.freq_masks and config.freq_mask_max_bins):
        return features
    s_time, s_freq = _seeds(seed, 2)
    batch, frames, dim = tf.shape(features)[0], features.shape[1], features.shape[2]
    time_mask = _band_masks(batch, frames, config.time_masks,
                            min(config.time_mask_max_frames, frames), s_time)
    freq_mask = _band_masks(batch, dim, config.freq_masks, min(config.freq_mask_max_bins, dim),
                            s_freq)
    masked = time_mask[:, :, None] | freq_mask[:, None, :]
    mean = tf.reduce_mean(features, axis=[1, 2], keepdims=True)
    return tf.where(masked, mean, features)
