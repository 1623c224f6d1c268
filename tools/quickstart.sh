#!/usr/bin/env bash
# The main job, end to end on the built-in synthetic default dataset:
#   1. kws-train: generates the dataset once (~/.cache/kws/synthetic), trains DS-CNN-S, evaluates it on
#      voices never heard in training;
#   2. kws-export: float and int8 TFLite, the C array for microcontrollers, the quantization report;
#   3. kws-infer: the device script (numpy + LiteRT only) classifies a held-out clip with the int8 model.
# Run `bash tools/install.sh` first. Set WORKDIR to train elsewhere; extra arguments go to kws-train.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
workdir="${WORKDIR:-runs/quickstart}"
bin=.venv/bin

"$bin/kws-train" --workdir="$workdir" --epochs=60 --batch_size=50 "$@"
