"""`kws-stream-eval` end to end on the tone demo: its export folder and its Keras run.

The demo (kws.export.demo, the streamable DS-CNN, so that the export has stateful streaming
models too) is the session's, copied for this module (conftest's demo_copy), or taken from
$KWS_TEST_EXPORT_DIR when that is the --output_dir of `python export/make_demo.py`, with the
training run in <its --workdir>/run beside it. Recordings are made from tone words of new speakers
(another seed than the training data).
"""

from __future__ import annotations

import csv
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from kws.device import stream
from kws.export import demo
from kws.stream_eval import recording as rec
from kws.stream_eval import sources
from kws.stream_eval import truth

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # trains the tone demo

EVAL = [sys.executable, "-m", "kws.stream_eval.cli"]
LABELS = ["_silence_", "_unknown_", *demo.DEMO_KEYWORDS]


@pytest.fixture(scope="module")
def demo_dirs(demo_copy) -> tuple[pathlib.Path, pathlib.Path]:
    """(export folder, training run) of the tone demo."""
    export = demo_copy
    run = export.parent / "run"
    assert (export / "labels.txt").read_text().split() == LABELS, f"{export}: not a tone demo"
    assert (run / "config.json").is_file(), f"{run}: no demo training run beside {export}"
    assert (export / "streaming.json").is_file(), (
        f"{export} has no stateful streaming models: make the demo with model='ds_cnn'")
    return export, run


@pytest.fixture(scope="module")
def words(tmp_path_factory) -> pathlib.Path:
    """Tone words of speakers the demo never heard, and a noise file."""
    return pathlib.Path(demo.write_tone_dataset(str(tmp_path_factory.mktemp("words") / "data"),
                                                speakers=16, seed=99))


def _run(*args, cwd=REPO_ROOT):
    return subprocess.run(EVAL + list(args), capture_output=True, text=True, check=False, cwd=cwd)


