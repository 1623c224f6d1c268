"""Knowledge distillation: the mixed targets (against NumPy), a real teacher -> student run, and the
teachers that are refused (missing, unfinished, other labels, other front end)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from kws import frontend
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.models.config import ModelConfig
from kws.training import checkpoint as ckpt
from kws.training import config as tc
from kws.training import distill
from kws.training import trainer

FEATURES = frontend.FrontendConfig(feature_type="log_mel")


def _config(data_dir, **kwargs):
    return tc.TrainConfig(
        data=sc.DataConfig(data_dir=str(data_dir), label_mode="all_words",
                           validation_percentage=20, testing_percentage=20),
        features=FEATURES, pipeline=pl.PipelineConfig(batch_size=16, seed=1),
        **{"model": ModelConfig(name="tiny_conv", num_classes=3), **kwargs})


def test_soft_targets_match_numpy(rng):
    weights, bias = rng.standard_normal((4, 3)), rng.standard_normal(3)
    inputs = keras.Input((4,))
    teacher = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    teacher.layers[-1].set_weights([weights, bias])
    x = rng.standard_normal((5, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 2, 1, 1, 0]]
    ds = tf.data.Dataset.from_tensors((x, y)).map(distill.soft_targets(teacher, 0.3, 2.5))
    got_x, got_y = next(iter(ds))
    # Independently: logits / T through a softmax equals p ** (1 / T), renormalised.
    logits = x.astype(np.float64) @ weights + bias
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    soft = p ** (1 / 2.5)
    soft /= soft.sum(1, keepdims=True)
    np.testing.assert_allclose(got_y.numpy(), 0.7 * y + 0.3 * soft, atol=1e-5)
    np.testing.assert_array_equal(got_x.numpy(), x)
    np.testing.assert_allclose(got_y.numpy().sum(1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_student_learns_from_a_finished_teacher(tone_dataset, tmp_path):
    teacher_dir = tmp_path / "teacher"
    trainer.train_and_evaluate(_config(tone_dataset, epochs=6, learning_rate=5e-3),
                               str(teacher_dir), verbose=0)
    student_dir = tmp_path / "student"
    result = trainer.train_and_evaluate(
        _config(tone_dataset, epochs=6, learning_rate=5e-3, teacher_dir=str(teacher_dir),
                teacher_checkpoint="last", distill_weight=0.7, distill_temperature=3.0),
        str(student_dir), verbose=0)
    assert result["accuracy"] >= 0.8, result["accuracy"]  # chance is 1/3
    saved = json.loads((student_dir / "config.json").read_text())
    assert (saved["teacher_dir"], saved["distill_weight"]) == (str(teacher_dir), 0.7)


def _fake_teacher(folder, labels=("alpha", "beta", "gamma"), features=FEATURES, done=True):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"features": tc.TrainConfig(
        data=sc.DataConfig(data_dir="x"), features=features).to_dict()["features"]}))
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    (folder / "checkpoints").mkdir()
    ckpt.write_state(str(folder / "checkpoints"), ckpt.State(epoch=1, step=1, done=done))
    return str(folder)


STUDENT_FEATURES = tc.TrainConfig(data=sc.DataConfig(data_dir="x"),
                                  features=FEATURES).to_dict()["features"]
LABELS = ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("make, message", [
    (lambda d: str(d / "nowhere"), "no config.json"),
    (lambda d: _fake_teacher(d / "t", labels=("alpha", "beta")), r"has labels \['alpha', 'beta'\]"),
    (lambda d: _fake_teacher(d / "t", features=frontend.FrontendConfig(feature_type="mfcc")),
     "other features.*feature_type: 'mfcc' -> 'log_mel'"),
    (lambda d: _fake_teacher(d / "t", done=False), "has not finished"),
    (lambda d: _fake_teacher(d / "t"), "best.keras does not exist"),  # done, but no file
])
def test_unusable_teachers_are_refused(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        distill.load_teacher(make(tmp_path), LABELS, STUDENT_FEATURES)


def test_bad_distillation_settings_are_refused():
    with pytest.raises(ValueError, match="distill_weight"):
        tc.TrainConfig(data=sc.DataConfig(data_dir="x"), distill_weight=0.0)
    with pytest.raises(ValueError, match="distill_temperature"):
        tc.TrainConfig(data=sc.DataConfig(data_dir="x"), distill_temperature=0.0)
