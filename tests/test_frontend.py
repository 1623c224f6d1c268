"""Golden tests of kws.frontend against an independent numpy implementation written here."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kws import audio
from kws import frontend

# float32 FFT + log: features of audio at normal level agree with float64 numpy to this much.
ATOL = 2e-3


def _np_features(clip: np.ndarray, cfg: frontend.FrontendConfig) -> np.ndarray:
    """Spectrogram / log-mel / MFCC in float64 numpy, from the definitions, not from kws."""
    win, hop, n_fft = cfg.window_size_samples, cfg.window_stride_samples, cfg.fft_size
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    n_frames = 1 + (len(clip) - win) // hop
    frames = np.stack([clip[i * hop:i * hop + win] * hann for i in range(n_frames)])
    mag = np.abs(np.fft.rfft(frames, n=n_fft, axis=-1))
    if cfg.feature_type == "spectrogram":
        return np.log(mag + cfg.log_floor)
    # HTK mel filterbank, triangles in the mel domain, DC bin weighted 0.
    to_mel = lambda hz: 1127.0 * np.log1p(np.asarray(hz) / 700.0)  # noqa: E731
    bins_mel = to_mel(np.linspace(0, cfg.sample_rate_hz / 2, n_fft // 2 + 1))
    edges = np.linspace(to_mel(cfg.lower_edge_hz), to_mel(cfg.upper_edge_hz), cfg.num_mel_bins + 2)
    weights = np.zeros((n_fft // 2 + 1, cfg.num_mel_bins))
    for m in range(cfg.num_mel_bins):
        lo, mid, hi = edges[m:m + 3]
        rising = (bins_mel - lo) / (mid - lo)
        falling = (hi - bins_mel) / (hi - mid)
        weights[:, m] = np.maximum(0, np.minimum(rising, falling))
    weights[0] = 0
    log_mel = np.log(mag @ weights + cfg.log_floor)
    if cfg.feature_type == "log_mel":
        return log_mel
    n = cfg.num_mel_bins
    out = np.zeros((n_frames, cfg.num_mfcc))
    for k in range(cfg.num_mfcc):
        out[:, k] = np.sqrt(2.0 / n) * sum(
            log_mel[:, i] * np.cos(np.pi * k * (2 * i + 1) / (2 * n)) for i in range(n))
    return out


def _speechlike(rng, n=16000, rate=16000):
    t = np.arange(n) / rate
    tone = sum(a * np.sin(2 * np.pi * f * t) for a, f in ((0.3, 220), (0.2, 660), (0.1, 1500)))
    return (tone * np.hanning(n) + 0.01 * rng.standard_normal(n)).astype(np.float32)


def test_default_sizes():
    cfg = frontend.FrontendConfig()
    assert (cfg.clip_samples, cfg.window_size_samples, cfg.window_stride_samples) == (16000, 480, 320)
    assert cfg.fft_size == 512 and cfg.num_frames == 49
    assert cfg.feature_shape == (49, 10)
    assert frontend.FrontendConfig(feature_type="log_mel").feature_shape == (49, 40)
    assert frontend.FrontendConfig(feature_type="spectrogram").feature_shape == (49, 257)


@pytest.mark.parametrize("feature_type", ["spectrogram", "log_mel", "mfcc"])
def test_matches_numpy(feature_type, rng):
    cfg = frontend.FrontendConfig(feature_type=feature_type)
    clip = _speechlike(rng)
    got = frontend.compute_features(clip, cfg).numpy()
    want = _np_features(clip.astype(np.float64), cfg)
    assert got.shape == want.shape == cfg.feature_shape
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=1e-4)


def test_other_config_matches_numpy(rng):
    cfg = frontend.FrontendConfig(window_size_ms=25, window_stride_ms=10, num_mel_bins=32,
                                  num_mfcc=13, upper_edge_hz=7600, clip_duration_ms=500)
    clip = _speechlike(rng, n=cfg.clip_samples)
    got = frontend.compute_features(clip, cfg).numpy()
    assert got.shape == (1 + (8000 - 400) // 160, 13)
    np.testing.assert_allclose(got, _np_features(clip.astype(np.float64), cfg), atol=ATOL, rtol=1e-4)


def test_mfcc_equals_tf_signal_mfcc(rng):
    """The matmul DCT equals tf.signal's own MFCC (which cannot go into TFLite)."""
    cfg = frontend.FrontendConfig(feature_type="log_mel")
    log_mel = frontend.compute_features(_speechlike(rng), cfg)
    ref = tf.signal.mfccs_from_log_mel_spectrograms(log_mel)[..., :10].numpy()
    got = tf.tensordot(log_mel, frontend.dct_matrix(40, 10), axes=1).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-4)


