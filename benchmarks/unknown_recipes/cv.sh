#!/usr/bin/env bash
# Five-fold real-voices cross-validation of one recipe of this folder, pooled over all 124 real
# speakers next to the MLPerf Tiny reference (benchmarks/README.md, "`_unknown_`"). From the
# repository root after `bash tools/install.sh`; each fold is skipped when its score is there, so a
# killed run resumes. About 15 minutes per fold on 2 cores (40 epochs). distilled* recipes first
# train the speech-embedding head of benchmarks/embedding_real_voices.py on the fold's tree and
# learn from its probabilities (kws-train --teacher_probs; ~10 min for the first fold's
# embeddings, cached under runs/emb for the others).
#
#   bash benchmarks/unknown_recipes/cv.sh real_unknown     # or shipped, arabic, ...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
recipe=${1:?usage: cv.sh RECIPE (a .flags file of benchmarks/unknown_recipes)}
flagfile=benchmarks/unknown_recipes/$recipe.flags
[[ -f $flagfile ]] || { echo "cv.sh: no $flagfile" >&2; exit 2; }
py=.venv/bin/python
shared=../shared/data
tree_extra=()
tree=cv5
if [[ $recipe == real_unknown* ]]; then  # these recipes train on the v0.01 clips too
  tree_extra=(--extra_real_dirs=$shared/speech_commands_v0.01_unknown_words --extra_real_repeat=2)
  tree=cv5u
fi
folds=()
for k in 0 1 2 3 4; do
  fold=(--real_dir=$shared/speech_commands_test_v0.02_dev --noise_dir=$shared/_background_noise_
        --real_repeat=6 --real_folds=5 --real_fold=$k --workdir=runs/${tree}_f$k "${tree_extra[@]}")
  out=runs/cv_${recipe}_f$k.json
  if [[ ! -f $out ]]; then
    [[ -f runs/${tree}_f$k/merged_data/real_voices_split.json ]] ||
      $py benchmarks/real_voices.py "${fold[@]}" --prepare_only
    teacher=()
    if [[ $recipe == distilled* ]]; then  # the speech-embedding head of the same tree teaches
      probs=runs/${tree}_f$k/teacher_probs.npz
      [[ -f $probs ]] || $py benchmarks/embedding_real_voices.py \
        --data_dir=runs/${tree}_f$k/merged_data --workdir=runs/emb --teacher_output=$probs \
        --output=runs/cv_teacher_${tree}_f$k.json
      teacher=(--teacher_probs=$probs)
    fi
    .venv/bin/kws-train --flagfile=$flagfile --data_dir=runs/${tree}_f$k/merged_data \
      --workdir=runs/cv_${recipe}_f$k "${teacher[@]}"
    $py benchmarks/real_voices.py "${fold[@]}" --score_only --run_dirs=runs/cv_${recipe}_f$k \
      --checkpoint=last --output=$out.tmp
    mv $out.tmp $out
  fi
  folds+=($out)
done
$py benchmarks/real_voices_cv.py --folds=$(IFS=,; echo "${folds[*]}")
