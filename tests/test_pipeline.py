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
from kws.training import config as tc

from conftest import QUIET_AUGMENTATION, unknown_tones_per_epoch

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


POOL_HZ = [500.0 + 150.0 * i for i in range(20)]
QUIET = QUIET_AUGMENTATION
SPECTROGRAM = frontend.FrontendConfig(feature_type="spectrogram")


@pytest.fixture(name="tone_index")
def fixture_tone_index(tmp_path):
    """8 keyword clips and 20 other-word clips, each a tone of its own frequency: a clip is known
    by the peak of its spectrum."""
    t = np.arange(16000) / 16000.0
    tones = [("yes", 4000.0 + 100 * i) for i in range(4)] + [("no", 5000.0 + 100 * i)
                                                            for i in range(4)]
    tones += [("bed" if i % 2 else "cat", hz) for i, hz in enumerate(POOL_HZ)]
    for n, (word, hz) in enumerate(tones):
        path = tmp_path / word / f"{n:08x}_nohash_0.wav"
        path.parent.mkdir(exist_ok=True)
        audio.write_wav(str(path), (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000)
    return sc.index_dataset(sc.DataConfig(
        data_dir=str(tmp_path), wanted_words=("yes", "no"), unknown_percentage=25.0,
        silence_percentage=0.0, validation_percentage=0.0, testing_percentage=0.0))


def _nearest(hz, choices):
    return min(choices, key=lambda c: abs(c - hz))


def test_unknown_pool_holds_every_other_word_clip(tone_index, tmp_path):
    on_disk = sorted(str(p) for w in ("bed", "cat") for p in (tmp_path / w).iterdir())
    assert sorted(tone_index.unknown_pool["train"]) == on_disk
    sampled = [e.path for e in tone_index.splits["train"] if e.label == sc.UNKNOWN_LABEL]
    assert len(sampled) == 2 and set(sampled) <= set(on_disk)  # ceil(8 keywords x 25 %)


def test_unknown_resample_draws_new_clips_each_epoch(tone_index):
    fixed, _ = unknown_tones_per_epoch(tone_index, resample=False)
    drawn, _ = unknown_tones_per_epoch(tone_index, resample=True)
    fixed_hz = {_nearest(hz, POOL_HZ) for epoch in fixed for hz in epoch}
    assert len(fixed_hz) == 2  # the one sample, every epoch
    seen = set()
    for epoch in drawn:
        assert len(epoch) == 2  # the class share stays that of the fixed sample
        hz = [_nearest(h, POOL_HZ) for h in epoch]
        assert all(abs(a - b) < 40 for a, b in zip(epoch, hz))  # a pool clip, within a bin
        assert hz[0] != hz[1]
        seen.update(hz)
    assert len(seen) >= 6, seen  # 6 epochs x 2 of 20: new clips, not the same two


def test_unknown_resample_resumes_exactly(tone_index):
    _, whole = unknown_tones_per_epoch(tone_index, resample=True, epochs=(0, 4))
    _, resumed = unknown_tones_per_epoch(tone_index, resample=True, epochs=(3, 4))
    np.testing.assert_array_equal(whole[-len(resumed):], resumed)


def test_unknown_resample_needs_an_unknown_label(tmp_path, tone_index):
    del tone_index  # it wrote the clips into tmp_path
    words = sc.index_dataset(sc.DataConfig(data_dir=str(tmp_path), label_mode="all_words",
                                           validation_percentage=0.0, testing_percentage=0.0))
    assert words.unknown_pool == {}
    with pytest.raises(sc.DatasetError, match="use label_mode keywords"):
        pl.make_dataset(words, "train", SPECTROGRAM, pl.PipelineConfig(unknown_resample=True),
                        augment.AugmentConfig(**QUIET), None)
    with pytest.raises(ValueError, match="unknown_resample .* needs label_mode keywords"):
        tc.TrainConfig(data=sc.DataConfig(data_dir=str(tmp_path), label_mode="all_words"),
                       pipeline=pl.PipelineConfig(unknown_resample=True))
