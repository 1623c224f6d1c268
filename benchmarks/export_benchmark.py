"""Exported models side by side with the MLPerf Tiny KWS reference model, measured in one run.

    python benchmarks/export_benchmark.py --export_dirs=runs/a/export,runs/b/export

Per export folder (written by kws-export): file sizes; LiteRT latency per 1 s window (1 thread,
default XNNPACK delegate) of the float and int8 waveform-in models and of the float and int8
features-in models (the float features-in model is converted here from the run's checkpoint);
the front end's share (waveform-in minus features-in); the TFLite Micro arena of the int8
features model; accuracy of Keras / float / int8 / int8 features-in from the export report.

The peer (../shared/peers/mlperf_tiny_kws_ref) is timed and arena-measured in the same run, and
scored with its own features, computed as its README describes (peak-normalised clip, then an MFCC
that kws.frontend computes with the peer's parameters): on every clip of --peer_data_dir, and on
the test split of each export whose labels are the peer's twelve (the same clips as that export's
figures).

Latency: every model is timed in turn, --rounds times; each round's figure is the median of --runs
invokes, and the lowest round is reported (the machine is shared: the least disturbed round).
"""

from __future__ import annotations

import json
import os

import numpy as np
from absl import app
from absl import flags
from absl import logging

from kws import frontend
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.export import clips
from kws.export import exporter
from kws.export import measure
from kws.export import runner
from kws.export import tflite

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED = os.path.join(os.path.dirname(_REPO), "shared")

_EXPORT_DIRS = flags.DEFINE_list("export_dirs", None, "kws-export output folders.", required=True)
_PEER_MODEL = flags.DEFINE_string(
    "peer_model", os.path.join(_SHARED, "peers", "mlperf_tiny_kws_ref", "kws_ref_model.tflite"),
    "The MLPerf Tiny KWS reference model.")
_PEER_DATA_DIR = flags.DEFINE_string(
    "peer_data_dir", os.path.join(_SHARED, "data", "speech_commands_test_v0.02_dev"),
    "A 12-class folder tree (the peer's labels) scored whole with the peer.")
_RUNS = flags.DEFINE_integer("runs", 300, "Invokes per latency measurement.", lower_bound=1)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Latency rounds (lowest median reported).",
                               lower_bound=1)
_OUTPUT = flags.DEFINE_string("output", "", "Also write the figures to this JSON file.")

PEER_LABELS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_",
               "_unknown_")
PEER_FEATURES = frontend.FrontendConfig(
    feature_type="mfcc", window_size_ms=30.0, window_stride_ms=20.0, fft_length=512,
    num_mel_bins=40, lower_edge_hz=20.0, upper_edge_hz=4000.0, num_mfcc=10, log_floor=1e-6)


def peer_features(waveforms: np.ndarray) -> np.ndarray:
    """The peer's MFCC [n, 49, 10] of clips [n, 16000]: each clip divided by its maximum sample
    (not the maximum absolute value, as its training code does; left as is when that is <= 0)."""
    peak = waveforms.max(axis=1, keepdims=True)
    normalised = np.where(peak > 0, waveforms / np.where(peak > 0, peak, 1), waveforms)
    return tflite.compute_features_batched(normalised.astype(np.float32), PEER_FEATURES)


def peer_accuracy(peer: bytes, index: sc.DatasetIndex, split: str, noise) -> dict:
    """Top-1 of the peer on ``split`` of ``index`` (labels mapped by name)."""
    classifier = runner.TfliteClassifier(peer)
    to_peer = np.array([PEER_LABELS.index(label) for label in index.labels])
    correct = total = 0
    config = pl.PipelineConfig(batch_size=200)
    for waves, y in clips.waveform_batches(index, split, PEER_FEATURES, config, noise):
        predicted = np.argmax(classifier.predict(peer_features(waves)[..., None]), -1)
        correct += int(np.sum(predicted == to_peer[y]))
        total += len(y)
    return {"accuracy": correct / total, "examples": total}


def _whole_folder(folder: str) -> sc.DatasetIndex:
    data = sc.DataConfig(data_dir=folder, label_mode="keywords", validation_percentage=0,
                         testing_percentage=0)
    index = sc.index_dataset(data)
    return sc.DatasetIndex(labels=index.labels, noise_files=index.noise_files, skipped=(),
                           splits={"train": (), "validation": (), "test": tuple(
                               e for s in sc.SPLITS for e in index.splits[s])})


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _time_all(models: dict[str, bytes]) -> dict[str, float]:
    best = {name: float("inf") for name in models}
    for _ in range(_ROUNDS.value):
        for name, model in models.items():
            best[name] = min(best[name], measure.litert_latency_us(model, runs=_RUNS.value))
    return best


