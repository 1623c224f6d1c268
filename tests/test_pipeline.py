"""The tf.data pipeline: shapes, determinism, evaluation features equal to an independent read."""

from __future__ import annotations

import os

import numpy as np
import pytest

from kws import audio
from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import speech_commands as sc

FE = frontend.FrontendConfig()


@pytest.fixture(scope="module")
def sample_index(shared_data):
    return sc.index_dataset(sc.DataConfig(
        data_dir=str(shared_data / "speech_commands_v0.01_sample"),
        background_noise_dir=str(shared_data / "_background_noise_")))


def _take(ds, n):
    return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]


def test_train_batches_shape_and_determinism(sample_index):
    noise = pl.load_noise(sample_index, FE.clip_samples, 16000)
    make = lambda seed: pl.make_dataset(  # noqa: E731
        sample_index, "train", FE, pl.PipelineConfig(batch_size=16, seed=seed),
        augment.AugmentConfig(), noise)
    a, b, c = _take(make(1), 3), _take(make(1), 3), _take(make(2), 3)
    assert a[0][0].shape == (16, 49, 10) and a[0][0].dtype == np.float32
    assert a[0][1].dtype == np.int32
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a[0][0], c[0][0])
    two_epochs = [y for _, y in _take(pl.make_dataset(
        sample_index, "train", FE, pl.PipelineConfig(batch_size=16, seed=1),
        augment.AugmentConfig(), noise, epochs=(0, 2)), 100)]
    n = len(sample_index.splits["train"])
    assert sum(len(y) for y in two_epochs) == 2 * n
    labels = np.concatenate(two_epochs)
    assert sorted(labels[:n]) == sorted(labels[n:]) and not np.array_equal(labels[:n], labels[n:])


