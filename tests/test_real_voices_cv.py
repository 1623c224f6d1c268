"""benchmarks/real_voices_cv.py: pooling cross-validation folds of the real-voices benchmark.

Run as a user runs it (a subprocess) on fold files written here; the pooled figures are counted
here from the made-up rows. Marked slow only to keep it out of the Bazel run (benchmarks/ is not a
Bazel target).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "real_voices_cv.py"
pytestmark = pytest.mark.slow


def _fold(path: pathlib.Path, low: float, high: float, clips: int, right: dict, run: str) -> str:
    rows = [{"model": "MLPerf Tiny reference, held-out clips", "clips": clips, "speakers": 3,
             "accuracy": right["ref"] / clips, "int8_bytes": 53936}]
    for kind, key in (("(Keras float)", "float"), ("(int8, features in)", "int8")):
        rows.append({"model": f"kws {run} {kind}", "clips": clips, "speakers": 3,
                     "accuracy": right[key] / clips, "int8_bytes": None})
    rows.append({"model": "MLPerf Tiny reference, all of dev", "clips": 999, "speakers": 9,
                 "accuracy": 0.5, "int8_bytes": 53936})
    path.write_text(json.dumps({"real_speakers": {"train": 6, "validation": 0, "test": 3},
                                "held_out_hash_percent": [low, high], "rows": rows}))
    return str(path)


def _run(*paths):
    return subprocess.run([sys.executable, str(SCRIPT), f"--folds={','.join(paths)}"],
                          capture_output=True, text=True, check=False, timeout=120)


def _line(stdout: str, start: str) -> list[str]:
    return next(line for line in stdout.splitlines() if line.startswith(start)).split()


def test_folds_are_pooled_by_clip_counts(tmp_path):
    a = _fold(tmp_path / "a.json", 0, 40, 30, {"ref": 27, "float": 24, "int8": 23}, "runs/a")
    b = _fold(tmp_path / "b.json", 40, 100, 70, {"ref": 63, "float": 49, "int8": 50}, "runs/b")
    done = _run(b, a)
    assert done.returncode == 0, done.stderr
    # pooled: (27 + 63) / 100, (24 + 49) / 100, (23 + 50) / 100, not the mean of the folds' rates
    assert _line(done.stdout, "MLPerf")[-3:] == ["100", "6", "90.00%"]
    assert _line(done.stdout, "kws (Keras float)")[-1] == "73.00%"
    assert _line(done.stdout, "kws (int8, features in)")[-1] == "73.00%"
    assert "waveform" not in done.stdout  # no export scored: no such row


@pytest.mark.parametrize("ranges,message", [
    (((0, 50), (40, 100)), "does not start where the previous fold ends"),
    (((0, 50), (50, 90)), "a fold is missing"),
    (((10, 50), (50, 100)), "does not start where the previous fold ends (0)"),
])
def test_folds_that_do_not_tile_the_speakers_are_refused(tmp_path, ranges, message):
    paths = [_fold(tmp_path / f"{i}.json", low, high, 10, {"ref": 9, "float": 8, "int8": 8},
                   f"runs/{i}") for i, (low, high) in enumerate(ranges)]
    done = _run(*paths)
    assert done.returncode == 1
    assert message in done.stderr


def test_a_fold_with_two_kws_runs_is_refused(tmp_path):
    a = tmp_path / "a.json"
    _fold(a, 0, 100, 10, {"ref": 9, "float": 8, "int8": 8}, "runs/a")
    data = json.loads(a.read_text())
    data["rows"].append(dict(data["rows"][1], model="kws runs/other (Keras float)"))
    a.write_text(json.dumps(data))
    done = _run(str(a))
    assert done.returncode == 1
    assert "2 kws rows '(Keras float)'" in done.stderr


def test_a_file_that_is_not_a_fold_output_is_refused(tmp_path):
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"rows": []}))
    done = _run(str(other))
    assert done.returncode == 1
    assert "is not a real_voices.py --output file" in done.stderr


def test_waveform_rows_are_pooled_only_when_every_fold_has_one(tmp_path):
    paths = [_fold(tmp_path / f"{i}.json", 50 * i, 50 * (i + 1), 10,
                   {"ref": 9, "float": 8, "int8": 8}, f"runs/{i}") for i in range(2)]
    data = json.loads(pathlib.Path(paths[0]).read_text())
    data["rows"].append(dict(data["rows"][1], model="kws export runs/0 (int8, waveform in)",
                             accuracy=0.6))
    pathlib.Path(paths[0]).write_text(json.dumps(data))
    done = _run(*paths)
    assert done.returncode == 1
    assert f"{paths[1]}: no row '(int8, waveform in)'" in done.stderr
    other = json.loads(pathlib.Path(paths[1]).read_text())
    other["rows"].append(dict(other["rows"][1], model="kws export runs/1 (int8, waveform in)",
                              accuracy=0.9))
    pathlib.Path(paths[1]).write_text(json.dumps(other))
    done = _run(*paths)
    assert done.returncode == 0, done.stderr
    assert _line(done.stdout, "kws (int8, waveform in)")[-1] == "75.00%"  # (6 + 9) / 20


def test_per_label_recall_is_pooled_by_counts(tmp_path):
    paths = []
    for name, (low, high), unknown, yes in (("a", (0, 50), (1, 4), (3, 3)),
                                            ("b", (50, 100), (5, 6), (1, 2))):
        path = pathlib.Path(_fold(tmp_path / f"{name}.json", low, high, 15,
                                  {"ref": 10, "float": 9, "int8": 8}, f"runs/{name}"))
        data = json.loads(path.read_text())
        for row in data["rows"]:
            row["per_label"] = {"_unknown_": list(unknown), "yes": list(yes)}
        path.write_text(json.dumps(data))
        paths.append(str(path))
    done = _run(*paths)
    assert done.returncode == 0, done.stderr
    header = _line(done.stdout, "recall")
    assert header[1:] == ["_unknown_", "yes"]
    # (1 + 5) / (4 + 6) and (3 + 1) / (3 + 2), not the mean of the folds' recalls
    assert _line(done.stdout.split("recall", 1)[1], "kws (Keras float)")[-2:] == ["60.0%", "80.0%"]


def test_folds_scoring_only_a_float_row_pool_without_int8(tmp_path):
    # benchmarks/embedding_real_voices.py writes the reference and one float row per fold
    paths = []
    for i, (ref, right) in enumerate(((9, 7), (10, 9))):
        path = _fold(tmp_path / f"{i}.json", 50 * i, 50 * (i + 1), 10,
                     {"ref": ref, "float": right, "int8": 0}, f"runs/{i}")
        data = json.loads(pathlib.Path(path).read_text())
        data["rows"] = [r for r in data["rows"] if not r["model"].endswith("(int8, features in)")]
        pathlib.Path(path).write_text(json.dumps(data))
        paths.append(path)
    done = _run(*paths)
    assert done.returncode == 0, done.stderr
    assert _line(done.stdout, "kws (Keras float)")[-1] == "80.00%"  # (7 + 9) / 20
    assert _line(done.stdout, "MLPerf Tiny reference")[-1] == "95.00%"
    assert "int8, features in" not in done.stdout
    data = json.loads(pathlib.Path(paths[1]).read_text())
    data["rows"].append(dict(data["rows"][1], model="kws runs/1 (int8, features in)"))
    pathlib.Path(paths[1]).write_text(json.dumps(data))
    done = _run(*paths)  # one fold scoring a kind the other does not: refused
    assert done.returncode == 1
    assert f"{paths[0]}: no row '(int8, features in)'" in done.stderr
