r"""Copies an export's device files into kws/pretrained/<name>/ and writes its scorecard.

    python tools/ship_pretrained.py --name=ds_cnn_s_real --export_dir=runs/pretrained/export \
        --real_voices=runs/pretrained/real_voices.json \
        --streaming=runs/pretrained/stream/results.json

Inputs are what the benchmarks wrote, nothing is measured here:
  --export_dir   a kws-export folder (export_report.json: sizes, LiteRT latency, TFLite Micro arena,
                 accuracy of each model on the run's test split: for a run on real_voices.py's
                 merged tree, the held-out real speakers)
  --real_voices  `benchmarks/real_voices.py --output=...` with this export in --export_dirs
                 (accuracy on held-out real speakers, the MLPerf Tiny reference on the same clips)
  --streaming    `benchmarks/streaming_eval.py --output_dir=...`'s results.json for this export
                 (miss rate at <= 1 false accept per hour on long recordings)
The folder's train.flags (written by hand: how the model is trained) must already be there.
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from absl import app
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_NAME = flags.DEFINE_string("name", None, "Folder name under kws/pretrained.", required=True)
_EXPORT_DIR = flags.DEFINE_string("export_dir", None, "kws-export folder.", required=True)
_REAL_VOICES = flags.DEFINE_string("real_voices", None, "real_voices.py --output JSON.",
                                   required=True)
_STREAMING = flags.DEFINE_string("streaming", None, "streaming_eval.py results.json.",
                                 required=True)

FILES = ("labels.txt", "frontend.json", "model_int8.tflite", "model_features_int8.tflite",
         "features_input.json", "stream_int8.tflite", "streaming.json")
"""What kws-infer needs (int8 and stream_int8 variants) plus the TFLite Micro model and the
normalisation its input expects."""


def _load(path: str) -> dict | list:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _row(rows: list[dict], starts: str, ends: str) -> dict:
    found = [r for r in rows if r["model"].startswith(starts) and r["model"].endswith(ends)]
    if len(found) != 1:
        raise SystemExit(f"--real_voices: expected one row '{starts}...{ends}', found "
                         f"{[r['model'] for r in found]}")
    return found[0]


def scorecard(export_dir: str, real_voices: dict, streaming: list[dict]) -> dict:
    report = _load(os.path.join(export_dir, "export_report.json"))
    rows = real_voices["rows"]
    export_name = f"kws export {export_dir}"
    keras = _row(rows, export_name, "(Keras float)")
    int8 = _row(rows, export_name, "(int8, features in)")
    waveform = _row(rows, export_name, "(int8, waveform in)")
    reference = _row(rows, "MLPerf Tiny reference, held-out", "")
    models, stream = report["models"], report["streaming"]
    card = {
        "held_out_real_speakers": {
            "clips": int8["clips"], "speakers": int8["speakers"],
            "held_out_hash_percent": real_voices["held_out_hash_percent"],
            "trained_on_real_speakers": real_voices["real_speakers"]["train"],
            "kws_keras_float": keras["accuracy"], "kws_int8_features_in": int8["accuracy"],
            "kws_int8_waveform_in": waveform["accuracy"],
            "int8_drop_pt": 100 * (keras["accuracy"] - int8["accuracy"]),
            "int8_waveform_in_drop_pt": 100 * (keras["accuracy"] - waveform["accuracy"]),
            "mlperf_tiny_reference_int8": reference["accuracy"],
            "reference_bytes": reference["int8_bytes"],
        },
        "export_test_split": {"examples": report["evaluations"]["test"]["examples"],
                              **report["evaluations"]["test"]["accuracy"],
                              **{k: v for k, v in stream["test"]["accuracy"].items()
                                 if k != "keras"}},
        "bytes": {name: models[name]["bytes"] for name in ("int8", "features_int8")}
        | {"stream_int8": stream["models"]["stream_int8"]["bytes"]},
        "litert_latency_us": {"int8_window": models["int8"]["latency_us"],
                              "features_int8_window": models["features_int8"]["latency_us"],
                              "stream_int8_hop": stream["models"]["stream_int8"]["latency_us"],
                              "hop_ms": stream["hop_ms"]},
        "tflm_arena_bytes": {"features_int8": models["features_int8"]["tflm_arena_bytes"],
                             "stream_features_int8":
                                 stream["models"]["stream_features_int8"]["tflm_arena_bytes"]},
        "streaming": [
            {"variant": r["variant"], "data": r["data"],
             "minutes": r["recording"]["duration_s"] / 60,
             "keyword_events": r["recording"]["keyword_events"],
             "miss_rate_at_default_threshold": r["metrics"]["miss_rate"],
             "fa_per_hour_at_default_threshold": r["metrics"]["fa_per_hour"],
             "max_fa_per_hour": r["max_fa_per_hour"],
             "miss_rate_at_max_fa": None if r["operating_point"] is None
             else r["operating_point"]["miss_rate"],
             "threshold_at_max_fa": None if r["operating_point"] is None
             else r["operating_point"]["threshold"]}
            for r in streaming if r["export"].rstrip("/") == export_dir.rstrip("/")],
    }
    if not card["streaming"]:
        raise SystemExit(f"--streaming has no rows for {export_dir}")
    return card


def main(argv):
    del argv
    export_dir = _EXPORT_DIR.value
    out = os.path.join(_ROOT, "kws", "pretrained", _NAME.value)
    if not os.path.isfile(os.path.join(out, "train.flags")):
        raise SystemExit(f"{out}/train.flags is missing: write the training flags first")
    card = scorecard(export_dir, _load(_REAL_VOICES.value), _load(_STREAMING.value))
    for name in FILES:
        shutil.copyfile(os.path.join(export_dir, name), os.path.join(out, name))
    with open(os.path.join(out, "scorecard.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    app.run(main, sys.argv)