def test_resumed_epoch_equals_uninterrupted(sample_index):
    """Epoch 2 alone (a resumed run) gives the very batches of epoch 2 in a run of epochs 0..2."""
    noise = pl.load_noise(sample_index, FE.clip_samples, 16000)
    make = lambda epochs: pl.make_dataset(  # noqa: E731
        sample_index, "train", FE, pl.PipelineConfig(batch_size=32, seed=5),
        augment.AugmentConfig(), noise, epochs=epochs)
    whole = _take(make((0, 3)), 100)
    resumed = _take(make((2, 3)), 100)
    assert len(whole) == 3 * len(resumed)
    for (xa, ya), (xb, yb) in zip(whole[-len(resumed):], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_eval_features_equal_independent_read(sample_index):
    ds = pl.make_dataset(sample_index, "validation", FE, pl.PipelineConfig(batch_size=8))
    got = np.concatenate([x for x, _ in _take(ds, 100)])
    labels = np.concatenate([y for _, y in _take(ds, 100)])
    examples = sample_index.splits["validation"]
    assert list(labels) == sample_index.label_ids("validation")
    for i, e in enumerate(examples):
        if not e.path:
            continue
        clip = audio.read_clip(e.path, 16000)[:16000]
        clip = np.pad(clip, (0, 16000 - len(clip)))
        np.testing.assert_allclose(got[i], frontend.compute_features(clip, FE).numpy(), atol=1e-3)


def test_eval_silence_gets_fixed_noise(sample_index):
    noise = pl.load_noise(sample_index, FE.clip_samples, 16000)
    ds = pl.make_dataset(sample_index, "test", FE, pl.PipelineConfig(batch_size=64), noise=noise)
    silent = np.array([e.path == "" for e in sample_index.splits["test"]])
    assert silent.any()
    first = np.concatenate([x for x, _ in _take(ds, 10)])
    second = np.concatenate([x for x, _ in _take(ds, 10)])
    np.testing.assert_array_equal(first, second)
    zero_clip = frontend.compute_features(np.zeros(16000, np.float32), FE).numpy()
    for feats in first[silent]:
        assert np.abs(feats - zero_clip).max() > 1.0  # noise, not digital silence


def test_augmented_batches_differ_from_clean(sample_index):
    noise = pl.load_noise(sample_index, FE.clip_samples, 16000)
    cfg = pl.PipelineConfig(batch_size=200, seed=3)
    clean = pl.make_dataset(sample_index, "train", FE, cfg, augment.NO_AUGMENTATION, noise)
    noisy = pl.make_dataset(sample_index, "train", FE, cfg, augment.AugmentConfig(), noise)
    (xc, yc), = _take(clean, 1)
    (xn, yn), = _take(noisy, 1)
    np.testing.assert_array_equal(yc, yn)  # same shuffle for the same seed
    assert np.mean(np.abs(xc - xn) > 1e-3) > 0.5


def test_feature_noise_changes_nothing_else(sample_index):
    noise = pl.load_noise(sample_index, FE.clip_samples, 16000)
    cfg = pl.PipelineConfig(batch_size=32, seed=5)
    (xa, ya), = _take(pl.make_dataset(sample_index, "train", FE, cfg, augment.AugmentConfig(),
                                      noise), 1)
    (xb, yb), = _take(pl.make_dataset(sample_index, "train", FE, cfg,
                                      augment.AugmentConfig(feature_noise=0.6), noise), 1)
    np.testing.assert_array_equal(ya, yb)
    diff = xb - xa  # the same shift, gain, noise and masks; only the added uniform noise differs
    assert np.abs(diff).max() <= 0.3 + 1e-4 and np.abs(diff).mean() > 0.1


def test_vtlp_warps_some_clips_and_keeps_the_rest(sample_index):
    noise = pl.load_noise(sample_index, FE.clip_samples, 16000)
    cfg = pl.PipelineConfig(batch_size=64, seed=5)
    (xa, ya), = _take(pl.make_dataset(sample_index, "train", FE, cfg, augment.AugmentConfig(),
                                      noise), 1)
    (xb, yb), = _take(pl.make_dataset(sample_index, "train", FE, cfg, augment.AugmentConfig(
        vtlp_probability=0.5, time_masks=0, freq_masks=0), noise), 1)
    (xc, _), = _take(pl.make_dataset(sample_index, "train", FE, cfg, augment.AugmentConfig(
        time_masks=0, freq_masks=0), noise), 1)
    np.testing.assert_array_equal(ya, yb)
    warped = np.abs(xb - xc).max(axis=(1, 2)) > 1e-4  # same clips, shift, gain and noise otherwise
    assert 0.2 < warped.mean() < 0.8, warped.mean()
    assert not np.array_equal(xa, xb)


def test_noise_required_but_missing(tmp_path, sample_index):
    index = sc.DatasetIndex(labels=sample_index.labels, splits=sample_index.splits, noise_files=(),
                            skipped=())
    with pytest.raises(sc.DatasetError, match="--background_frequency=0"):
        pl.make_dataset(index, "train", FE, pl.PipelineConfig(), augment.AugmentConfig(), None)


def test_empty_split_and_unknown_split(sample_index):
    empty = sc.DatasetIndex(labels=sample_index.labels,
                            splits={**sample_index.splits, "test": ()}, noise_files=(), skipped=())
    with pytest.raises(sc.DatasetError, match="the test split is empty"):
        pl.make_dataset(empty, "test", FE, pl.PipelineConfig())
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        pl.make_dataset(sample_index, "dev", FE, pl.PipelineConfig())


def test_short_noise_file_refused(tmp_path, sample_index):
    short = tmp_path / "short.wav"
    audio.write_wav(str(short), np.zeros(800, np.float32), 16000)
    index = sc.DatasetIndex(labels=sample_index.labels, splits=sample_index.splits,
                            noise_files=(str(short),), skipped=())
    with pytest.raises(sc.DatasetError, match="shorter than one clip"):
        pl.load_noise(index, 16000, 16000)
    assert os.path.exists(short)
