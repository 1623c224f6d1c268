"""kws.export.embedding_head (`kws-export --embedding_head_dir`): a head trained on the speech
embedding -> a folder kws-infer runs, the exported head equal to the Keras one within int8 weight
rounding, and its bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from kws.device import embedding as emb
from kws.device import loader
from kws.errors import UserError
from kws.export import embedding_head

LABELS = ["_unknown_", "kiwi", "mango"]
STEPS = 4


def _head_dir(tmp_path, labels=LABELS, detector=True, name="head", seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((STEPS, emb.EMBEDDING_DIM))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden))
    folder = tmp_path / name
    folder.mkdir()
    model.save(folder / "head.keras")
    (folder / "head.json").write_text(json.dumps({"labels": labels, "embeddings": STEPS}))
    if detector:
        (folder / "detector.json").write_text(json.dumps(
            {"detector": {"threshold": 0.9, "average_window_ms": 400.0, "suppression_ms": 1000.0,
                          "minimum_count": 3, "ignore_labels": ["_unknown_"]},
             "fa_per_hour_budget": 1.0}))
    return folder, model


def test_export_writes_a_folder_the_device_runs_and_the_head_matches_keras(tmp_path):
    folder, model = _head_dir(tmp_path)
    out = tmp_path / "export"
    report = embedding_head.export(str(folder), str(out))
    for name in ("head.tflite", "labels.txt", "embedding.json", "detector.json",
                 emb.MEL_FILE, emb.EMBEDDING_MODEL_FILE):
        assert (out / name).is_file(), name
    for name, digest in emb.FRONTEND_SHA256.items():
        assert emb.sha256_of(str(out / name)) == digest
    device = loader.load_model(str(out), "int8")
    assert device.labels == tuple(LABELS) and device.steps == STEPS
    # the exported head against Keras on embeddings of the real front end's range
    rng = np.random.default_rng(0)
    embeddings = rng.normal(0.0, 10.0, (12, emb.EMBEDDING_DIM)).astype(np.float32)
    views = np.stack([embeddings[i:i + STEPS] for i in range(len(embeddings) - STEPS + 1)])
    expected = np.asarray(model(views))
    np.testing.assert_allclose(device.posteriors_of(embeddings), expected, atol=0.05)
    assert report["parity"]["max_abs_posterior_difference"] < 0.05
    assert report["head_parameters"] == model.count_params()
    # without the front end copied, the folder still runs from the install cache
    embedding_head.export(str(folder), str(out), copy_frontend=False)
    assert not (out / emb.MEL_FILE).exists()
    assert loader.load_model(str(out), "int8").labels == tuple(LABELS)


def test_head_json_that_does_not_match_the_model_is_refused(tmp_path):
    folder, _ = _head_dir(tmp_path, labels=["_unknown_", "kiwi"])
    with pytest.raises(UserError, match="2 labels"):
        embedding_head.export(str(folder), str(tmp_path / "export"))


def test_a_folder_without_a_head_is_refused(tmp_path):
    with pytest.raises(UserError, match="head.json is missing"):
        embedding_head.export(str(tmp_path), str(tmp_path / "export"))


def test_kws_export_wants_exactly_one_of_workdir_and_embedding_head_dir(tmp_path):
    for extra in ([], [f"--workdir={tmp_path}", f"--embedding_head_dir={tmp_path}"]):
        done = subprocess.run([sys.executable, "-m", "kws.export.cli",
                               f"--output_dir={tmp_path / 'out'}", *extra],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 1 and "give one of --workdir" in done.stderr, done.stderr


def test_an_ensemble_folder_exports_the_mean_of_its_heads(tmp_path):
    (a, model_a), (b, model_b) = (_head_dir(tmp_path, name=n, seed=i, detector=False)
                                  for i, n in enumerate(("a", "b")))
    ensemble = tmp_path / "ensemble"
    ensemble.mkdir()
    (ensemble / "ensemble.json").write_text(json.dumps({"heads": [str(a), str(b)],
                                                        "labels": LABELS}))
    (ensemble / "detector.json").write_text(json.dumps(
        {"detector": {"threshold": 0.7, "average_window_ms": 600.0, "suppression_ms": 1000.0,
                      "minimum_count": 3, "ignore_labels": ["_unknown_"]},
         "fa_per_hour_budget": 1.0}))
    report = embedding_head.export(str(ensemble), str(tmp_path / "export"))
    assert report["heads"] == [str(a), str(b)]
    device = loader.load_model(str(tmp_path / "export"), "int8")
    rng = np.random.default_rng(1)
    embeddings = rng.normal(0.0, 10.0, (10, emb.EMBEDDING_DIM)).astype(np.float32)
    views = np.stack([embeddings[i:i + STEPS] for i in range(len(embeddings) - STEPS + 1)])
    mean = (np.asarray(model_a(views)) + np.asarray(model_b(views))) / 2
    np.testing.assert_allclose(device.posteriors_of(embeddings), mean, atol=0.05)
    assert json.loads((tmp_path / "export" / "detector.json").read_text())["detector"][
        "threshold"] == 0.7
    # heads that disagree on their labels are refused
    c, _ = _head_dir(tmp_path, labels=["_unknown_", "kiwi", "papaya"], name="c", detector=False)
    (ensemble / "ensemble.json").write_text(json.dumps({"heads": [str(a), str(c)]}))
    with pytest.raises(UserError, match="must agree"):
        embedding_head.export(str(ensemble), str(tmp_path / "export2"))
