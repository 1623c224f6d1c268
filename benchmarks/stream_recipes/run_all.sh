#!/usr/bin/env bash
# The stream ablation of benchmarks/README.md ("Stream-trained detectors"), from a clean checkout
# with ../shared beside it, after `bash tools/install.sh`: builds the two merged trees, trains every
# recipe of this folder (about 10 minutes each on 2 cores), mines, exports, calibrates on the
# validation streams, and prints the side-by-side table (shipped model, recipes, MLPerf reference).
# Every step resumes or is skipped when its output is there: rerun after a kill.
#
#   bash benchmarks/stream_recipes/run_all.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
py=.venv/bin/python
shared=../shared/data
here=benchmarks/stream_recipes

for tree in rv_x6 rv_val rv_valu; do
  extra=()
  [[ $tree == rv_val ]] && extra=(--real_validation_percentage=15)
  [[ $tree == rv_valu ]] && extra=(--real_validation_percentage=15  # v5: real v0.01 other words too
    --extra_real_dirs=$shared/speech_commands_v0.01_unknown_words --extra_real_repeat=2)
  [[ -f runs/$tree/merged_data/real_voices_split.json ]] ||
    $py benchmarks/real_voices.py --real_dir=$shared/speech_commands_test_v0.02_dev \
      --noise_dir=$shared/_background_noise_ --workdir=runs/$tree --real_repeat=6 \
      "${extra[@]}" --prepare_only
done

train() { .venv/bin/kws-train --flagfile=$here/$1.flags; }
export_run() {
  [[ -f runs/stream_$1/export/stream_int8.tflite ]] ||
    .venv/bin/kws-export --workdir=runs/stream_$1 --checkpoint=last --output_dir=runs/stream_$1/export
}
calibrate() {  # $1 recipe, $2 merged tree whose validation split calibrates, $3 minutes, [$4 export]
  local export=${4:-runs/stream_$1/export}
  [[ -f $export/detector.json ]] ||
    .venv/bin/kws-stream-eval --model_dir=$export --variant=stream_int8 \
      --data_dir=runs/$2/merged_data --split=validation \
      --negative_dirs=$shared/arabic_speech_commands_negatives --validation_percentage=10 \
      --testing_percentage=30 --unknown_share=0.45 --duration_minutes=$3 \
      --calibrate_fa_per_hour=2 --output_dir=$export/../calib_$(basename $export)
}

for r in neg v1 v2; do train $r; export_run $r; done
.venv/bin/kws mine --workdir=runs/stream_v1 --output_dir=runs/stream_v1/mined --threshold=0.5 \
  --max_windows=3000
for r in v3 v4; do train $r; export_run $r; done
calibrate v1 rv_x6 30
calibrate v3 rv_val 40
calibrate v4 rv_val 40
train v5; export_run v5  # v5 also keeps the epoch chosen on its validation stream
[[ -f runs/stream_v5/export_stream_best/stream_int8.tflite ]] ||
  .venv/bin/kws-export --workdir=runs/stream_v5 --checkpoint=stream_best \
    --output_dir=runs/stream_v5/export_stream_best
calibrate v5 rv_valu 40
calibrate v5 rv_valu 40 runs/stream_v5/export_stream_best
$py benchmarks/stream_side_by_side.py --output_dir=runs/stream_bench_all \
  --export_dirs=runs/stream_neg/export,runs/stream_v1/export,runs/stream_v2/export,runs/stream_v3/export,runs/stream_v4/export,runs/stream_v5/export,runs/stream_v5/export_stream_best