@pytest.fixture(scope="module")
def generated(demo_dirs, words, tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("eval")
    done = _run(f"--model_dir={demo_dirs[0]}", f"--data_dir={words}", "--split=all",
                "--duration_minutes=1.5", "--snr_db=10,20", "--seed=5", f"--output_dir={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "miss rate at <= 1 FA/h" in done.stdout
    return out


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_generated_recording_end_to_end(generated):
    for name in ("recording.wav", "ground_truth.csv", "detections.csv", "det.csv", "report.json"):
        assert (generated / name).stat().st_size > 0, name
    for name in ("det.png", "scores.png"):
        assert (generated / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    report = json.loads((generated / "report.json").read_text())
    events = truth.read_csv(str(generated / "ground_truth.csv"), LABELS, duration_s=90.0)
    keyword_events = sum(e.label in demo.DEMO_KEYWORDS for e in events)
    assert keyword_events >= 10 and report["metrics"]["keyword_events"] == keyword_events
    detections = _csv_rows(generated / "detections.csv")
    hits = sum(d["outcome"] == "hit" for d in detections)
    false = sum(d["outcome"] in ("duplicate", "fa_unknown", "fa_background") for d in detections)
    assert report["metrics"]["hits"] == hits and report["metrics"]["false_accepts"] == false
    assert report["metrics"]["fa_per_hour"] == pytest.approx(false * 40.0)  # 1.5 min = 1/40 h
    # The demo model knows these tones: at its best threshold without a false accept it finds
    # (nearly) every keyword, early.
    best = report["operating_point"]
    assert best is not None and best["miss_rate"] <= 0.1, report["operating_point_note"]
    assert best["false_accepts"] == 0 and best["wrong_label"] <= 1
    assert 0 < best["latency_median_ms"] < 1000
    det = _csv_rows(generated / "det.csv")
    assert len(det) == len(report["sweep"]) >= 20
    assert [float(r["threshold"]) for r in det] == sorted(float(r["threshold"]) for r in det)
    assert report["fa_resolution_per_hour"] == pytest.approx(40.0)


def test_own_recording_gives_the_same_result(generated, demo_dirs, tmp_path):
    done = _run(f"--model_dir={demo_dirs[0]}", f"--recording={generated / 'recording.wav'}",
                f"--labels_csv={generated / 'ground_truth.csv'}", f"--output_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads((tmp_path / "report.json").read_text())
    first = json.loads((generated / "report.json").read_text())
    assert again["metrics"] == first["metrics"] and again["sweep"] == first["sweep"]
    assert (tmp_path / "detections.csv").read_text() == (generated / "detections.csv").read_text()
    assert not (tmp_path / "recording.wav").exists()


def test_keras_checkpoint_matches_the_float_export(demo_dirs, generated):
    export, run = demo_dirs
    pcm = rec.read_recording(str(generated / "recording.wav"), str(generated / "ground_truth.csv"),
                             LABELS, 16000).samples[:20 * 16000]
    keras_times, keras_post = sources.KerasSource(str(run), "best", 50).posteriors(pcm)
    tflite_times, tflite_post = sources.DeviceSource(str(export), "float", 50).posteriors(pcm)
    ends = [end for end, _ in stream.sliding_windows(pcm, 16000, 800)]
    np.testing.assert_array_equal(keras_times, np.array(ends) / 16.0)
    np.testing.assert_array_equal(tflite_times, keras_times)
    np.testing.assert_allclose(keras_post, tflite_post, atol=2e-3)


def test_stateful_streaming_model_matches_the_window_model(demo_dirs, generated, tmp_path):
    export, _ = demo_dirs
    pcm = rec.read_recording(str(generated / "recording.wav"), str(generated / "ground_truth.csv"),
                             LABELS, 16000).samples[:20 * 16000]
    stateful = sources.DeviceSource(str(export), "stream_float", 50)
    hop = stateful.hop_samples
    assert stateful.stateful and hop != 800  # its own hop, not --hop_ms
    times, posteriors = stateful.posteriors(pcm)
    ends = 16 * times
    np.testing.assert_array_equal(ends, np.arange(-(-16000 // hop) * hop, len(pcm) + 1, hop))
    # The front end's frames (30 ms every 20 ms) cover the first `covered` samples of a window;
    # the stateful model has used all the audio up to T, so it equals the window model on the
    # window whose frames end at T, i.e. the window ending at T + (16000 - covered).
    spec = json.loads((export / "frontend.json").read_text())
    frames = 1 + int((spec["clip_duration_ms"] - spec["window_size_ms"])
                     // spec["window_stride_ms"])
    covered = 16 * int((frames - 1) * spec["window_stride_ms"] + spec["window_size_ms"])
    window = sources.open_device_model(str(export), "float")
    x = pcm.astype(np.float32) / 32768
    for k in range(0, len(ends) - 1, 5):
        end = int(ends[k]) + 16000 - covered
        np.testing.assert_allclose(posteriors[k], window.predict(x[end - 16000:end]), atol=1e-4)
    done = _run(f"--model_dir={export}", "--variant=stream_int8",
                f"--recording={generated / 'recording.wav'}",
                f"--labels_csv={generated / 'ground_truth.csv'}", f"--output_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["hop_samples"] == hop and report["operating_point"]["miss_rate"] <= 0.1


def test_keras_checkpoint_through_the_command(demo_dirs, generated, tmp_path):
    done = _run(f"--workdir={demo_dirs[1]}", f"--recording={generated / 'recording.wav'}",
                f"--labels_csv={generated / 'ground_truth.csv'}", f"--output_dir={tmp_path}",
                "--thresholds=0.9,0.2,0.3,0.4,0.5")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert "Keras" in report["model"] and report["operating_point"]["miss_rate"] <= 0.1
    assert [r["threshold"] for r in report["sweep"]] == [0.2, 0.3, 0.4, 0.5, 0.6, 0.9]


@pytest.mark.parametrize("args, message", [
    ([], "give one model"),
    (["--model_dir=/no/such/export"], "model folder /no/such/export does not exist"),
    (["--model_dir={export}", "--variant=bogus"], "unknown --variant 'bogus'; valid: "),
    (["--model_dir={export}", "--workdir={run}"], "give one model"),
    (["--model_dir={export}", "--data_dir=/no/such/data"], "data dir /no/such/data does not exist"),
    (["--model_dir={export}", "--data_dir={words}", "--split=validation",
      "--validation_percentage=0"], "split 'validation' has no clips of the model's keyword"),
    (["--model_dir={export}", "--recording={wav}"], "--recording and --labels_csv go together"),
    (["--model_dir={export}", "--recording={wav}", "--labels_csv={bad_csv}"],
     "line 2: label 'yes' is not a label of the model"),
    (["--model_dir={export}", "--data_dir={words}", "--duration_minutes=0.01"],
     "bad recording flags"),
])
def test_bad_input_is_one_clear_line(demo_dirs, words, generated, tmp_path, args, message):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("start_s,end_s,label\n1.0,1.5,yes\n")
    values = {"export": demo_dirs[0], "run": demo_dirs[1], "words": words,
              "wav": generated / "recording.wav", "bad_csv": bad_csv}
    done = _run(*[a.format(**values) for a in args], f"--output_dir={tmp_path / 'out'}")
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.startswith("kws-stream-eval:")]
    assert len(lines) == 1 and lines[0].startswith("kws-stream-eval: error: "), done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_calibration_writes_a_detector_that_both_commands_use(demo_dirs, words, tmp_path):
    import shutil

    from kws.device import detect

    export = tmp_path / "export"
    shutil.copytree(demo_dirs[0], export)
    done = _run(f"--model_dir={export}", f"--data_dir={words}", "--split=all",
                "--duration_minutes=3", "--snr_db=10,20", "--seed=7", "--calibrate_fa_per_hour=20",
                f"--output_dir={tmp_path / 'calib'}")
    assert done.returncode == 0, done.stderr[-3000:]
    config, data = detect.load_detector_file(str(export))
    assert {k for k, _ in config.label_thresholds} == set(demo.DEMO_KEYWORDS)
    assert data["calibration_stream"]["fa_per_hour"] <= 20
    report = json.loads((tmp_path / "calib" / "report.json").read_text())
    assert report["metrics"]["fa_per_hour"] <= 20  # the chosen detector, run as on the device
    assert report["detector"]["average_window_ms"] == config.average_window_ms
    # Another recording: kws-stream-eval takes the calibrated detector unless a flag is given.
    again = _run(f"--model_dir={export}", f"--data_dir={words}", "--split=all",
                 "--duration_minutes=1", "--seed=8", f"--output_dir={tmp_path / 'again'}")
    assert again.returncode == 0 and "using the calibrated detector" in again.stdout
    used = json.loads((tmp_path / "again" / "report.json").read_text())["detector"]
    assert dict(used["label_thresholds"]) == dict(config.label_thresholds)
    flagged = _run(f"--model_dir={export}", f"--data_dir={words}", "--split=all",
                   "--duration_minutes=1", "--seed=8", "--threshold=0.7",
                   f"--output_dir={tmp_path / 'flag'}")
    assert flagged.returncode == 0 and "using the calibrated detector" not in flagged.stdout
    # kws-infer too, on the recording: the same detections as its own detector settings give.
    wav = tmp_path / "again" / "recording.wav"
    infer = [sys.executable, "-m", "kws.device.cli", f"--model_dir={export}", str(wav)]
    default = subprocess.run(infer, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    thresholds = dict(config.label_thresholds)
    assert default.returncode == 0, default.stderr[-2000:]
    labels = [line.split()[1] for line in default.stdout.splitlines()
              if line.split() and line.split()[0].replace(".", "").isdigit()]
    scores = [float(line.split()[2]) for line in default.stdout.splitlines()
              if line.split() and line.split()[0].replace(".", "").isdigit()]
    assert labels and all(s >= thresholds[lab] for lab, s in zip(labels, scores))
    broken = tmp_path / "broken"
    shutil.copytree(demo_dirs[0], broken)
    (broken / detect.DETECTOR_FILE).write_text("{}")
    bad = subprocess.run([sys.executable, "-m", "kws.device.cli", f"--model_dir={broken}",
                          str(wav)], capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert bad.returncode == 1 and "not a valid detector file" in bad.stderr


def test_shared_calibration_gives_every_keyword_one_threshold(demo_dirs, words, tmp_path):
    import shutil

    from kws.device import detect

    export = tmp_path / "export"
    shutil.copytree(demo_dirs[0], export)
    done = _run(f"--model_dir={export}", f"--data_dir={words}", "--split=all",
                "--duration_minutes=3", "--snr_db=10,20", "--seed=7", "--calibrate_fa_per_hour=20",
                "--calibrate_thresholds=shared", f"--output_dir={tmp_path / 'calib'}")
    assert done.returncode == 0, done.stderr[-3000:]
    config, data = detect.load_detector_file(str(export))
    thresholds = dict(config.label_thresholds)
    assert set(thresholds) == set(demo.DEMO_KEYWORDS)
    assert set(thresholds.values()) == {config.threshold}
    assert data["calibration_stream"]["fa_per_hour"] <= 20
