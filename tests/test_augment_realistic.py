"""Recording-chain augmentation (speed, room, microphone, noise at an SNR), checked against numpy
computations and measured properties: Schroeder decay, tone levels, burst length, FFT peaks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import recording
from kws.data import speech_commands as sc

SEED = tf.constant([3, 5], tf.int64)
RATE = 16000


def _tone(freq_hz: float, samples: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq_hz * np.arange(samples) / RATE)).astype(np.float32)


def _level_db(signal: np.ndarray, reference: np.ndarray) -> float:
    """Power ratio of the middle halves (away from the clip edges' transients), in dB."""
    a, b = signal[len(signal) // 4:-len(signal) // 4], reference[len(reference) // 4:-len(reference) // 4]
    return 10 * np.log10(np.mean(a.astype(np.float64) ** 2) / np.mean(b.astype(np.float64) ** 2))


# --- speed -----------------------------------------------------------------------------------------

def test_change_speed_equals_numpy_linear_interpolation(rng):
    clips = (rng.normal(size=(4, 1600)) * 0.3).astype(np.float32)
    factors = np.array([0.9, 1.0, 1.1, 1.037])
    out = recording.change_speed(tf.constant(clips), tf.constant(factors, tf.float32)).numpy()
    n = np.arange(1600)
    centre = 799.5
    for row_in, row_out, factor in zip(clips, out, factors):
        # zero outside the clip, linearly interpolated into it
        xp = np.arange(-1, 1601)
        fp = np.concatenate([[0.0], row_in, [0.0]])
        expected = np.interp(centre + (n - centre) * factor, xp, fp, left=0.0, right=0.0)
        np.testing.assert_allclose(row_out, expected, atol=2e-3)
    np.testing.assert_array_equal(out[1], clips[1])  # factor 1 is exact


@pytest.mark.parametrize("factor", [1.1, 0.9])
def test_speed_changes_burst_length_and_pitch(factor):
    burst = np.zeros(RATE, np.float32)
    burst[4800:11200] = _tone(1000.0, 6400)  # 0.4 s of 1 kHz, centred
    out = recording.change_speed(tf.constant(burst[None]), tf.constant([factor])).numpy()[0]
    loud = np.nonzero(np.abs(out) > 0.05)[0]
    assert abs((loud[-1] - loud[0] + 1) - 6400 / factor) < 20
    assert abs((loud[-1] + loud[0]) / 2 - 7999.5) < 20  # the middle stays put
    spectrum = np.abs(np.fft.rfft(out, 1 << 16))
    peak_hz = np.argmax(spectrum) * RATE / (1 << 16)
    assert abs(peak_hz - 1000.0 * factor) < 2.0


def test_random_speed_share_identity_and_determinism(rng):
    clips = tf.constant((rng.normal(size=(200, 800)) * 0.3).astype(np.float32))
    assert recording.random_speed(clips, 0.0, 0.9, 1.1, SEED) is clips
    out = recording.random_speed(clips, 0.5, 0.9, 1.1, SEED).numpy()
    unchanged = np.all(out == clips.numpy(), axis=1)
    assert 0.35 < unchanged.mean() < 0.65
    changed = out[~unchanged]
    assert len({tuple(np.round(row[:50], 4)) for row in changed}) == len(changed)  # own factors
    np.testing.assert_array_equal(out, recording.random_speed(clips, 0.5, 0.9, 1.1, SEED).numpy())
    every = recording.random_speed(clips, 1.0, 0.9, 1.1, SEED).numpy()
    assert not np.any(np.all(every == clips.numpy(), axis=1))
    other = recording.random_speed(clips, 0.5, 0.9, 1.1, tf.constant([9, 9], tf.int64)).numpy()
    assert not np.array_equal(out, other)


# --- room ------------------------------------------------------------------------------------------

def _schroeder_rt60_s(h: np.ndarray) -> float:
    """RT60 from the backward-integrated energy decay of the reverberant tail: a line fitted to the
    decay between -5 and -25 dB (T20), extrapolated to 60 dB."""
    tail = h[1:].astype(np.float64) ** 2
    edc = np.cumsum(tail[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    fit = np.nonzero((edc_db <= -5) & (edc_db >= -25))[0]
    slope_db_per_sample = np.polyfit(fit, edc_db[fit], 1)[0]
    return -60.0 / slope_db_per_sample / RATE


def test_room_impulse_responses_decay_ratio_and_energy():
    rt60 = np.array([0.15, 0.3, 0.5, 0.8], np.float32)
    drr = np.array([0.0, 6.0, 15.0, -3.0], np.float32)
    length = recording.rir_samples(0.8, RATE)
    rirs = recording.room_impulse_responses(tf.constant(rt60), tf.constant(drr), length, RATE,
                                            SEED).numpy()
    assert rirs.shape == (4, 12800)
    for h, want_rt60, want_drr in zip(rirs, rt60, drr):
        assert abs(_schroeder_rt60_s(h) - want_rt60) < 0.05 * want_rt60
        measured_drr = 10 * np.log10(h[0] ** 2 / np.sum(h[1:].astype(np.float64) ** 2))
        assert abs(measured_drr - want_drr) < 0.01
        assert abs(np.sum(h.astype(np.float64) ** 2) - 1.0) < 1e-5
        assert np.argmax(np.abs(h)) == 0  # the direct path comes first and is the largest


def test_filter_clips_is_linear_convolution_aligned_at_lag_zero(rng):
    rirs = recording.room_impulse_responses(tf.constant([0.2, 0.4, 0.25]),
                                            tf.constant([3.0, 10.0, 0.0]), 3000, RATE, SEED)
    impulses = np.zeros((3, 8000), np.float32)
    impulses[0, 0] = impulses[1, 0] = 1.0
    impulses[2, 1000] = 1.0
    out = recording.filter_clips(tf.constant(impulses), rirs).numpy()
    h = rirs.numpy()
    np.testing.assert_allclose(out[0, :3000], h[0], atol=1e-6)  # an impulse gives back the RIR
    np.testing.assert_allclose(out[1, :3000], h[1], atol=1e-6)
    np.testing.assert_allclose(out[:2, 3000:], 0, atol=1e-6)
    np.testing.assert_allclose(out[2, :1000], 0, atol=1e-6)
    np.testing.assert_allclose(out[2, 1000:4000], h[2], atol=1e-6)
    clips = (rng.normal(size=(3, 8000)) * 0.1).astype(np.float32)
    out = recording.filter_clips(tf.constant(clips), rirs).numpy()
    for row_in, row_out, rir in zip(clips, out, h):
        np.testing.assert_allclose(row_out, np.convolve(row_in, rir)[:8000], atol=1e-5)
    with pytest.raises(ValueError, match="wrap around"):
        recording.filter_clips(tf.constant(clips), rirs, n_fft=8192)


def test_reverb_keeps_the_level_of_white_noise(rng):
    config = augment.AugmentConfig(reverb_probability=1.0)
    noise = (rng.normal(size=(64, RATE)) * 0.1).astype(np.float32)
    out = recording.reverb_and_eq(tf.constant(noise), config, RATE, SEED).numpy()
    ratio_db = 10 * np.log10(np.mean(out ** 2, axis=1) / np.mean(noise ** 2, axis=1))
    assert abs(ratio_db.mean()) < 0.5 and np.abs(ratio_db).max() < 2.0
    assert np.all(np.abs(out - noise).max(axis=1) > 1e-3)  # every clip reverberated


# --- microphone ------------------------------------------------------------------------------------

def _butterworth_db(freq_hz: float, cutoff_hz: float, order: int, low: bool) -> float:
    ratio = freq_hz / cutoff_hz if low else cutoff_hz / freq_hz
    return -10 * np.log10(1 + ratio ** (2 * order))


@pytest.mark.parametrize("cutoffs, tones", [
    ((4000.0, 50.0), (2000.0, 6000.0)),   # low-pass at 4 kHz: keeps 2 kHz, removes 6 kHz
    ((8000.0, 400.0), (1600.0, 100.0)),   # high-pass at 400 Hz: keeps 1.6 kHz, removes 100 Hz
])
def test_band_limits_remove_tones_outside_and_keep_tones_inside(cutoffs, tones):
    lowpass, highpass = cutoffs
    config = augment.AugmentConfig(eq_probability=1.0, eq_lowpass_min_hz=lowpass,
                                   eq_lowpass_max_hz=lowpass, eq_highpass_min_hz=highpass,
                                   eq_highpass_max_hz=highpass, eq_tilt_db_per_octave=0.0,
                                   eq_peak_db=0.0)
    clips = np.stack([_tone(f) for f in tones])
    out = recording.reverb_and_eq(tf.constant(clips), config, RATE, SEED).numpy()
    for row_in, row_out, freq in zip(clips, out, tones):
        expected = (_butterworth_db(freq, lowpass, recording.LOWPASS_ORDER, True)
                    + _butterworth_db(freq, highpass, recording.HIGHPASS_ORDER, False))
        assert abs(_level_db(row_out, row_in) - expected) < 0.3
    assert abs(_level_db(out[0], clips[0])) < 0.3  # kept
    assert _level_db(out[1], clips[1]) < -20  # removed


def test_tilt_and_peak_shape_tones():
    """Explicit EQ parameters through eq_response + filter_clips, tone levels against the formula."""
    n_fft = recording.fft_length(RATE, 1)
    frequencies = tf.range(n_fft // 2 + 1, dtype=tf.float32) * (RATE / n_fft)
    # example 0: +3 dB/octave tilt; example 1: +6 dB peak at 2 kHz; band limits far away
    gains = recording.eq_response(frequencies, tf.constant([1e6, 1e6]), tf.constant([1e-3, 1e-3]),
                                  tf.constant([3.0, 0.0]), tf.constant([2000.0, 2000.0]),
                                  tf.constant([0.0, 6.0]))
    # peak: 6 dB * exp(-(octaves away / 0.5)^2 / 2): 2 octaves 6e^-8, 1 octave 6e^-2
    for freq, tilt_db, peak_db in ((500.0, -3.0, 6 * np.exp(-8)), (1000.0, 0.0, 6 * np.exp(-2)),
                                   (2000.0, 3.0, 6.0), (2828.4, 4.5, 6 * np.exp(-0.5)),
                                   (4000.0, 6.0, 6 * np.exp(-2))):
        clips = np.stack([_tone(freq), _tone(freq)])
        out = recording.filter_clips(tf.constant(clips), gains=gains, n_fft=n_fft).numpy()
        assert abs(_level_db(out[0], clips[0]) - tilt_db) < 0.1
        assert abs(_level_db(out[1], clips[1]) - peak_db) < 0.1


def test_each_clip_gets_its_own_microphone(rng):
    config = augment.AugmentConfig(eq_probability=1.0)
    noise = np.repeat((rng.normal(size=(1, RATE)) * 0.1).astype(np.float32), 16, axis=0)
    out = recording.reverb_and_eq(tf.constant(noise), config, RATE, SEED).numpy()
    assert len({round(float(np.mean(row ** 2)), 8) for row in out}) == 16


def test_reverb_and_eq_share_identity_and_determinism(rng):
    clips = tf.constant((rng.normal(size=(200, 4000)) * 0.1).astype(np.float32))
    assert recording.reverb_and_eq(clips, augment.AugmentConfig(), RATE, SEED) is clips
    config = augment.AugmentConfig(reverb_probability=0.3, eq_probability=0.3)
    out = recording.reverb_and_eq(clips, config, RATE, SEED).numpy()
    unchanged = np.all(out == clips.numpy(), axis=1)
    assert 0.35 < unchanged.mean() < 0.65  # 0.7 * 0.7 = 0.49 chosen for neither
    np.testing.assert_array_equal(out, recording.reverb_and_eq(clips, config, RATE, SEED).numpy())
    other = recording.reverb_and_eq(clips, config, RATE, tf.constant([8, 1], tf.int64)).numpy()
    assert not np.array_equal(out, other)
    none_chosen = recording.reverb_and_eq(clips[:1], augment.AugmentConfig(reverb_probability=1e-9),
                                          RATE, SEED).numpy()
    np.testing.assert_array_equal(none_chosen, clips.numpy()[:1])


# --- noise at an SNR --------------------------------------------------------------------------------

def test_mix_noise_reaches_the_drawn_snr(rng):
    bank = augment.NoiseBank([rng.normal(size=40000).astype(np.float32) * 0.05], RATE)
    amplitudes = np.linspace(0.01, 0.3, 64)[:, None]
    speech = (amplitudes * rng.normal(size=(64, RATE))).astype(np.float32)
    no_silence = tf.zeros([64], tf.bool)

    def achieved(out):
        added = out.astype(np.float64) - speech
        return 10 * np.log10(np.mean(speech.astype(np.float64) ** 2, axis=1)
                             / np.mean(added ** 2, axis=1))

    out = augment.mix_noise(tf.constant(speech), no_silence, bank, 1.0, 0.1, SEED,
                            snr_range_db=(10.0, 10.0)).numpy()
    np.testing.assert_allclose(achieved(out), 10.0, atol=0.5)
    out = augment.mix_noise(tf.constant(speech), no_silence, bank, 1.0, 0.1, SEED,
                            snr_range_db=(0.0, 20.0)).numpy()
    snr = achieved(out)
    assert snr.min() > -0.5 and snr.max() < 20.5 and snr.max() - snr.min() > 10


def test_mix_noise_snr_leaves_silence_on_the_volume_rule():
    bank = augment.NoiseBank([np.ones(4000, np.float32)], 1000)
    audio = tf.zeros([100, 1000])
    silence = tf.constant([i % 2 == 0 for i in range(100)])
    out = augment.mix_noise(audio, silence, bank, 1.0, 0.3, SEED, snr_range_db=(5.0, 5.0)).numpy()
    assert np.all(out[1::2] == 0)  # a clip of zeros has no power to set an SNR against
    assert np.all(out[0::2, 0] > 0) and np.all(out[0::2] <= 0.3)


def test_config_checks_for_the_recording_options():
    with pytest.raises(ValueError, match="reverb_probability must be in"):
        augment.AugmentConfig(reverb_probability=1.5)
    with pytest.raises(ValueError, match="speed_min .* must be <= speed_max"):
        augment.AugmentConfig(speed_min=1.2, speed_max=1.1)
    with pytest.raises(ValueError, match="unknown background_level 'db'"):
        augment.AugmentConfig(background_level="db")
    with pytest.raises(ValueError, match="reverb_rt60_min_s must be > 0"):
        augment.AugmentConfig(reverb_rt60_min_s=0)
    config = augment.AugmentConfig(background_level="snr", background_volume=0)
    assert config.uses_noise and config.snr_range_db == (0.0, 20.0)
    assert augment.AugmentConfig().snr_range_db is None


# --- in the pipeline --------------------------------------------------------------------------------

def test_pipeline_with_recording_options_runs_differs_and_resumes(shared_data):
    index = sc.index_dataset(sc.DataConfig(
        data_dir=str(shared_data / "speech_commands_v0.01_sample"),
        background_noise_dir=str(shared_data / "_background_noise_")))
    features = frontend.FrontendConfig()
    noise = pl.load_noise(index, features.clip_samples, RATE)
    pipeline = pl.PipelineConfig(batch_size=64, seed=4)
    realistic = augment.AugmentConfig(background_level="snr", speed_probability=0.5,
                                      reverb_probability=0.5, eq_probability=0.5)

    def batches(config, epochs):
        ds = pl.make_dataset(index, "train", features, pipeline, config, noise, epochs=epochs)
        return [(x.numpy(), y.numpy()) for x, y in ds]

    per_epoch = -(-len(index.splits["train"]) // pipeline.batch_size)
    plain = batches(augment.AugmentConfig(), (0, 1))
    real = batches(realistic, (0, 2))
    assert len(real) == 2 * per_epoch == 2 * len(plain)
    for (xp, yp), (xr, yr) in zip(plain, real):
        assert xp.shape == xr.shape and np.all(np.isfinite(xr))
        np.testing.assert_array_equal(yp, yr)  # the same clips, differently recorded
    assert np.mean(np.abs(plain[0][0] - real[0][0]) > 1e-3) > 0.5
    resumed = batches(realistic, (1, 2))  # a run resumed at epoch 1 sees the same batches
    for (xa, _), (xb, _) in zip(real[per_epoch:], resumed, strict=True):
        np.testing.assert_array_equal(xa, xb)
