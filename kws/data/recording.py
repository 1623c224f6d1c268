"""Imitating a real recording of clean (synthetic) speech: speaking rate, room, microphone.

Batched TensorFlow ops on float waveforms [batch, samples], each example with its own random
parameters drawn from an explicit stateless ``seed`` (shape [2], int64), as in kws.data.augment:

- ``random_speed``: speed perturbation (tempo and pitch together, as resampling does), by linear
  interpolation between samples, centred so that the middle of the clip stays put.
- ``reverb_and_eq``: room reverberation (a synthetic room impulse response per example: a direct-path
  impulse at lag 0 plus exponentially decaying white noise with a random RT60 and
  direct-to-reverberant ratio, scaled to unit energy) and a microphone / channel response (random
  low-pass, high-pass, spectral tilt and one peak), both applied in one FFT. Only the chosen clips
  are filtered, so the cost follows the probabilities.

Noise at a speech-to-noise ratio is kws.data.augment.mix_noise(snr_range_db=...).

FFT convolution, because a direct one is far slower for room-length responses: [100, 16000] clips,
each with its own response, on this 2-core CPU (shared, lowest of 3;
benchmarks/pipeline_throughput.py --compare_convolution): 800 taps 63 ms (FFT) vs 0.49 s (depthwise
tf.nn convolution), 4,000 taps 55 ms vs 2.7 s, 12,800 taps (RT60 0.8 s) 75 ms vs 52 s.
"""

from __future__ import annotations

import math

import tensorflow as tf

LOWPASS_ORDER = 6
"""Butterworth order of the random low-pass (36 dB per octave): channel band-limiting is steep."""
HIGHPASS_ORDER = 2
"""Butterworth order of the random high-pass (12 dB per octave), like a microphone's low cut."""
TILT_REFERENCE_HZ = 1000.0
"""The spectral tilt is 0 dB at this frequency."""
TILT_FLOOR_HZ = 50.0
"""Below this frequency the tilt and the peak keep their value at it (no log of 0 at DC)."""
PEAK_MIN_HZ, PEAK_MAX_HZ = 300.0, 6000.0
"""The EQ peak's centre is drawn log-uniformly in this range."""
PEAK_WIDTH_OCTAVES = 0.5
"""Standard deviation, in octaves, of the peak's Gaussian shape on a log-frequency axis."""


_LN10 = math.log(10.0)


def _split(seed: tf.Tensor, n: int) -> list[tf.Tensor]:
    return list(tf.unstack(tf.random.experimental.stateless_split(seed, n)))


def _uniform(batch: tf.Tensor, seed: tf.Tensor, low: float, high: float) -> tf.Tensor:
    return tf.random.stateless_uniform([batch], seed, low, high) if high > low else tf.fill(
        [batch], tf.constant(low, tf.float32))


def _chosen(batch: tf.Tensor, probability: float, seed: tf.Tensor) -> tf.Tensor:
    """[batch] bool: each example independently True with ``probability``."""
    return tf.random.stateless_uniform([batch], seed) < probability


def _on_rows(audio: tf.Tensor, chosen: tf.Tensor, process) -> tf.Tensor:
    """``audio`` with its ``chosen`` rows replaced by process(rows, those rows): the work is done on
    the chosen rows only (it costs in proportion to the share); the others stay bit for bit."""
    rows = tf.where(chosen)[:, 0]
    processed = process(rows, tf.gather(audio, rows))
    # Back in place with a gather and a select (tensor_scatter_nd_update is ~5x slower here).
    position = tf.maximum(tf.cumsum(tf.cast(chosen, tf.int32)) - 1, 0)
    back = tf.gather(tf.concat([processed, tf.zeros_like(audio[:1])], axis=0), position)
    return tf.where(chosen[:, None], back, audio)


# --- speed -----------------------------------------------------------------------------------------

def change_speed(audio: tf.Tensor, factors: tf.Tensor) -> tf.Tensor:
    """Plays each clip of [batch, samples] ``factors[i]`` times faster, keeping its length.

    out[n] = x(c + (n - c) * factor), c = (samples - 1) / 2, by linear interpolation of x, which is
    zero outside the clip: a factor of 1.1 shortens a sound by 1/1.1 around the clip's middle and
    raises its frequencies by 1.1 (no anti-alias filter: above sample_rate / (2 * factor) folds back;
    linear interpolation itself damps the top octave a little).
    """
    samples = audio.shape[1]
    centre = (samples - 1) / 2.0
    factors = tf.cast(factors, tf.float32)
    zeros = tf.zeros_like(factors)
    # An image warp does it in one kernel (two gathers cost ~1.6x as much): each clip is a
    # [1, samples] image, output pixel n reads input x = factor * n + centre * (1 - factor), y = 0,
    # bilinearly, with zeros outside.
    transforms = tf.stack([factors, zeros, centre * (1.0 - factors), zeros, zeros + 1.0, zeros,
                           zeros, zeros], axis=1)
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=audio[:, None, :, None], transforms=transforms, output_shape=[1, samples],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")
    return tf.ensure_shape(warped[:, 0, :, 0], audio.shape)


