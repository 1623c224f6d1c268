"""benchmarks/pipeline_throughput.py, run as a user runs it on a tiny generated dataset.

Checks the shape of its report (every row, min <= median <= max, ratios against both baselines
recomputed from the round's rates) and that the split flags reach the index: with 0/0 % every clip is in
train. Speeds themselves are not checked (a shared machine). Marked slow only to keep it out of the
Bazel run: benchmarks/ scripts are not Bazel targets.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from conftest import make_tone_dataset

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "pipeline_throughput.py"
ROWS = ("per-clip baseline (AudioProcessor-style)", "plain cached tf.data", "kws",
        "kws, new iterator per epoch", "kws + whole recording chain (p=1)", "front end alone")
pytestmark = pytest.mark.slow


def test_report_has_every_row_with_both_baselines(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", words=("alpha", "beta"), speakers=6)
    out = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), f"--data_dirs={data}", "--validation_percentage=0",
         "--testing_percentage=0", "--repeats=1", "--warmup_epochs=0", "--epochs=1",
         "--batch_size=4", "--baseline_clips=5", "--frontend_calls=2", f"--output={out}"],
        capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["settings"]["repeats"] == 1
    assert len(report["machine"]["loadavg_start"]) == 3 and len(report["machine"]["loadavg_end"]) == 3
    (dataset,) = report["datasets"]
    assert dataset["splits"] == {"train": 12, "validation": 0, "test": 0}
    rows = {r["row"]: r for r in dataset["rows"]}
    assert tuple(rows) == ROWS
    for row in rows.values():
        assert len(row["rounds_ex_s"]) == 1
        assert 0 < row["ex_s_min"] <= row["ex_s_median"] <= row["ex_s_max"]
        (rate,) = row["rounds_ex_s"]
        assert row["x_per_clip"] == pytest.approx(rate / rows[ROWS[0]]["rounds_ex_s"][0])
        assert row["x_plain"] == pytest.approx(rate / rows[ROWS[1]]["rounds_ex_s"][0])
    for name in ("kws", "kws + whole recording chain (p=1)"):
        assert rows[name]["first_epoch_ex_s"] > 0 and rows[name]["setup_s"] > 0
    for name in ROWS:
        assert name in run.stdout
    assert "load average" in run.stdout


def test_an_empty_training_split_is_refused_with_the_fix(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", words=("alpha",), speakers=2)
    run = subprocess.run(
        [sys.executable, str(SCRIPT), f"--data_dirs={data}", "--validation_percentage=0",
         "--testing_percentage=99", "--repeats=1"],
        capture_output=True, text=True, check=False, timeout=300)
    assert run.returncode != 0
    assert "the training split is empty" in run.stderr
    assert "--testing_percentage" in run.stderr
