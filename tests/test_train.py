"""The trainer: a real run on a small learnable dataset, workdir contents, resume after SIGKILL,
refusals, corrupt checkpoints, and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kws import frontend
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.models.config import ModelConfig
from kws.training import checkpoint as ckpt
from kws.training import config as tc
from kws.training import trainer

from conftest import REPO_ROOT, make_tone_dataset

pytestmark = pytest.mark.slow  # real training runs: left out of the fast Bazel run


def _config(data_dir, epochs=3, **kwargs):
    return tc.TrainConfig(
        data=sc.DataConfig(data_dir=str(data_dir), label_mode="all_words",
                           validation_percentage=20, testing_percentage=20),
        features=frontend.FrontendConfig(feature_type="log_mel"),
        pipeline=pl.PipelineConfig(batch_size=16, seed=1),
        **{"model": ModelConfig(name="tiny_conv", num_classes=3), **kwargs}, epochs=epochs)


def test_training_learns_and_fills_workdir(tone_dataset, tmp_path):
    workdir = tmp_path / "run"
    result = trainer.train_and_evaluate(_config(tone_dataset, epochs=6, learning_rate=5e-3),
                                        str(workdir), verbose=0)
    assert result["accuracy"] >= 0.8, result["accuracy"]  # chance is 1/3
    for name in ("config.json", "labels.txt", "model_summary.txt", "dataset.txt", "eval_test.json",
                 "eval_test.txt", "confusion_test.png"):
        assert (workdir / name).stat().st_size > 0, name
    assert (workdir / "labels.txt").read_text().split() == ["alpha", "beta", "gamma"]
    assert json.loads((workdir / "config.json").read_text())["model"]["name"] == "tiny_conv"
    state = ckpt.read_state(str(workdir / "checkpoints"))
    n_train = len(sc.index_dataset(_config(tone_dataset).data).splits["train"])
    assert state.done and state.epoch == 6 and state.step == 6 * -(-n_train // 16)
    assert os.listdir(workdir / "tensorboard")
    report = json.loads((workdir / "eval_test.json").read_text())
    confusion = np.array(report["confusion"])
    assert confusion.sum() == report["examples"]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(report["accuracy"])
    assert report["misclassified_count"] == confusion.sum() - np.trace(confusion)
    assert len(report["misclassified"]) == report["misclassified_count"]  # fewer than the cap
    with open(workdir / "confusion_test.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_steps_stop_training_midway(tone_dataset, tmp_path):
    trainer.train_and_evaluate(_config(tone_dataset, epochs=1, steps=5), str(tmp_path / "r"),
                               verbose=0)
    state = ckpt.read_state(str(tmp_path / "r" / "checkpoints"))
    assert state.step == 5 and state.done


def test_refuses_other_config_then_overwrites(tone_dataset, tmp_path):
    workdir = str(tmp_path / "run")
    trainer.train_and_evaluate(_config(tone_dataset, epochs=1), workdir, verbose=0)
    with pytest.raises(trainer.WorkdirError, match=r"different config \(epochs: 1 -> 2\)"):
        trainer.train_and_evaluate(_config(tone_dataset, epochs=2), workdir, verbose=0)
    trainer.train_and_evaluate(_config(tone_dataset, epochs=2), workdir, overwrite=True, verbose=0)
    assert ckpt.read_state(os.path.join(workdir, "checkpoints")).epoch == 2


def test_corrupt_checkpoint_is_a_clear_error(tone_dataset, tmp_path):
    workdir = tmp_path / "run"
    config = _config(tone_dataset, epochs=2)
    trainer.train_and_evaluate(config, str(workdir), verbose=0)
    folder = workdir / "checkpoints"
    state = ckpt.read_state(str(folder))
    ckpt.write_state(str(folder), ckpt.State(epoch=1, step=3, last=state.last))
    (folder / state.last).write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ckpt.CheckpointError, match="corrupt or unreadable.*--overwrite"):
        trainer.train_and_evaluate(config, str(workdir), verbose=0)
    (folder / "state.json").write_text("{not json")
    with pytest.raises(ckpt.CheckpointError, match="state.json is corrupt"):
        trainer.train_and_evaluate(config, str(workdir), verbose=0)


def test_num_classes_must_match_data(tone_dataset, tmp_path):
    config = _config(tone_dataset, model=ModelConfig(name="tiny_conv", num_classes=5))
    with pytest.raises(Exception, match="num_classes 5 != 3 labels"):
        trainer.train_and_evaluate(config, str(tmp_path / "r"), verbose=0)


def _train_cmd(data_dir, workdir, epochs):
    return [sys.executable, "-m", "kws.train", f"--data_dir={data_dir}", f"--workdir={workdir}",
            "--label_mode=all_words", "--validation_percentage=20", "--testing_percentage=20",
            f"--epochs={epochs}", "--batch_size=8", "--model=tiny_conv", "--feature_type=log_mel",
            "--seed=3"]


def test_resume_after_sigkill_loses_nothing(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", speakers=40)
    workdir = tmp_path / "run"
    epochs = 8
    proc = subprocess.Popen(_train_cmd(data, workdir, epochs), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    folder = workdir / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline:
        state = ckpt.read_state(str(folder)) if (folder / "state.json").exists() else None
        if state and state.epoch >= 2:
            break
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        time.sleep(0.2)
    time.sleep(0.7)  # kill it somewhere inside a later epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = ckpt.read_state(str(folder))
    assert 2 <= killed_at.epoch < epochs, killed_at
    steps_per_epoch = killed_at.step // killed_at.epoch

    out = subprocess.run(_train_cmd(data, workdir, epochs), cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming from epoch-{killed_at.epoch:04d}.keras" in out.stdout
    final = ckpt.read_state(str(folder))
    assert final.done and final.epoch == epochs
    assert final.step == epochs * steps_per_epoch  # no step lost, none repeated
    lines = [l for l in out.stdout.splitlines() if l.startswith("epoch ")]
    assert lines[0].startswith(f"epoch {killed_at.epoch + 1}/{epochs}")
    assert [f for f in os.listdir(folder) if f.startswith("epoch-")] == [f"epoch-{epochs:04d}.keras"]


def test_command_line_errors(tmp_path):
    out = subprocess.run([sys.executable, "-m", "kws.train", f"--data_dir={tmp_path}/missing",
                          f"--workdir={tmp_path}/w"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 1
    assert "kws train: error: data dir" in out.stderr and "does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_init_from_starts_at_another_runs_weights(tone_dataset, tmp_path):
    first = tmp_path / "first"
    trainer.train_and_evaluate(_config(tone_dataset, epochs=1), str(first), verbose=0)
    source = ckpt.load_model(ckpt.resolve(str(first), "last"), compile=False)
    second = tmp_path / "second"
    # One step at a negligible learning rate: the weights stay where --init_from put them.
    trainer.train_and_evaluate(_config(tone_dataset, epochs=1, steps=1, learning_rate=1e-12,
                                       weight_decay=0.0, init_from=str(first)),
                               str(second), verbose=0)
    after = ckpt.load_model(ckpt.resolve(str(second), "last"), compile=False)
    for a, b in zip(source.get_weights(), after.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # The model that trains (in memory, before any save and reload) computes what the source
    # computes: its feature normalisation is the source's, not a fresh one.
    from kws.models import build_model
    config = _config(tone_dataset)
    model = build_model(config.model, config.features.feature_shape)
    trainer._init_weights(model, str(first))
    x = np.random.default_rng(0).normal(2.0, 3.0, (4, *source.input_shape[1:])).astype(np.float32)
    np.testing.assert_allclose(model(x, training=False), source(x, training=False), atol=1e-5)
    fresh = tmp_path / "fresh"
    trainer.train_and_evaluate(_config(tone_dataset, epochs=1, steps=1, learning_rate=1e-12),
                               str(fresh), verbose=0)
    other = ckpt.load_model(ckpt.resolve(str(fresh), "last"), compile=False)
    assert any(not np.allclose(a, b) for a, b in zip(source.get_weights(), other.get_weights()))
    wider = _config(tone_dataset, epochs=1, steps=1, init_from=str(first),
                    model=ModelConfig(name="cnn", num_classes=3))
    with pytest.raises(trainer.UserError, match="not this one"):
        trainer.train_and_evaluate(wider, str(tmp_path / "wider"), verbose=0)