def random_speed(audio: tf.Tensor, probability: float, min_factor: float, max_factor: float,
                 seed: tf.Tensor) -> tf.Tensor:
    """change_speed with a factor uniform in [min_factor, max_factor] on a ``probability`` share of
    clips; the other clips are returned unchanged."""
    if probability <= 0:
        return audio
    s_use, s_factor = _split(seed, 2)
    batch = tf.shape(audio)[0]
    factors = _uniform(batch, s_factor, min_factor, max_factor)
    if probability >= 1:
        return change_speed(audio, factors)
    return _on_rows(audio, _chosen(batch, probability, s_use),
                    lambda rows, clips: change_speed(clips, tf.gather(factors, rows)))


# --- room ------------------------------------------------------------------------------------------

def rir_samples(rt60_max_s: float, sample_rate_hz: int) -> int:
    """Impulse-response length: long enough for the slowest room to decay by 60 dB."""
    return max(2, math.ceil(rt60_max_s * sample_rate_hz))


def fft_length(clip_samples: int, rir_length: int) -> int:
    """The smallest power of two >= clip_samples + rir_length - 1: the first clip_samples outputs of
    the circular convolution are then those of the linear one."""
    return 1 << (clip_samples + rir_length - 2).bit_length()


def room_impulse_responses(rt60_s: tf.Tensor, drr_db: tf.Tensor, length: int, sample_rate_hz: int,
                           seed: tf.Tensor) -> tf.Tensor:
    """Synthetic room impulse responses float32 [batch, length], one per (rt60_s, drr_db) pair.

    h[0] is the direct path; h[1:] is white noise (uniform: a third of the cost of Gaussian, and
    what a clip gets convolved with is near-Gaussian either way) under the envelope 10^(-3 t / rt60)
    (its energy falls by 60 dB in rt60 seconds), scaled so that direct energy / reverberant energy is
    10^(drr_db / 10). The whole response has unit energy, so a white signal keeps its power.
    """
    rt60_s = tf.cast(rt60_s, tf.float32)
    batch = tf.shape(rt60_s)[0]
    t = tf.range(1, length, dtype=tf.float32) / float(sample_rate_hz)
    envelope = tf.exp(-3.0 * _LN10 * t[None, :] / rt60_s[:, None])
    tail = tf.random.stateless_uniform([batch, length - 1], seed, -1.0, 1.0) * envelope
    tail_energy = tf.reduce_sum(tf.square(tail), axis=1)
    reverberant = tf.exp(-_LN10 / 10.0 * tf.cast(drr_db, tf.float32))
    tail = tail * tf.sqrt(reverberant / tail_energy)[:, None]
    direct = tf.ones([batch, 1])
    return tf.concat([direct, tail], axis=1) / tf.sqrt(1.0 + reverberant)[:, None]


# --- microphone ------------------------------------------------------------------------------------

def eq_response(frequencies_hz: tf.Tensor, lowpass_hz: tf.Tensor, highpass_hz: tf.Tensor,
                tilt_db_per_octave: tf.Tensor, peak_hz: tf.Tensor, peak_db: tf.Tensor) -> tf.Tensor:
    """Amplitude gains [batch, bins] at ``frequencies_hz`` [bins], per example (each [batch]):

    Butterworth low-pass (order LOWPASS_ORDER) x Butterworth high-pass (order HIGHPASS_ORDER) x
    10^((tilt + peak) / 20), tilt = tilt_db_per_octave * log2(f / 1 kHz), peak = peak_db *
    exp(-(log2(f / peak_hz) / PEAK_WIDTH_OCTAVES)^2 / 2). Zero phase.
    """
    # Everything in logs and exp (tf.pow is ~10x slower than tf.exp on this CPU).
    log_f = tf.math.log(tf.maximum(tf.cast(frequencies_hz, tf.float32), 1e-3))[None, :]
    log_of = lambda v: tf.math.log(tf.cast(v, tf.float32))[:, None]  # noqa: E731
    lowpass = tf.math.rsqrt(1.0 + tf.exp(2.0 * LOWPASS_ORDER * (log_f - log_of(lowpass_hz))))
    highpass = tf.math.rsqrt(1.0 + tf.exp(2.0 * HIGHPASS_ORDER * (log_of(highpass_hz) - log_f)))
    log_floored = tf.maximum(log_f, math.log(TILT_FLOOR_HZ))
    octaves = (log_floored - math.log(TILT_REFERENCE_HZ)) / math.log(2.0)
    peak_octaves = (log_floored - log_of(peak_hz)) / math.log(2.0)
    shape_db = (tf.cast(tilt_db_per_octave, tf.float32)[:, None] * octaves
                + tf.cast(peak_db, tf.float32)[:, None]
                * tf.exp(-0.5 * tf.square(peak_octaves / PEAK_WIDTH_OCTAVES)))
    return lowpass * highpass * tf.exp(_LN10 / 20.0 * shape_db)


