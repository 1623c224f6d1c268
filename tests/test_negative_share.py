"""Negatives with their own share of _unknown_ (DataConfig.negative_percentage), fixed and redrawn."""

from __future__ import annotations

import numpy as np
import pytest

from kws import audio
from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import speech_commands as sc

from conftest import QUIET_AUGMENTATION, unknown_tones_per_epoch

TREE_HZ = [500.0 + 150.0 * i for i in range(10)]
NEGATIVE_HZ = [2500.0 + 150.0 * i for i in range(10)]
QUIET = QUIET_AUGMENTATION
SPECTROGRAM = frontend.FrontendConfig(feature_type="spectrogram")


def _tone(path, hz):
    t = np.arange(16000) / 16000.0
    path.parent.mkdir(parents=True, exist_ok=True)
    audio.write_wav(str(path), (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), 16000)


@pytest.fixture(name="tones")
def fixture_tones(tmp_path):
    """8 keyword clips, 10 other-word clips in the tree and 10 negative clips, each a tone of its
    own frequency: a clip is known by the peak of its spectrum."""
    for n in range(4):
        _tone(tmp_path / "data" / "yes" / f"y{n}_nohash_0.wav", 4500.0 + 100 * n)
        _tone(tmp_path / "data" / "no" / f"n{n}_nohash_0.wav", 5500.0 + 100 * n)
    for n, hz in enumerate(TREE_HZ):
        _tone(tmp_path / "data" / "bed" / f"b{n}_nohash_0.wav", hz)
    for n, hz in enumerate(NEGATIVE_HZ):
        _tone(tmp_path / "neg" / "ar_one" / f"a{n}_nohash_0.wav", hz)
    return tmp_path


def _config(root, **kw):
    return sc.DataConfig(data_dir=str(root / "data"), wanted_words=("yes", "no"),
                         negative_dirs=(str(root / "neg"),), unknown_percentage=25.0,
                         silence_percentage=0.0, validation_percentage=0.0,
                         testing_percentage=0.0, **kw)


def test_negatives_join_the_pool_unless_they_have_a_share(tones):
    joined = sc.index_dataset(_config(tones))
    assert len(joined.unknown_pool["train"]) == 20 and not joined.negative_pool
    own = sc.index_dataset(_config(tones, negative_percentage=50.0))
    assert sorted(own.unknown_pool["train"]) == sorted(
        str(p) for p in (tones / "data" / "bed").iterdir())
    assert sorted(own.negative_pool["train"]) == sorted(
        str(p) for p in (tones / "neg" / "ar_one").iterdir())
    unknown = [e.path for e in own.splits["train"] if e.label == sc.UNKNOWN_LABEL]
    from_tree = [p for p in unknown if p in own.unknown_pool["train"]]
    from_negatives = [p for p in unknown if p in own.negative_pool["train"]]
    # ceil(8 keywords x 25 %) from the tree, ceil(8 x 50 %) from the negatives, no repeats.
    assert (len(from_tree), len(from_negatives), len(set(unknown))) == (2, 4, 6)
    assert "(negatives)" in sc.format_table(own)


def test_a_share_larger_than_the_negatives_takes_them_all(tones):
    index = sc.index_dataset(_config(tones, negative_percentage=400.0))
    unknown = [e.path for e in index.splits["train"] if e.label == sc.UNKNOWN_LABEL]
    assert len(unknown) == 2 + 10


def test_negative_percentage_needs_negative_dirs_and_is_not_negative(tmp_path):
    with pytest.raises(ValueError, match="needs negative_dirs"):
        sc.DataConfig(data_dir=str(tmp_path), negative_percentage=10.0)
    with pytest.raises(ValueError, match="negative_percentage must be >= 0"):
        sc.DataConfig(data_dir=str(tmp_path), negative_dirs=(str(tmp_path),),
                      negative_percentage=-1.0)


def test_redrawing_keeps_each_pools_share(tones):
    index = sc.index_dataset(_config(tones, negative_percentage=50.0))
    seen_negatives = set()
    for epoch in unknown_tones_per_epoch(index, resample=True)[0]:
        near = [min(TREE_HZ + NEGATIVE_HZ, key=lambda c, h=h: abs(c - h)) for h in epoch]
        assert all(abs(a - b) < 40 for a, b in zip(epoch, near))  # a pool clip, within a bin
        tree = [h for h in near if h in TREE_HZ]
        negatives = [h for h in near if h in NEGATIVE_HZ]
        assert (len(tree), len(negatives)) == (2, 4), near
        assert len(set(negatives)) == 4  # drawn without replacement
        seen_negatives.update(negatives)
    assert len(seen_negatives) >= 8, seen_negatives  # 6 epochs x 4 of 10: redrawn


def _chirp(path, low, high):
    t = np.arange(16000) / 16000.0
    phase = 2 * np.pi * (low * t + (high - low) * t ** 2 / 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio.write_wav(str(path), (0.3 * np.sin(phase)).astype(np.float32), 16000)


def test_reversed_keywords_train_as_unknown(tmp_path):
    """Keywords are rising chirps: with reversed_probability=1 every keyword example of a training
    epoch is a falling chirp labelled _unknown_; other words are left as they are."""
    from kws.data import placement
    for n in range(4):
        _chirp(tmp_path / "yes" / f"y{n}_nohash_0.wav", 1000 + 50 * n, 6000)
        _chirp(tmp_path / "no" / f"n{n}_nohash_0.wav", 1500 + 50 * n, 7000)
        _chirp(tmp_path / "bed" / f"b{n}_nohash_0.wav", 1200 + 50 * n, 5000)
    index = sc.index_dataset(sc.DataConfig(
        data_dir=str(tmp_path), wanted_words=("yes", "no"), unknown_percentage=50.0,
        silence_percentage=0.0, validation_percentage=0.0, testing_percentage=0.0))
    ds = pl.make_dataset(index, "train", SPECTROGRAM, pl.PipelineConfig(batch_size=12, seed=1),
                         augment.AugmentConfig(**QUIET), None, epochs=(0, 1),
                         placing=placement.PlacementConfig(reversed_probability=1.0))
    x, y = (np.concatenate(t) for t in zip(*[(a.numpy(), b.numpy()) for a, b in ds]))
    unknown = index.labels.index(sc.UNKNOWN_LABEL)
    assert (y == unknown).all() and len(y) == 12  # 8 keywords, all reversed, and 4 other words
    peak = np.argmax(x, axis=-1)  # per frame, the loudest bin
    slope = np.polyfit(np.arange(peak.shape[1]), peak.T, 1)[0]
    assert (slope < 0).sum() == 8 and (slope > 0).sum() == 4, slope  # 8 falling, 4 rising


@pytest.mark.parametrize("flag,message", [
    ("--negative_percentage=5", "needs negative_dirs"),
    ("--reversed_probability=2", "reversed_probability must be in [0, 1]")])
def test_kws_train_refuses_bad_shares_in_one_line(tmp_path, flag, message):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", "from kws import cli; cli.train()", flag,
                           f"--data_dir={tmp_path}", f"--workdir={tmp_path / 'run'}"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "error: " in done.stderr and message in done.stderr
    assert not (tmp_path / "run").exists()  # refused before anything was written
