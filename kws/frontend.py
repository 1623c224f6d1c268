"""The one audio front end: waveform -> spectrogram, log-mel or MFCC features, in TensorFlow ops.

Used by the tf.data pipeline, by the trainer and by the exporter, so training and the exported model
compute the same features. Every op converts to TFLite builtins: the FFT length is a power of two (RFFT)
and the DCT of the MFCC is a matmul with a constant DCT-II matrix (tf.signal's own MFCC needs Flex ops).

The ``micro`` feature type is TensorFlow's audio_microfrontend op (the TFLite Micro front end). It runs in
TF and tf.data but cannot go into a .tflite (custom op): on a microcontroller that front end is C.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math

import numpy as np
import tensorflow as tf

FEATURE_TYPES = ("spectrogram", "log_mel", "mfcc", "micro")


@dataclasses.dataclass(kw_only=True, frozen=True)
class FrontendConfig:
    """Every front-end parameter. Sizes in samples and frames are derived properties."""

    feature_type: str = "mfcc"
    """One of FEATURE_TYPES: log-magnitude spectrogram, log-mel energies, MFCC, or the micro front end."""
    sample_rate_hz: int = 16000
    """Audio sample rate."""
    clip_duration_ms: int = 1000
    """Length of one classified window."""
    window_size_ms: float = 30.0
    """STFT window length."""
    window_stride_ms: float = 20.0
    """STFT hop."""
    fft_length: int = 0
    """FFT size, a power of two >= the window; 0 picks the smallest such."""
    num_mel_bins: int = 40
    """Mel bands (log_mel, mfcc) or filterbank channels (micro)."""
    lower_edge_hz: float = 20.0
    """Lowest mel band edge."""
    upper_edge_hz: float = 4000.0
    """Highest mel band edge; at most half the sample rate."""
    num_mfcc: int = 10
    """MFCC coefficients kept (c0 ... c[num_mfcc-1])."""
    log_floor: float = 1e-6
    """Added before the natural log so silence stays finite."""

    def __post_init__(self):
        if self.feature_type not in FEATURE_TYPES:
            raise ValueError(f"unknown feature type {self.feature_type!r}; valid: "
                             f"{', '.join(FEATURE_TYPES)}")
        if self.window_size_samples < 2 or self.window_stride_samples < 1:
            raise ValueError("window_size_ms and window_stride_ms give windows shorter than 2 samples")
        if self.clip_samples < self.window_size_samples:
            raise ValueError(f"clip_duration_ms={self.clip_duration_ms} is shorter than one window")
        n = self.fft_length
        if n and (n & (n - 1) or n < self.window_size_samples):
            raise ValueError(f"fft_length={n} must be a power of two >= the window "
                             f"({self.window_size_samples} samples)")
        if not 0 <= self.lower_edge_hz < self.upper_edge_hz <= self.sample_rate_hz / 2:
            raise ValueError(f"need 0 <= lower_edge_hz < upper_edge_hz <= {self.sample_rate_hz / 2}")
        if self.feature_type == "mfcc" and not 1 <= self.num_mfcc <= self.num_mel_bins:
            raise ValueError(f"num_mfcc={self.num_mfcc} must be in 1..num_mel_bins")
        if self.feature_type == "micro" and not (float(self.window_size_ms).is_integer()
                                                 and float(self.window_stride_ms).is_integer()):
            raise ValueError("the micro front end takes whole milliseconds for window and stride")
        if self.log_floor <= 0:
            raise ValueError("log_floor must be > 0")

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.clip_duration_ms / 1000))

    @property
    def window_size_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.window_size_ms / 1000))

    @property
    def window_stride_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.window_stride_ms / 1000))

    @property
    def fft_size(self) -> int:
        """The FFT length in use (fft_length, or the smallest power of two >= the window)."""
        return self.fft_length or 1 << (self.window_size_samples - 1).bit_length()

    @property
    def num_spectrogram_bins(self) -> int:
        return self.fft_size // 2 + 1

    @property
    def num_frames(self) -> int:
        """Frames per clip: windows that fit entirely (no end padding)."""
        return 1 + (self.clip_samples - self.window_size_samples) // self.window_stride_samples

    @property
    def feature_dim(self) -> int:
        return {"spectrogram": self.num_spectrogram_bins, "log_mel": self.num_mel_bins,
                "mfcc": self.num_mfcc, "micro": self.num_mel_bins}[self.feature_type]

    @property
    def feature_shape(self) -> tuple[int, int]:
        """[frames, feature_dim] of one clip."""
        return (self.num_frames, self.feature_dim)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "FrontendConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown front-end config keys {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**values)


def dct_matrix(num_mel_bins: int, num_mfcc: int) -> np.ndarray:
    """[num_mel_bins, num_mfcc] DCT-II matrix, scaled as tf.signal.mfccs_from_log_mel_spectrograms.

    c_k = sqrt(2 / N) * sum_n x_n cos(pi k (2n + 1) / (2N)), the same scale for every k.
    """
    n = np.arange(num_mel_bins)[:, None]
    k = np.arange(num_mfcc)[None, :]
    return (np.sqrt(2.0 / num_mel_bins) * np.cos(np.pi * k * (2 * n + 1) / (2 * num_mel_bins))
            ).astype(np.float32)


@functools.lru_cache(maxsize=16)
def mel_matrix(config: FrontendConfig) -> np.ndarray:
    """[num_spectrogram_bins, num_mel_bins] HTK-mel triangular filterbank, float32.

    The convention of tf.signal.linear_to_mel_weight_matrix (triangles in the mel domain, the DC bin
    weighted 0), computed in numpy so it is a plain constant in every graph and in TFLite.
    """
    def hz_to_mel(hz):
        return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)

    bins_mel = hz_to_mel(np.linspace(0.0, config.sample_rate_hz / 2, config.num_spectrogram_bins))
    edges = np.linspace(hz_to_mel(config.lower_edge_hz), hz_to_mel(config.upper_edge_hz),
                        config.num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel[:, None] - lower) / (center - lower)
    falling = (upper - bins_mel[:, None]) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights.astype(np.float32)


def magnitude_spectrogram(audio: tf.Tensor, config: FrontendConfig) -> tf.Tensor:
    """|STFT| with a periodic Hann window. audio float32 [..., samples] -> [..., frames, bins].

    The magnitude is sqrt(re^2 + im^2): about 3x faster than tf.abs on complex on CPU, and it converts
    to TFLite builtins (REAL, IMAG) just the same.
    """
    stft = tf.signal.stft(audio, frame_length=config.window_size_samples,
                          frame_step=config.window_stride_samples, fft_length=config.fft_size,
                          window_fn=tf.signal.hann_window, pad_end=False)
    return tf.sqrt(tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft)))


def warp_frequencies(magnitude: tf.Tensor, factors: tf.Tensor) -> tf.Tensor:
    """Vocal-tract-length perturbation: stretches each example's spectrum along frequency.

    magnitude float32 [batch, frames, bins], factors float32 [batch]. Bin k of the result is bin
    k / factor of the input (linear interpolation; past the last bin, the last bin), so a factor
    above 1 moves formants up (a shorter vocal tract) and below 1 down.
    """
    bins = magnitude.shape[-1]
    source = tf.clip_by_value(tf.range(bins, dtype=tf.float32)[None, :] / factors[:, None],
                              0.0, bins - 1.0)
    low = tf.floor(source)
    frac = (source - low)[:, None, :]
    low = tf.cast(low, tf.int32)
    high = tf.minimum(low + 1, bins - 1)
    below = tf.gather(magnitude, low, axis=2, batch_dims=1)
    above = tf.gather(magnitude, high, axis=2, batch_dims=1)
    return below * (1.0 - frac) + above * frac


def compute_features(audio: tf.Tensor, config: FrontendConfig,
                     warp: tf.Tensor | None = None) -> tf.Tensor:
    """Features of waveforms.

    Args:
      audio: float32 [..., config.clip_samples] in [-1, 1]; one clip or a batch (same results).
      warp: training only: float32 [batch] frequency-warp factors for a batch [batch, clip_samples]
        (warp_frequencies); None: no warping (what every exported model computes).
    Returns:
      float32 [..., config.num_frames, config.feature_dim].
    """
    audio = tf.convert_to_tensor(audio, tf.float32)
    if config.feature_type == "micro":
        if warp is not None:
            raise ValueError("frequency warping needs a spectrogram-based front end, not micro")
        return micro_features(audio, config)
    magnitude = magnitude_spectrogram(audio, config)
    if warp is not None:
        magnitude = warp_frequencies(magnitude, warp)
    if config.feature_type == "spectrogram":
        return tf.math.log(magnitude + config.log_floor)
    weights = mel_matrix(config)
    used = int(np.max(np.nonzero(weights.any(axis=1)))) + 1  # bins above the top band weigh 0
    mel = tf.tensordot(magnitude[..., :used], tf.constant(weights[:used]), axes=1)
    log_mel = tf.math.log(mel + config.log_floor)
    if config.feature_type == "log_mel":
        return log_mel
    return tf.tensordot(log_mel, tf.constant(dct_matrix(config.num_mel_bins, config.num_mfcc)), axes=1)


def micro_features(audio: tf.Tensor, config: FrontendConfig) -> tf.Tensor:
    """TFLite Micro front end (noise reduction, PCAN gain control, log scale), scaled like TF's example.

    audio float32 [..., samples] -> float32 [..., frames, num_mel_bins]. Runs per clip (the op is 1-D).
    """
    # Imported here: the op library is only needed for this feature type.
    from tensorflow.lite.experimental.microfrontend.python.ops import (  # pylint: disable=g-import-not-at-top
        audio_microfrontend_op as frontend_op)

    def one(clip):
        pcm = tf.cast(tf.clip_by_value(tf.round(clip * 32768.0), -32768.0, 32767.0), tf.int16)
        features = frontend_op.audio_microfrontend(
            pcm, sample_rate=config.sample_rate_hz, window_size=int(config.window_size_ms),
            window_step=int(config.window_stride_ms), num_channels=config.num_mel_bins,
            upper_band_limit=config.upper_edge_hz, lower_band_limit=config.lower_edge_hz,
            out_scale=1, out_type=tf.float32)
        # Same scaling as TF's speech_commands example: values land roughly in [0, 26].
        return features * (10.0 / 256.0)

    flat = tf.reshape(audio, [-1, tf.shape(audio)[-1]])
    out = tf.map_fn(one, flat, fn_output_signature=tf.TensorSpec(
        [None, config.num_mel_bins], tf.float32))
    out_shape = tf.concat([tf.shape(audio)[:-1], tf.shape(out)[1:]], axis=0)
    return tf.reshape(out, out_shape)