def filter_clips(audio: tf.Tensor, rirs: tf.Tensor | None = None, gains: tf.Tensor | None = None,
                 n_fft: int | None = None) -> tf.Tensor:
    """Each clip of [batch, samples] convolved with its impulse response (rirs [batch, length], lag 0
    first) and multiplied by its amplitude response (gains [batch, n_fft // 2 + 1], at bins k *
    sample_rate / n_fft), in one FFT of length n_fft; the first ``samples`` outputs, so the direct
    path stays where the sound was."""
    samples = audio.shape[1]
    if n_fft is None:
        n_fft = fft_length(samples, rirs.shape[1] if rirs is not None else 1)
    needed = samples + (rirs.shape[1] if rirs is not None else 1) - 1
    if n_fft < needed:
        raise ValueError(f"n_fft {n_fft} is shorter than clip + response - 1 ({needed}): the "
                         "convolution would wrap around")
    pad = lambda x: tf.pad(x, [[0, 0], [0, n_fft - x.shape[1]]])  # noqa: E731
    spectrum = tf.signal.rfft(pad(audio))
    if rirs is not None:
        spectrum *= tf.signal.rfft(pad(rirs))
    if gains is not None:
        spectrum *= tf.complex(gains, tf.zeros_like(gains))
    return tf.signal.irfft(spectrum, [n_fft])[:, :samples]


def reverb_and_eq(audio: tf.Tensor, config, sample_rate_hz: int, seed: tf.Tensor) -> tf.Tensor:
    """Room reverberation on a config.reverb_probability share of clips and a random microphone
    response on a config.eq_probability share (drawn independently), in one FFT.

    config: a kws.data.augment.AugmentConfig (its reverb_* and eq_* fields). Clips chosen for
    neither are returned unchanged, bit for bit.
    """
    do_reverb, do_eq = config.reverb_probability > 0, config.eq_probability > 0
    if not (do_reverb or do_eq):
        return audio
    s_room, s_eq = _split(seed, 2)
    batch, samples = tf.shape(audio)[0], audio.shape[1]
    length = rir_samples(config.reverb_rt60_max_s, sample_rate_hz) if do_reverb else 1
    n_fft = fft_length(samples, length)
    # Every parameter is drawn for the whole batch (so an example's draw does not depend on which
    # others were chosen); the filtering runs on the chosen clips only.
    chosen = tf.zeros([batch], tf.bool)
    if do_reverb:
        s_use, s_rt60, s_drr, s_noise = _split(s_room, 4)
        use_reverb = _chosen(batch, config.reverb_probability, s_use)
        rt60 = _uniform(batch, s_rt60, config.reverb_rt60_min_s, config.reverb_rt60_max_s)
        drr = _uniform(batch, s_drr, config.reverb_drr_min_db, config.reverb_drr_max_db)
        chosen |= use_reverb
    if do_eq:
        s_use, s_low, s_high, s_tilt, s_peak_hz, s_peak_db = _split(s_eq, 6)
        use_eq = _chosen(batch, config.eq_probability, s_use)
        eq_params = (
            _uniform(batch, s_low, config.eq_lowpass_min_hz, config.eq_lowpass_max_hz),
            _uniform(batch, s_high, config.eq_highpass_min_hz, config.eq_highpass_max_hz),
            _uniform(batch, s_tilt, -config.eq_tilt_db_per_octave, config.eq_tilt_db_per_octave),
            tf.exp(_uniform(batch, s_peak_hz, math.log(PEAK_MIN_HZ), math.log(PEAK_MAX_HZ))),
            _uniform(batch, s_peak_db, -config.eq_peak_db, config.eq_peak_db))
        chosen |= use_eq

    def process(rows, clips):
        rirs = gains = None
        if do_reverb:
            # The noise of the tails is drawn for the chosen clips only (their number varies).
            rirs = room_impulse_responses(tf.gather(rt60, rows), tf.gather(drr, rows), length,
                                          sample_rate_hz, s_noise)
            if do_eq and config.reverb_probability < 1:  # some rows are there for EQ only
                identity = tf.one_hot(tf.zeros_like(rows, tf.int32), length)
                rirs = tf.where(tf.gather(use_reverb, rows)[:, None], rirs, identity)
        if do_eq:
            frequencies = tf.range(n_fft // 2 + 1, dtype=tf.float32) * (sample_rate_hz / n_fft)
            gains = eq_response(frequencies, *(tf.gather(p, rows) for p in eq_params))
            if do_reverb and config.eq_probability < 1:  # some rows are there for reverb only
                gains = tf.where(tf.gather(use_eq, rows)[:, None], gains, 1.0)
        return filter_clips(clips, rirs, gains, n_fft)

    if config.reverb_probability >= 1 or config.eq_probability >= 1:
        return process(tf.range(batch, dtype=tf.int64), audio)
    return _on_rows(audio, chosen, process)
