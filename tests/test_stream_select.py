"""Checkpoint selection on a validation stream (kws.training.stream_select): which epoch is kept,
what survives a resume, and a real run that keeps one."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from kws import frontend
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.models.config import ModelConfig
from kws.training import checkpoint as ckpt
from kws.training import config as tc
from kws.training import stream_select
from kws.training import trainer

from conftest import make_tone_dataset


def _model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def _selector(folder, results, from_epoch=1):
    calls = []

    def evaluate(model):
        calls.append(model)
        return results[len(calls) - 1]
    selector = stream_select.StreamSelector(
        str(folder), tc.StreamSelectConfig(fa_per_hour=2.0, from_epoch=from_epoch), evaluate)
    selector.set_model(_model())
    return selector, calls


def test_the_epoch_with_fewest_misses_is_kept_ties_to_fewer_false_accepts(tmp_path):
    results = [{"miss_rate": 0.6, "fa_per_hour": 1.0}, {"miss_rate": 0.4, "fa_per_hour": 2.0},
               {"miss_rate": 1.0, "fa_per_hour": None}, {"miss_rate": 0.4, "fa_per_hour": 1.0},
               {"miss_rate": 0.4, "fa_per_hour": 1.0}]
    selector, calls = _selector(tmp_path, results, from_epoch=2)
    for epoch in range(6):  # epoch 1 (0-based 0) is before from_epoch: not evaluated
        selector.on_epoch_end(epoch)
    assert len(calls) == 5
    summary = json.loads((tmp_path / stream_select.SUMMARY_FILE).read_text())
    # 0.4 at 2 FA/h (epoch 3) loses to 0.4 at 1 FA/h (epoch 5); epoch 6 ties and is not newer-better
    assert (summary["epoch"], summary["miss_rate"], summary["fa_per_hour"]) == (5, 0.4, 1.0)
    assert summary["fa_per_hour_budget"] == 2.0
    assert keras.models.load_model(tmp_path / stream_select.BEST_FILE).output_shape == (None, 2)


def test_a_resumed_run_keeps_the_earlier_best_and_redoes_a_lost_epoch(tmp_path):
    first, _ = _selector(tmp_path, [{"miss_rate": 0.3, "fa_per_hour": 1.0},
                                    {"miss_rate": 0.5, "fa_per_hour": 1.0}])
    first.on_epoch_end(0)
    first.on_epoch_end(1)
    # Killed after epoch 2's evaluation; the resumed run redoes epoch 2 and goes on.
    again, _ = _selector(tmp_path, [{"miss_rate": 0.5, "fa_per_hour": 1.0},
                                    {"miss_rate": 0.2, "fa_per_hour": 0.0}])
    assert again.best["epoch"] == 1
    again.on_epoch_end(1)
    assert json.loads((tmp_path / stream_select.SUMMARY_FILE).read_text())["epoch"] == 1
    again.on_epoch_end(2)
    assert json.loads((tmp_path / stream_select.SUMMARY_FILE).read_text())["epoch"] == 3


@pytest.mark.slow  # a real training run: left out of the fast Bazel run
def test_a_run_with_stream_selection_keeps_a_checkpoint_that_measures_as_it_says(tmp_path):
    data_dir = make_tone_dataset(tmp_path / "tones", words=("alpha", "beta", "gamma", "delta"),
                                 speakers=40)
    negatives = make_tone_dataset(tmp_path / "other", words=("epsilon",), speakers=40, noise=False)
    data = sc.DataConfig(data_dir=str(data_dir), wanted_words=("alpha", "beta"),
                         unknown_percentage=50.0, validation_percentage=25, testing_percentage=10,
                         negative_dirs=(str(negatives),), negative_percentage=20.0)
    select = tc.StreamSelectConfig(fa_per_hour=30.0, minutes=2.0, from_epoch=2)
    config = tc.TrainConfig(
        data=data, features=frontend.FrontendConfig(feature_type="log_mel"),
        pipeline=pl.PipelineConfig(batch_size=16, seed=1), learning_rate=5e-3,
        model=ModelConfig(name="tiny_conv", num_classes=4), epochs=3, stream_select=select)
    workdir = tmp_path / "run"
    trainer.train_and_evaluate(config, str(workdir), verbose=0)
    summary = json.loads((workdir / "checkpoints" / stream_select.SUMMARY_FILE).read_text())
    assert summary["epoch"] in (2, 3)
    # Measured again, independently of the run, the kept checkpoint gives what the summary says.
    index = sc.index_dataset(data)
    recording = stream_select.validation_recording(data, index.labels, select)
    assert recording.events and {e.label for e in recording.events} >= {"alpha", "beta"}
    pools = stream_select.validation_pools(data, index.labels)
    assert any("/other/" in p for p in pools.unknown)  # the negatives' validation speakers too
    assert not any("/other/" in p for p in index.unknown_pool["validation"])  # their own share
    kept = ckpt.load_model(ckpt.resolve(str(workdir), "stream_best"), compile=False)
    again = stream_select.measure(kept, index.labels, config.features, recording, select)
    assert again["miss_rate"] == pytest.approx(summary["miss_rate"])
    assert summary["miss_rate"] < 1.0  # the tones are easy: a detector within the budget exists


def test_stream_selection_needs_every_keyword_in_validation(tmp_path):
    data_dir = make_tone_dataset(tmp_path / "tones", speakers=4)
    data = sc.DataConfig(data_dir=str(data_dir), wanted_words=("alpha", "beta"),
                         validation_percentage=0.0, testing_percentage=0.0)
    with pytest.raises(UserError, match="split 'validation' has no clips of the model's keyword"):
        stream_select.validation_recording(data, sc.index_dataset(data).labels,
                                           tc.StreamSelectConfig(fa_per_hour=1.0))
    with pytest.raises(ValueError, match="fa_per_hour must be >= 0"):
        tc.StreamSelectConfig(fa_per_hour=-1.0)
