"""Exported models on long recordings: miss rate at <= 1 false accept per hour, side by side.

    python benchmarks/streaming_eval.py --export_dirs=runs/a/export,runs/b/export
    python benchmarks/streaming_eval.py --export_dirs=E --variants=int8,stream_int8 \\
        --duration_minutes=60 --output_dir=/tmp/stream_bench

Two recordings per set of keywords, made as `kws-stream-eval` makes them (same seed, so every model
with the same keywords hears the same audio):

* synthetic: the held-out test voices of the synthetic default dataset over its own noises;
* real: every clip of ../shared/data/speech_commands_test_v0.02_dev (real speakers; its _unknown_
  words as the other words) over the Speech Commands background noises. For a model trained on
  some of those speakers, --real_dir=runs/rv/merged_data --real_split=test keeps to the speakers
  it never heard (the merged tree of benchmarks/real_voices.py).

Each model variant runs over both with the device script's Detector (kws-infer's defaults), and
the table gives the miss rate at the default threshold, its false accepts per hour, and the best
miss rate whose false accepts stay at or under --max_fa_per_hour (with its threshold). One false
accept is 60 / --duration_minutes FA/h: at 30 minutes, "<= 1 FA/h" means none at all.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import dataclasses
import json
import os

from absl import app
from absl import flags

from kws.data import speech_commands as sc
from kws.synth import dataset as synth
from kws.errors import UserError
from kws.stream_eval import evaluate
from kws.stream_eval import metrics as sm
from kws.stream_eval import recording as rec
from kws.stream_eval import sources

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED_DATA = os.environ.get("KWS_SHARED_DATA",
                              os.path.join(os.path.dirname(_REPO), "shared", "data"))

_EXPORT_DIRS = flags.DEFINE_list("export_dirs", None, "kws-export output folders.", required=True)
_VARIANTS = flags.DEFINE_list("variants", ["int8"], "Model variants to run (kws.device.model."
                              "VARIANTS); a variant an export lacks is reported, not run.")
_SYNTH_DIR = flags.DEFINE_string("synth_dir", synth.DEFAULT_SYNTH_DIR,
                                 "The synthetic default dataset.")
_REAL_DIR = flags.DEFINE_string("real_dir", os.path.join(_SHARED_DATA,
                                                         "speech_commands_test_v0.02_dev"),
                                "Real clips.")
_REAL_SPLIT = flags.DEFINE_enum("real_split", "all", ["all", "train", "validation", "test"],
                                "Which of --real_dir's clips: all, or one split of it (e.g. test "
                                "of benchmarks/real_voices.py's merged tree: speakers a model "
                                "trained there never heard).")
_REAL_NOISE_DIR = flags.DEFINE_string("real_noise_dir", os.path.join(_SHARED_DATA,
                                                                     "_background_noise_"),
                                      "Noise under the real clips.")
_DURATION_MINUTES = flags.DEFINE_float("duration_minutes", 30.0, "Length of each recording.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the recordings.")
_HOP_MS = flags.DEFINE_integer("hop_ms", 50, "Window models run every hop_ms.")
_MAX_FA_PER_HOUR = flags.DEFINE_float("max_fa_per_hour", 1.0, "The operating point's FA/h.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "", "Also write each evaluation's files (and "
                                  "results.json) here.")


def _datasets() -> dict[str, tuple[sc.DataConfig, str]]:
    """name -> (data config, split)."""
    return {
        "synthetic": (sc.DataConfig(data_dir=synth.ensure_default_dataset(_SYNTH_DIR.value)),
                      "test"),
        "real": (sc.DataConfig(data_dir=_REAL_DIR.value,
                               background_noise_dir=_REAL_NOISE_DIR.value), _REAL_SPLIT.value),
    }


def main(argv: list[str]) -> None:
    del argv
    config = evaluate.EvalConfig(max_fa_per_hour=_MAX_FA_PER_HOUR.value)
    recording_config = rec.RecordingConfig(duration_s=60.0 * _DURATION_MINUTES.value,
                                           seed=_SEED.value)
    datasets = _datasets()
    recordings: dict[tuple, rec.Recording] = {}
    results = []
    header = (f"{'model':<40} {'variant':<12} {'data':<9} {'miss@thr':>8} {'FA/h':>7} "
              f"{'miss@<=' + format(config.max_fa_per_hour, 'g') + 'FA/h':>12} {'thr':>5}")
    print(f"recordings of {_DURATION_MINUTES.value:g} min: one FA = "
          f"{60.0 / _DURATION_MINUTES.value:.3g} FA/h; default threshold "
          f"{config.detector.threshold:g}\n{header}")
    for export in _EXPORT_DIRS.value:
        for variant in _VARIANTS.value:
            try:
                source = sources.DeviceSource(export, variant, _HOP_MS.value)
            except UserError as e:
                print(f"{export:<40} {variant:<12} not run: {e}")
                continue
            keywords = sm.keywords_of(source.labels, config.detector)
            for name, (data, split) in datasets.items():
                key = (name, keywords, source.sample_rate_hz)
                try:
                    if key not in recordings:
                        data = dataclasses.replace(data, sample_rate_hz=source.sample_rate_hz)
                        pools = rec.clip_pools(data, split, keywords)
                        recordings[key] = rec.make_recording(pools, pools.noise,
                                                             source.sample_rate_hz,
                                                             recording_config)
                except UserError as e:
                    print(f"{export:<40} {variant:<12} {name:<9} not run: {e}")
                    continue
                out = (os.path.join(_OUTPUT_DIR.value, f"{len(results):02d}_{variant}_{name}")
                       if _OUTPUT_DIR.value else None)
                result = evaluate.evaluate(source, recordings[key], config, out,
                                           {"data": name, "split": split})
                m, best = result.metrics, result.operating_point
                print(f"{export:<40} {variant:<12} {name:<9} {evaluate.percent(m.miss_rate):>8} "
                      f"{m.fa_per_hour:>7.1f} "
                      f"{evaluate.percent(best.miss_rate) if best else 'not reached':>12} "
                      f"{format(best.threshold, 'g') if best else '':>5}", flush=True)
                results.append({"export": export, "variant": variant, "data": name,
                                **result.report})
    if _OUTPUT_DIR.value:
        os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
        with open(os.path.join(_OUTPUT_DIR.value, "results.json"), "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    app.run(main)
