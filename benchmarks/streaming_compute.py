"""Compute per hop: a stateful streaming model against re-running the whole 1 s window every hop.

    python benchmarks/streaming_compute.py --export_dirs=runs/quickstart/export,runs/bc/export

For each export folder of a streamable run, times on LiteRT (1 thread, median of --runs invokes,
all in this run): the window models (model_float / model_int8, one 1 s window per invoke) and the
streaming models (stream_float / stream_int8, one hop per invoke). To give a detection every hop,
the window model runs once per hop as well, so the per-hop ratio is window µs / streaming µs; the
table also gives the CPU time per second of audio at that hop. The features-in int8 streaming
models are timed too (what a microcontroller runs after its own front end: the 49-frame window
model every hop against the streaming model on that hop's frames).
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json
import os

from absl import app
from absl import flags

from kws.device import model as dm
from kws.export import measure

_EXPORT_DIRS = flags.DEFINE_list("export_dirs", None, "kws-export folders of streamable runs.",
                                 required=True)
_RUNS = flags.DEFINE_integer("runs", 500, "Invokes timed per model.", lower_bound=10)

PAIRS = (("float", dm.FLOAT_MODEL, dm.STREAM_FLOAT_MODEL),
         ("int8", dm.INT8_MODEL, dm.STREAM_INT8_MODEL),
         ("features int8", dm.FEATURES_INT8_MODEL, dm.STREAM_FEATURES_INT8_MODEL))
"""(name, window model, streaming model). Features int8: the TFLite Micro models, without the front
end (a device computes each hop's feature frames once either way)."""


def _read(path: str) -> bytes:
    if not os.path.isfile(path):
        raise app.UsageError(f"{path} is missing; export a streamable run (kws-train "
                             "--streamable, ds_cnn or bc_resnet) with kws-export")
    with open(path, "rb") as f:
        return f.read()


def measure_folder(folder: str, runs: int) -> list[dict]:
    """One row per precision: window and streaming latency, per-hop ratio, µs per audio second."""
    spec = dm.StreamSpec.read(folder)
    rate = dm.read_audio_spec(folder).sample_rate_hz
    hop_ms = 1000.0 * spec.hop_samples / rate
    with open(os.path.join(folder, "export_report.json"), encoding="utf-8") as f:
        name = os.path.basename(json.load(f)["workdir"].rstrip("/"))
    rows = []
    for kind, window_file, stream_file in PAIRS:
        window = measure.litert_latency_us(_read(os.path.join(folder, window_file)), runs=runs)
        stream = measure.litert_latency_us(_read(os.path.join(folder, stream_file)), runs=runs)
        rows.append({"run": name, "precision": kind, "hop_ms": hop_ms, "window_us": window,
                     "stream_us": stream, "per_hop_ratio": window / stream,
                     "window_us_per_audio_s": window * 1000.0 / hop_ms,
                     "stream_us_per_audio_s": stream * 1000.0 / hop_ms})
    return rows


def main(argv):
    del argv
    rows = [row for folder in _EXPORT_DIRS.value for row in measure_folder(folder, _RUNS.value)]
    print(f"{'run':<16} {'model':<24} {'hop ms':>6} {'window µs':>10} {'stream µs':>10} "
          f"{'ratio':>6} {'window µs/s':>12} {'stream µs/s':>12}")
    for r in rows:
        print(f"{r['run']:<16} {r['precision']:<24} {r['hop_ms']:>6g} {r['window_us']:>10.1f} "
              f"{r['stream_us']:>10.1f} {r['per_hop_ratio']:>5.1f}x "
              f"{r['window_us_per_audio_s']:>12,.0f} {r['stream_us_per_audio_s']:>12,.0f}")
    print("LiteRT, 1 thread, median of each model's invokes; the window model runs once per hop.")


if __name__ == "__main__":
    app.run(main)
