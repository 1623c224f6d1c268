"""tools/ship_detector.py: the calibrated detector.json lands in the model folder with its held-out
figures in the scorecard; a copy of another model, a missing detector.json and results in which the
copy did not run are refused, and nothing is written then. Marked slow only to keep it out of the
Bazel run (tools/ is not a Bazel target)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow

TOOL = [sys.executable, str(REPO_ROOT / "tools" / "ship_detector.py")]
DETECTOR = {"fa_per_hour_budget": 2.0, "detector": {"threshold": 0.9, "average_window_ms": 600.0},
            "calibration_stream": {"fa_per_hour": 2.0, "miss_rate": 0.7}}


def _folders(tmp_path: pathlib.Path, same_model: bool = True, detector: bool = True):
    model, copy = tmp_path / "model", tmp_path / "copy"
    for folder in (model, copy):
        folder.mkdir(parents=True)
        (folder / "labels.txt").write_text("_silence_\n_unknown_\nyes\n")
        (folder / "stream_int8.tflite").write_bytes(b"model")
    (model / "scorecard.json").write_text(json.dumps({"bytes": {"int8": 5}}))
    if not same_model:
        (copy / "stream_int8.tflite").write_bytes(b"other")
    if detector:
        (copy / "detector.json").write_text(json.dumps(DETECTOR))
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"recording": {"seed": 3}, "models": [
        {"model": "shipped", "at_budget": {}},
        {"model": str(copy), "at_budget": {"2.0": {"miss_rate": 0.812345}},
         "calibrated": {"budget": 2.0, "miss_rate": 0.8, "fa_per_hour": 4.0, "detector": {}}}]}))
    return model, copy, results


def _run(model, copy, results):
    return subprocess.run([*TOOL, f"--model_dir={model}", f"--calibrated_dir={copy}",
                           f"--stream_results={results}"], capture_output=True, text=True,
                          check=False, timeout=120)


def test_the_detector_and_its_held_out_figures_are_shipped(tmp_path):
    model, copy, results = _folders(tmp_path)
    done = _run(model, copy, results)
    assert done.returncode == 0, done.stderr
    assert json.loads((model / "detector.json").read_text()) == DETECTOR
    card = json.loads((model / "scorecard.json").read_text())
    assert card["bytes"] == {"int8": 5}  # the rest of the card is kept
    shipped = card["calibrated_detector"]
    assert shipped["detector"] == DETECTOR["detector"]
    assert shipped["held_out_streams"] == [{
        "recording": {"seed": 3, "negative_dirs": []},
        "benchmark": "benchmarks/stream_side_by_side.py",
        "miss_rate_at_fa_per_hour": {"2.0": 0.8123},
        "calibrated": {"budget": 2.0, "miss_rate": 0.8, "fa_per_hour": 4.0},
        "same_run_miss_rate_at_fa_per_hour": {"shipped": {}}}]
    assert "80.0% missed at 4.0 FA/h" in done.stdout


def test_a_copy_of_another_model_no_detector_or_results_without_it_are_refused(tmp_path):
    for name, kwargs, message in (
            ("other", {"same_model": False}, "stream_int8.tflite differs"),
            ("none", {"detector": False}, "detector.json does not exist"),
            ("absent", {}, "did not run there")):
        model, copy, results = _folders(tmp_path / name, **kwargs)
        if name == "absent":
            data = json.loads(results.read_text())
            results.write_text(json.dumps({**data, "models": data["models"][:1]}))
        done = _run(model, copy, results)
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert not (model / "detector.json").exists()
        assert "calibrated_detector" not in json.loads((model / "scorecard.json").read_text())
