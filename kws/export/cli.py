"""`kws-export` (also `python export/export_main.py`): training run -> TFLite, C array, report.

    kws-export --workdir=runs/ds_cnn --output_dir=runs/ds_cnn/export
    kws-export --workdir=runs/ds_cnn --output_dir=out \
        --eval_dirs=../shared/data/speech_commands_test_v0.02_dev

Writes model_float.tflite and model_int8.tflite (waveform in: float32 [1, clip_samples] in [-1, 1];
probabilities out; front end float inside the graph), model_features_int8.tflite with
model_data.cc/.h and model_settings.h for TFLite Micro, labels.txt, frontend.json and
export_report.json, and prints the report's table.
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags
from absl import logging

from kws import cli
from kws.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", None, "A kws-train working directory.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Export folder to write.", required=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "best, last, stream_best, or a .keras file "
                                  "of the run.")
_CALIBRATION_CLIPS = flags.DEFINE_integer("calibration_clips", 400, "Training clips that calibrate "
                                          "int8 quantization (never test clips).", lower_bound=1)
_CALIBRATION_SEED = flags.DEFINE_integer("calibration_seed", 0, "Which training clips calibrate.")
_EVAL_DIRS = flags.DEFINE_list("eval_dirs", [], "Further folder trees with the run's labels, "
                               "scored whole besides the test split.")
_BACKGROUND_NOISE_DIR = flags.DEFINE_string("background_noise_dir", "", "Noise for generated "
                                            "_silence_ examples of --eval_dirs.")
_LATENCY_RUNS = flags.DEFINE_integer("latency_runs", 200, "Invokes timed per model.", lower_bound=1)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # the converter logs every step at INFO under absl
    # TensorFlow is imported here, after flag parsing, so `--help` stays fast.
    from kws.export import exporter  # pylint: disable=import-outside-toplevel
    from kws.export import report  # pylint: disable=import-outside-toplevel

    config = exporter.ExportConfig(
        workdir=_WORKDIR.value, output_dir=_OUTPUT_DIR.value, checkpoint=_CHECKPOINT.value,
        calibration_clips=_CALIBRATION_CLIPS.value, calibration_seed=_CALIBRATION_SEED.value,
        eval_dirs=tuple(_EVAL_DIRS.value), background_noise_dir=_BACKGROUND_NOISE_DIR.value,
        latency_runs=_LATENCY_RUNS.value)
    result = exporter.export(config)
    print(report.format_table(result))
    print(f"wrote {os.path.abspath(config.output_dir)}")
    return 0


def run() -> None:
    """Console script `kws-export`."""
    cli.run_command(sys.modules[__name__], "kws-export", sys.argv[1:])


if __name__ == "__main__":
    run()