@pytest.mark.parametrize("feature_type", ["log_mel", "mfcc", "micro"])
def test_batch_equals_single(feature_type, rng):
    cfg = frontend.FrontendConfig(feature_type=feature_type)
    batch = np.stack([_speechlike(rng) * g for g in (1.0, 0.3, 0.05)])
    together = frontend.compute_features(batch, cfg).numpy()
    for i, clip in enumerate(batch):
        np.testing.assert_allclose(together[i], frontend.compute_features(clip, cfg).numpy(),
                                   atol=1e-4)
    assert together.shape == (3,) + cfg.feature_shape


def test_tf_function_equals_eager(rng):
    cfg = frontend.FrontendConfig()
    clip = _speechlike(rng)[None]
    graph = tf.function(lambda x: frontend.compute_features(x, cfg))
    np.testing.assert_allclose(graph(clip).numpy(), frontend.compute_features(clip, cfg).numpy(),
                               atol=1e-5)


def test_silence_is_finite():
    cfg = frontend.FrontendConfig()
    out = frontend.compute_features(np.zeros(16000, np.float32), cfg).numpy()
    assert np.isfinite(out).all()
    # log(1e-6) * sqrt(2/40) * 40 in c0, zeros elsewhere.
    np.testing.assert_allclose(out[:, 0], np.log(1e-6) * np.sqrt(2 / 40) * 40, rtol=1e-5)
    np.testing.assert_allclose(out[:, 1:], 0, atol=1e-4)


def test_micro_frontend_on_real_clip(shared_data):
    clip = audio.read_clip(str(next((shared_data / "speech_commands_test_v0.02_dev" / "yes")
                                    .glob("*.wav"))), 16000)
    clip = np.pad(clip, (0, max(0, 16000 - len(clip))))[:16000]
    out = frontend.compute_features(clip, frontend.FrontendConfig(feature_type="micro")).numpy()
    assert out.shape == (49, 40)
    # The micro front end is log-scaled energy after noise reduction: non-negative, and speech
    # frames carry more energy than the quietest frames.
    assert out.min() >= 0
    frame_energy = out.sum(axis=1)
    assert frame_energy.max() > 2 * frame_energy.min() + 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(feature_type="mel"), "unknown feature type 'mel'; valid: spectrogram, log_mel"),
    (dict(fft_length=500), "power of two"),
    (dict(fft_length=256), "power of two"),
    (dict(upper_edge_hz=9000), "upper_edge_hz"),
    (dict(num_mfcc=50), "num_mfcc"),
    (dict(clip_duration_ms=10), "shorter than one window"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        frontend.FrontendConfig(**kwargs)


def test_config_round_trip():
    cfg = frontend.FrontendConfig(feature_type="log_mel", num_mel_bins=32)
    import json
    assert frontend.FrontendConfig.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ValueError, match="unknown front-end config keys"):
        frontend.FrontendConfig.from_dict({"sample_rate": 8000})


def test_mel_matrix_equals_tf_signal():
    cfg = frontend.FrontendConfig()
    ref = tf.signal.linear_to_mel_weight_matrix(40, 257, 16000, 20.0, 4000.0).numpy()
    np.testing.assert_allclose(frontend.mel_matrix(cfg), ref, atol=1e-5)


def test_warp_frequencies_matches_numpy_interpolation(rng):
    magnitude = rng.random((3, 4, 257)).astype(np.float32)
    factors = np.array([1.0, 0.9, 1.1], np.float32)
    out = frontend.warp_frequencies(tf.constant(magnitude), tf.constant(factors)).numpy()
    bins = np.arange(257)
    for b, factor in enumerate(factors):
        for t in range(4):
            expected = np.interp(bins / factor, bins, magnitude[b, t])  # holds the last bin beyond
            np.testing.assert_allclose(out[b, t], expected, atol=5e-5)  # float32 source bins


def test_warping_moves_a_tone_and_factor_one_changes_nothing():
    config = frontend.FrontendConfig(feature_type="log_mel")
    t = np.arange(config.clip_samples) / config.sample_rate_hz
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)[None, :]
    plain = frontend.compute_features(tone, config).numpy()
    same = frontend.compute_features(tone, config, tf.constant([1.0])).numpy()
    np.testing.assert_allclose(same, plain, rtol=1e-6, atol=1e-6)
    spectrum = frontend.magnitude_spectrogram(tone, config)
    warped = frontend.warp_frequencies(spectrum, tf.constant([1.1])).numpy()
    hz_per_bin = config.sample_rate_hz / config.fft_size
    assert abs(np.argmax(warped[0].mean(0)) * hz_per_bin - 1100.0) <= hz_per_bin
    with pytest.raises(ValueError, match="not micro"):
        frontend.compute_features(tone, frontend.FrontendConfig(feature_type="micro"),
                                  tf.constant([1.1]))
