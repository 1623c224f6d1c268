r"""Ships a calibrated detector with a pretrained model folder: copies the detector.json that
`kws-stream-eval --calibrate_fa_per_hour` wrote into a copy of the folder (chosen on a validation
stream), and records in the folder's scorecard.json what it gives on held-out recordings
(benchmarks/stream_side_by_side.py results in which that copy ran):

    cp -r kws/pretrained/ds_cnn_s_real runs/dscnn_cal
    kws-stream-eval --model_dir=runs/dscnn_cal --variant=stream_int8 \
        --data_dir=runs/rv_valu/merged_data --split=validation \
        --negative_dirs=../shared/data/arabic_speech_commands_negatives --validation_percentage=10 \
        --testing_percentage=30 --unknown_share=0.45 --seed=1000 --duration_minutes=60 \
        --calibrate_fa_per_hour=2 --calibrate_thresholds=shared --output_dir=runs/dscnn_cal_stream
    python benchmarks/stream_side_by_side.py --data_dir=runs/rv_valu/merged_data \
        --export_dirs=runs/dscnn_cal --budgets=0.5,1,2,5,10,20 --no_reference --seed=0 \
        --output_dir=runs/stream_bench_dscnn_cal_s0      # and --seed=1, --seed=2
    python tools/ship_detector.py --calibrated_dir=runs/dscnn_cal \
        --stream_results=runs/stream_bench_dscnn_cal_s0/results.json,...

kws-infer and kws-stream-eval then use the detector by default (flags still override it).
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from absl import app
from absl import flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _REPO)

from kws import pretrained  # noqa: E402  pylint: disable=wrong-import-position
from kws.errors import UserError  # noqa: E402  pylint: disable=wrong-import-position
from kws.stream_eval import results  # noqa: E402  pylint: disable=wrong-import-position

_MODEL_DIR = flags.DEFINE_string("model_dir", "", "The shipped folder (default: the default "
                                 "pretrained model).")
_CALIBRATED_DIR = flags.DEFINE_string("calibrated_dir", None, "A copy of the folder in which "
                                      "kws-stream-eval wrote detector.json.", required=True)
_STREAM_RESULTS = flags.DEFINE_list("stream_results", [], "stream_side_by_side.py results.json "
                                    "files in which --calibrated_dir ran on held-out recordings.")
REPRODUCE = [
    "cp -r kws/pretrained/ds_cnn_s_real runs/dscnn_cal",
    "kws-stream-eval --model_dir=runs/dscnn_cal --variant=stream_int8 "
    "--data_dir=runs/rv_valu/merged_data --split=validation "
    "--negative_dirs=../shared/data/arabic_speech_commands_negatives --validation_percentage=10 "
    "--testing_percentage=30 --unknown_share=0.45 --seed=1000 --duration_minutes=60 "
    "--calibrate_fa_per_hour=2 --calibrate_thresholds=shared --output_dir=runs/dscnn_cal_stream",
    "python benchmarks/stream_side_by_side.py --data_dir=runs/rv_valu/merged_data "
    "--export_dirs=runs/dscnn_cal --budgets=0.5,1,2,5,10,20 --no_reference --seed=S "
    "--output_dir=runs/stream_bench_dscnn_cal_sS (S = 0, 1, 2)",
    "python tools/ship_detector.py --calibrated_dir=runs/dscnn_cal --stream_results="
    "runs/stream_bench_dscnn_cal_s0/results.json,runs/stream_bench_dscnn_cal_s1/results.json,"
    "runs/stream_bench_dscnn_cal_s2/results.json",
]
_COMMANDS = flags.DEFINE_list("commands", [], "The commands that made them, for the scorecard "
                              "(default: REPRODUCE, the ds_cnn_s_real commands).")


def held_out_rows(paths: list[str], calibrated_dir: str) -> list[dict]:
    """Per recording, the figures of the model that ran from ``calibrated_dir`` with its detector
    (kws.stream_eval.results.model_figures)."""
    rows = []
    for path in paths:
        try:
            row = results.model_figures(path, calibrated_dir, _REPO)
        except UserError as e:
            raise UserError(f"{calibrated_dir} did not run there: {e}; pass it to "
                            "stream_side_by_side.py --export_dirs") from e
        if row["calibrated"] is None:
            raise UserError(f"{path}: {calibrated_dir} did not run there with its detector.json")
        rows.append(row)
    return rows


def main(argv):
    del argv
    model_dir = _MODEL_DIR.value or pretrained.model_dir()
    source = os.path.join(_CALIBRATED_DIR.value, "detector.json")
    if not os.path.isfile(source):
        raise UserError(f"{source} does not exist: run kws-stream-eval --calibrate_fa_per_hour "
                        f"with --model_dir={_CALIBRATED_DIR.value} first")
    for name in ("labels.txt", "stream_int8.tflite"):  # the copy must be of this very model
        with open(os.path.join(model_dir, name), "rb") as a, \
                open(os.path.join(_CALIBRATED_DIR.value, name), "rb") as b:
            if a.read() != b.read():
                raise UserError(f"{_CALIBRATED_DIR.value}/{name} differs from {model_dir}'s: "
                                "calibrate a copy of the shipped folder")
    with open(source, encoding="utf-8") as f:
        detector = json.load(f)
    card_path = os.path.join(model_dir, "scorecard.json")
    with open(card_path, encoding="utf-8") as f:
        card = json.load(f)
    rows = held_out_rows(_STREAM_RESULTS.value, _CALIBRATED_DIR.value)
    card["calibrated_detector"] = {
        "fa_per_hour_budget": detector["fa_per_hour_budget"],
        "detector": detector["detector"],
        "calibration_stream": detector["calibration_stream"],
        "held_out_streams": rows,
        "reproduce": _COMMANDS.value or REPRODUCE,
    }
    shutil.copyfile(source, os.path.join(model_dir, "detector.json"))
    with open(card_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    os.replace(card_path + ".tmp", card_path)
    for row in rows:
        c = row["calibrated"]
        print(f"seed {row['recording']['seed']}: {c['miss_rate']:.1%} missed at "
              f"{c['fa_per_hour']:.1f} FA/h (budget {c['budget']:g})")
    print(f"wrote {model_dir}/detector.json and its scorecard's calibrated_detector")


if __name__ == "__main__":
    try:
        app.run(main, sys.argv)
    except UserError as e:
        sys.exit(f"ship_detector: {e}")
