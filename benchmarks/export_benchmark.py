"""Exported models side by side with the MLPerf Tiny KWS reference model, measured in one run.

    python benchmarks/export_benchmark.py --export_dirs=runs/a/export,runs/b/export

Per export folder (written by kws-export): file sizes; LiteRT latency per 1 s window (1 thread,
default XNNPACK delegate) of the float and int8 waveform-in models and of the float and int8
features-in models (the float features-in model is converted here from the run's checkpoint);
the front end's share (waveform-in minus features-in); the TFLite Micro arena of the int8
features model; accuracy of Keras / float / int8 / int8 features-in from the export report.

The peer (../shared/peers/mlperf_tiny_kws_ref) is timed and arena-measured in the same run, and
scored with its own features (mlperf_ref.py: peak-normalised clip, then an MFCC that kws.frontend
computes with the peer's parameters): on every clip of --peer_data_dir, and on the test split of
each export whose labels are the peer's twelve (the same clips as that export's figures).

Latency: every model is timed in turn, --rounds times; each round's figure is the median of --runs
invokes, and the lowest round is reported (the machine is shared: the least disturbed round).
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json
import os

from absl import app
from absl import flags
from absl import logging

import mlperf_ref  # beside this script (benchmarks/ is sys.path[0] when it runs)
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.export import exporter
from kws.export import measure
from kws.export import tflite

_EXPORT_DIRS = flags.DEFINE_list("export_dirs", None, "kws-export output folders.", required=True)
_PEER_MODEL = flags.DEFINE_string("peer_model", mlperf_ref.MODEL_PATH,
                                  "The MLPerf Tiny KWS reference model.")
_PEER_DATA_DIR = flags.DEFINE_string(
    "peer_data_dir", mlperf_ref.DATA_DIR,
    "A 12-class folder tree (the peer's labels) scored whole with the peer.")
_RUNS = flags.DEFINE_integer("runs", 300, "Invokes per latency measurement.", lower_bound=1)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Latency rounds (lowest median reported).",
                               lower_bound=1)
_OUTPUT = flags.DEFINE_string("output", "", "Also write the figures to this JSON file.")

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
    whole = mlperf_ref.whole_folder(_PEER_DATA_DIR.value)
    noise = pl.load_noise(whole, 16000, 16000)
    results["peer"][os.path.basename(_PEER_DATA_DIR.value)] = mlperf_ref.accuracy(
        peer, whole, "test", noise)
    for name, (folder, report, files) in exports.items():
        row = {"labels": report["labels"], "bytes": {k: len(m) for k, m in files.items()},
               "latency_us": {k: latency[f"{name}/{k}"] for k in files},
               "tflm_arena_bytes": measure.tflm_arena_bytes(files["features_int8"]),
               "accuracy": {split: ev["accuracy"] for split, ev in report["evaluations"].items()},
               "agreement_with_keras": {split: ev["agreement_with_keras"]
                                        for split, ev in report["evaluations"].items()}}
        row["frontend_us"] = {k: row["latency_us"][k] - row["latency_us"][f"features_{k}"]
                              for k in ("float", "int8")}
        if set(report["labels"]) == set(mlperf_ref.LABELS):
            config, _, _ = exporter.load_run(report["workdir"], report["checkpoint"])
            index = sc.index_dataset(config.data)
            run_noise = pl.load_noise(index, 16000, 16000)
            row["peer_on_same_test_split"] = mlperf_ref.accuracy(peer, index, "test", run_noise)
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
