"""Distillation from a teacher that is not a kws run (--teacher_probs): the saved file and its checks,
the NumPy mix against the closed form, every training example's target in the pipeline, and a
student trained from such a file."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.models.config import ModelConfig
from kws.training import config as tc
from kws.training import distill
from kws.training import trainer

from conftest import QUIET_AUGMENTATION

FEATURES = frontend.FrontendConfig(feature_type="log_mel")
LABELS = ["alpha", "beta", "gamma"]


def _data_config(data_dir):
    return sc.DataConfig(data_dir=str(data_dir), label_mode="all_words", validation_percentage=20,
                         testing_percentage=20)


def _teacher_file(path, index, rng, sharp=4.0):
    """Random teacher probabilities, leaning to the true word, for every training clip."""
    clips = [e for e in index.splits["train"] if e.path]
    logits = rng.standard_normal((len(clips), len(index.labels)))
    logits[np.arange(len(clips)), index.label_ids("train")] += sharp
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    distill.save_teacher_probs(str(path), [os.path.realpath(e.path) for e in clips], probs,
                               list(index.labels))
    return {os.path.realpath(e.path): p for e, p in zip(clips, probs)}


def test_mix_targets_is_the_tempered_teacher(rng):
    probs = rng.dirichlet(np.ones(4), size=6)
    onehot = np.eye(4, dtype=np.float32)[[0, 3, 1, 2, 2, 0]]
    got = distill.mix_targets(onehot, probs, 0.4, 3.0)
    soft = probs ** (1 / 3.0)  # softmax(log p / T) is p ** (1 / T), renormalised
    soft /= soft.sum(1, keepdims=True)
    np.testing.assert_allclose(got, 0.6 * onehot + 0.4 * soft, atol=1e-6)


def test_every_training_example_gets_its_clips_target(tone_dataset, tmp_path, rng):
    index = sc.index_dataset(_data_config(tone_dataset))
    table = _teacher_file(tmp_path / "t.npz", index, rng)
    targets = distill.row_targets(distill.load_teacher_probs(str(tmp_path / "t.npz"), LABELS),
                                  0.5, 2.0)
    ds = pl.make_dataset(index, "train", FEATURES, pl.PipelineConfig(batch_size=16, seed=3),
                         augment.AugmentConfig(**QUIET_AUGMENTATION), epochs=(0, 1),
                         row_targets=targets)
    got = np.concatenate([y.numpy() for _, y in ds])
    onehot = np.eye(3, dtype=np.float32)
    expected = np.stack([distill.mix_targets(onehot[k], table[os.path.realpath(e.path)], 0.5, 2.0)
                         for e, k in zip(index.splits["train"], index.label_ids("train"))])
    assert got.shape == expected.shape
    # The epoch is shuffled: compare the rows as sets (each row is unique to its clip).
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(got), order(expected), atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)


def test_silence_rows_keep_their_label_and_unknown_clips_are_refused():
    targets = distill.row_targets({os.path.realpath("a.wav"): np.array([0.2, 0.8, 0], np.float32)},
                                  1.0, 1.0)
    names = ["yes", "no", sc.SILENCE_LABEL]
    # generated _silence_ (no file) and a recorded one the teacher never saw: one-hot
    out = targets(["a.wav", "", "quiet.wav"], np.array([0, 2, 2]), names)
    np.testing.assert_allclose(out, [[0.2, 0.8, 0.0], [0, 0, 1], [0, 0, 1]], atol=1e-6)
    with pytest.raises(UserError, match="no probabilities for 1 of the 2 training clips.*b.wav"):
        targets(["a.wav", "b.wav"], np.array([0, 1]), names)


@pytest.mark.parametrize("write, message", [
    (None, "no such file"),
    (lambda p: p.write_bytes(b"not a zip"), "not a teacher file"),
    (lambda p: np.savez(p, keys=np.array(["a"]), probs=np.ones((1, 3)) / 3),
     "not a teacher file"),  # no labels
    (lambda p: distill.save_teacher_probs(str(p), ["a"], np.ones((1, 2)) / 2, ["alpha", "beta"]),
     r"has labels \['alpha', 'beta'\]"),
    (lambda p: distill.save_teacher_probs(str(p), ["a", "b"], np.ones((1, 3)) / 3, LABELS),
     r"shape \(1, 3\) for 2 clips"),
    (lambda p: distill.save_teacher_probs(str(p), ["a"], np.array([[0.5, 0.6, 0.1]]), LABELS),
     "sum to 1"),
    (lambda p: distill.save_teacher_probs(str(p), ["a"], np.array([[np.nan, 0.5, 0.5]]), LABELS),
     "finite"),
])
def test_bad_teacher_files_are_refused(tmp_path, write, message):
    path = tmp_path / "t.npz"
    if write is not None:
        write(path)
    with pytest.raises(UserError, match=message):
        distill.load_teacher_probs(str(path), LABELS)


def test_two_teachers_are_refused():
    with pytest.raises(ValueError, match="two teachers"):
        tc.TrainConfig(data=sc.DataConfig(data_dir="x"), teacher_dir="a", teacher_probs="b.npz")


@pytest.mark.slow
def test_student_learns_from_a_teacher_file(tone_dataset, tmp_path, rng):
    config = tc.TrainConfig(data=_data_config(tone_dataset), features=FEATURES,
                            pipeline=pl.PipelineConfig(batch_size=16, seed=1),
                            model=ModelConfig(name="tiny_conv", num_classes=3), epochs=6,
                            learning_rate=5e-3, teacher_probs=str(tmp_path / "t.npz"),
                            distill_weight=0.7, distill_temperature=3.0)
    _teacher_file(tmp_path / "t.npz", sc.index_dataset(config.data), rng)
    result = trainer.train_and_evaluate(config, str(tmp_path / "student"), verbose=0)
    assert result["accuracy"] >= 0.8, result["accuracy"]  # chance is 1/3
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["teacher_probs"] == str(tmp_path / "t.npz")


def test_reversed_keywords_get_the_one_hot_unknown_not_their_teacher_target(tmp_path, rng):
    from kws import audio  # pylint: disable=import-outside-toplevel
    from kws.data import placement  # pylint: disable=import-outside-toplevel
    t = np.arange(16000) / 16000
    for word, f in (("yes", 500), ("no", 900), ("bed", 1300)):
        for n in range(4):
            audio.write_wav(str(tmp_path / word / f"{word}{n}_nohash_0.wav"),
                            0.3 * np.sin(2 * np.pi * (f + 40 * n) * t), 16000)
    index = sc.index_dataset(sc.DataConfig(
        data_dir=str(tmp_path), wanted_words=("yes", "no"), unknown_percentage=50.0,
        silence_percentage=0.0, validation_percentage=0.0, testing_percentage=0.0))
    table = _teacher_file(tmp_path / "t.npz", index, rng)
    targets = distill.row_targets(table, 0.5, 2.0)
    ds = pl.make_dataset(index, "train", FEATURES, pl.PipelineConfig(batch_size=12, seed=1),
                         augment.AugmentConfig(**QUIET_AUGMENTATION), epochs=(0, 1),
                         placing=placement.PlacementConfig(reversed_probability=1.0),
                         row_targets=targets)
    got = np.concatenate([y.numpy() for _, y in ds])
    unknown = index.labels.index(sc.UNKNOWN_LABEL)
    onehot_unknown = np.eye(len(index.labels), dtype=np.float32)[unknown]
    # the 8 keyword examples were reversed into _unknown_: one-hot; the 4 other words keep the mix
    reversed_rows = [row for row in got if np.allclose(row, onehot_unknown)]
    mixed = [row for row in got if not np.allclose(row, onehot_unknown)]
    assert len(got) == 12 and len(reversed_rows) == 8, got
    expected = [distill.mix_targets(onehot_unknown, table[os.path.realpath(e.path)], 0.5, 2.0)
                for e in index.splits["train"] if e.label == sc.UNKNOWN_LABEL]
    order = lambda a: np.array(a)[np.lexsort(np.array(a).T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(mixed), order(expected), atol=1e-6)
