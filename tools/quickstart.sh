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
"$bin/kws-export" --workdir="$workdir" --output_dir="$workdir/export"

# A clip of a voice the model never heard: the first 'yes' of the synthetic test split.
data_dir="$("$bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["data_dir"])' "$workdir/config.json")"
clip="$data_dir/$(grep -m1 '^yes/' "$data_dir/testing_list.txt")"
echo
echo "device script (numpy + LiteRT, int8 model) on $clip:"
"$bin/kws-infer" --model_dir="$workdir/export" --variant=int8 "$clip"
