"""Augmentation ops, checked element by element with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from kws.data import augment

SEED = tf.constant([7, 11], tf.int64)


def test_time_shift_moves_whole_blocks_with_zero_fill():
    audio = np.arange(1, 4 * 1600 + 1, dtype=np.float32).reshape(4, 1600)
    audio = np.tile(audio, (8, 1))  # 32 rows
    out = augment.time_shift(tf.constant(audio), 160, 16, SEED).numpy()
    shifts = []
    for row_in, row_out in zip(audio, out):
        nz = np.nonzero(row_out)[0]
        # the first kept original sample tells the shift: out[i] = in[i - shift]
        shift = nz[0] - int(row_out[nz[0]] - row_in[0])
        expected = np.zeros_like(row_in)
        if shift >= 0:
            expected[shift:] = row_in[:len(row_in) - shift]
        else:
            expected[:shift] = row_in[-shift:]
        np.testing.assert_array_equal(row_out, expected)
        assert shift % 16 == 0 and -160 <= shift <= 160
        shifts.append(shift)
    assert len(set(shifts)) > 5  # each example gets its own shift
    again = augment.time_shift(tf.constant(audio), 160, 16, SEED).numpy()
    np.testing.assert_array_equal(out, again)


def test_noise_bank_slices_are_contiguous_pieces_of_one_recording():
    # Each recording is a distinct ramp, so a value tells recording and position.
    noises = [np.arange(5000, dtype=np.float32) + 100000 * (k + 1) for k in range(3)]
    bank = augment.NoiseBank(noises, 1600, 16)
    out = bank.sample(tf.constant(64), SEED).numpy()
    used = set()
    for row in out:
        k = int(row[0] // 100000) - 1
        start = int(row[0] - 100000 * (k + 1))
        np.testing.assert_array_equal(row, noises[k][start:start + 1600])
        assert start % 16 == 0
        used.add(k)
    assert used == {0, 1, 2}


def test_noise_bank_refuses_short_recording():
    with pytest.raises(ValueError, match="shorter than one clip"):
        augment.NoiseBank([np.zeros(100, np.float32)], 1600)


def test_mix_noise_probability_volume_and_silence():
    bank = augment.NoiseBank([np.ones(4000, np.float32)], 1000, 1)
    audio = tf.zeros([200, 1000])
    silence = tf.constant([i % 2 == 0 for i in range(200)])
    out = augment.mix_noise(audio, silence, bank, 0.0, 0.3, SEED).numpy()
    volume = out[:, 0]
    assert np.all(volume[1::2] == 0)  # frequency 0: speech untouched
    assert np.all(volume[0::2] > 0) and np.all(volume <= 0.3)  # silence always gets noise
    np.testing.assert_allclose(out, np.repeat(volume[:, None], 1000, 1))
    out = augment.mix_noise(audio, tf.zeros([200], tf.bool), bank, 0.5, 0.3, SEED).numpy()
    share = np.mean(out[:, 0] > 0)
    assert 0.35 < share < 0.65


def test_random_gain_range():
    audio = tf.fill([500, 10], 0.1)
    out = augment.random_gain(audio, 6.0, SEED).numpy()[:, 0] / 0.1
    gains_db = 20 * np.log10(out)
    assert gains_db.min() >= -6.0001 and gains_db.max() <= 6.0001
    assert gains_db.min() < -5 and gains_db.max() > 5


def test_spec_augment_masks_fill_with_mean():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 49, 10)).astype(np.float32) + 5
    cfg = augment.AugmentConfig(time_masks=2, time_mask_max_frames=5, freq_masks=1,
                                freq_mask_max_bins=2)
    out = augment.spec_augment(tf.constant(feats), cfg, SEED).numpy()
    changed_frames, changed_bins = [], []
    for f_in, f_out in zip(feats, out):
        changed = f_out != f_in
        np.testing.assert_allclose(f_out[changed], f_in.mean(), rtol=1e-5)
        full_rows = changed.all(axis=1)
        full_cols = changed.all(axis=0)
        # Every changed cell lies in a fully masked frame or a fully masked bin.
        assert np.all(changed == (full_rows[:, None] | full_cols[None, :]))
        changed_frames.append(full_rows.sum())
        changed_bins.append(full_cols.sum())
    assert max(changed_frames) <= 10 and max(changed_bins) <= 2
    assert sum(changed_frames) > 0 and sum(changed_bins) > 0
    assert not np.array_equal(out, augment.spec_augment(tf.constant(feats), cfg,
                                                        tf.constant([1, 2], tf.int64)).numpy())


def test_feature_noise_is_uniform_within_half_a_step():
    feats = tf.fill([200, 49, 10], 3.0)
    out = augment.feature_noise(feats, 0.6, SEED).numpy() - 3.0
    assert np.abs(out).max() <= 0.3 + 1e-6
    # Uniform on [-0.3, 0.3]: mean 0, standard deviation 0.6 / sqrt(12); 98,000 draws.
    assert abs(out.mean()) < 0.005 and abs(out.std() - 0.6 / np.sqrt(12)) < 0.005
    assert np.array_equal(augment.feature_noise(feats, 0.0, SEED).numpy(), feats.numpy())


def test_warp_factors_share_and_range():
    assert augment.warp_factors(1000, 0.0, 0.9, 1.1, SEED) is None
    factors = augment.warp_factors(1000, 0.5, 0.9, 1.1, SEED).numpy()
    warped = factors != 1.0
    assert 0.4 < warped.mean() < 0.6
    assert factors.min() >= 0.9 and factors.max() <= 1.1
    assert factors[warped].min() < 0.92 and factors[warped].max() > 1.08


def test_config_checks():
    with pytest.raises(ValueError, match="background_frequency"):
        augment.AugmentConfig(background_frequency=1.5)
    with pytest.raises(ValueError, match="gain_db must be >= 0"):
        augment.AugmentConfig(gain_db=-1)
    with pytest.raises(ValueError, match="vtlp_min"):
        augment.AugmentConfig(vtlp_min=1.2, vtlp_max=1.1)
    with pytest.raises(ValueError, match="feature_noise must be >= 0"):
        augment.AugmentConfig(feature_noise=-0.1)
    assert not augment.NO_AUGMENTATION.uses_noise
