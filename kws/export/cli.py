"""`kws-export` (also `python export/export_main.py`): training run -> TFLite, C array, report.

    kws-export --workdir=runs/ds_cnn --output_dir=runs/ds_cnn/export
    kws-export --workdir=runs/ds_cnn --output_dir=out \
        --eval_dirs=../shared/data/speech_commands_test_v0.02_dev

Writes model_float.tflite and model_int8.tflite (waveform in: float32 [1, clip_samples] in [-1, 1];
probabilities out; front end float inside the graph), model_features_int8.tflite with
model_data.cc/.h and model_settings.h for TFLite Micro, labels.txt, frontend.json and
export_report.json, and prints the report's table.

    kws-export --embedding_head_dir=runs/emb_stream_head --output_dir=out

exports a head trained on the frozen speech embedding instead (kws.export.embedding_head): its int8
head.tflite, the two front-end models, labels.txt, embedding.json and its calibrated detector.json.
"""

from __future__ import annotations

import os
import sys

from absl import app
from absl import flags
from absl import logging

from kws import cli
from kws.errors import UserError

_WORKDIR = flags.DEFINE_string("workdir", "", "A kws-train working directory.")
_EMBEDDING_HEAD_DIR = flags.DEFINE_string(
    "embedding_head_dir", "", "Instead of --workdir: a head trained on the frozen speech embedding "
    "(head.keras + head.json, as `kws head` and the benchmarks' heads save them).")
_COPY_FRONTEND = flags.DEFINE_bool("copy_frontend", True, "--embedding_head_dir: copy the two "
                                   "speech-embedding models into --output_dir (a whole folder "
                                   "for a device).")
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
    if bool(_WORKDIR.value) == bool(_EMBEDDING_HEAD_DIR.value):
        raise UserError("give one of --workdir (a kws-train run) and --embedding_head_dir (a "
                        "speech-embedding head)")
    # TensorFlow is imported here, after flag parsing, so `--help` stays fast.
    if _EMBEDDING_HEAD_DIR.value:
        from kws.export import embedding_head  # pylint: disable=import-outside-toplevel
        result = embedding_head.export(_EMBEDDING_HEAD_DIR.value, _OUTPUT_DIR.value,
                                       _COPY_FRONTEND.value)
        print(embedding_head.format_report(result))
        print(f"wrote {os.path.abspath(_OUTPUT_DIR.value)}")
        return 0
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