def main(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's converter logs at INFO under absl
    peer = _read(_PEER_MODEL.value)
    models: dict[str, bytes] = {"peer/features_int8": peer}
    exports = {}
    for folder in _EXPORT_DIRS.value:
        report = exporter.load_report(folder)
        name = os.path.basename(os.path.normpath(report["workdir"]))
        files = {key: _read(os.path.join(folder, info["file"]))
                 for key, info in report["models"].items()}
        _, _, body = exporter.load_run(report["workdir"], report["checkpoint"])
        files["features_float"] = tflite.convert_float(tflite.features_model(body))
        for key, model in files.items():
            models[f"{name}/{key}"] = model
        exports[name] = (folder, report, files)

    latency = _time_all(models)
    results = {"peer": {"bytes": len(peer), "latency_us": latency["peer/features_int8"],
                        "tflm_arena_bytes": measure.tflm_arena_bytes(peer), "ops": list(
                            measure.op_names(peer))}}
    whole = _whole_folder(_PEER_DATA_DIR.value)
    noise = pl.load_noise(whole, 16000, 16000)
    results["peer"][os.path.basename(_PEER_DATA_DIR.value)] = peer_accuracy(peer, whole, "test",
                                                                            noise)
    for name, (folder, report, files) in exports.items():
        row = {"labels": report["labels"], "bytes": {k: len(m) for k, m in files.items()},
               "latency_us": {k: latency[f"{name}/{k}"] for k in files},
               "tflm_arena_bytes": measure.tflm_arena_bytes(files["features_int8"]),
               "accuracy": {split: ev["accuracy"] for split, ev in report["evaluations"].items()},
               "agreement_with_keras": {split: ev["agreement_with_keras"]
                                        for split, ev in report["evaluations"].items()}}
        row["frontend_us"] = {k: row["latency_us"][k] - row["latency_us"][f"features_{k}"]
                              for k in ("float", "int8")}
        if set(report["labels"]) == set(PEER_LABELS):
            config, _, _ = exporter.load_run(report["workdir"], report["checkpoint"])
            index = sc.index_dataset(config.data)
            run_noise = pl.load_noise(index, 16000, 16000)
            row["peer_on_same_test_split"] = peer_accuracy(peer, index, "test", run_noise)
        results[name] = row
    print(format_results(results))
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


def format_results(results: dict) -> str:
    peer = results["peer"]
    lines = [f"{'model':<42} {'bytes':>9} {'µs/window':>10} {'TFLM arena':>11}",
             f"{'peer int8 features-in':<42} {peer['bytes']:>9,} {peer['latency_us']:>10.1f} "
             f"{peer['tflm_arena_bytes']:>11,}"]
    for name, row in results.items():
        if name == "peer":
            continue
        for key, label in (("float", "float waveform-in"), ("int8", "int8 waveform-in"),
                           ("features_float", "float features-in"),
                           ("features_int8", "int8 features-in")):
            arena = f"{row['tflm_arena_bytes']:>11,}" if key == "features_int8" else f"{'':>11}"
            lines.append(f"{name + ' ' + label:<42} {row['bytes'][key]:>9,} "
                         f"{row['latency_us'][key]:>10.1f} {arena}")
        lines.append(f"{name + ' front end (waveform - features)':<42} {'':>9} "
                     f"{row['frontend_us']['float']:>10.1f}  (int8 model: "
                     f"{row['frontend_us']['int8']:.1f})")
    lines.append("")
    for name, row in results.items():
        if name == "peer":
            for key, value in row.items():
                if isinstance(value, dict):
                    lines.append(f"peer accuracy on {key}: {value['accuracy']:.2%} "
                                 f"({value['examples']} clips)")
            continue
        for split, acc in row["accuracy"].items():
            agree = row["agreement_with_keras"][split]
            lines.append(f"{name} accuracy on {split}: " + ", ".join(
                f"{k} {v:.2%}" for k, v in acc.items()) + "; agreement with Keras: " + ", ".join(
                f"{k} {v:.1%}" for k, v in agree.items()))
        if "peer_on_same_test_split" in row:
            same = row["peer_on_same_test_split"]
            lines.append(f"{name}: peer on the same test clips: {same['accuracy']:.2%} "
                         f"({same['examples']} clips)")
    return "\n".join(lines)


if __name__ == "__main__":
    app.run(main)
