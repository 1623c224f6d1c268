r"""Pools the folds of a real-voices cross-validation into one score over every real speaker.

    for k in 0 1 2 3 4; do
      python benchmarks/real_voices.py --real_dir=../shared/data/speech_commands_test_v0.02_dev \
          --noise_dir=../shared/data/_background_noise_ --workdir=runs/cv5_f$k --real_repeat=6 \
          --real_folds=5 --real_fold=$k --output=runs/cv5_f$k.json
    done
    python benchmarks/real_voices_cv.py --folds=runs/cv5_f0.json,runs/cv5_f1.json,...

Each fold's JSON (real_voices.py --output) scores one kws run on the speakers that run never heard,
with the MLPerf Tiny reference on the same clips. The folds' held-out hash ranges must tile
[0, 100) without overlap, so that every real speaker is scored exactly once, by a model that did not
train on them. Each fold must hold exactly one kws run (one row of each kind); the pooled accuracy
is the share of all clips each model got right.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json
import sys

from absl import app
from absl import flags

_FOLDS = flags.DEFINE_list("folds", None, "real_voices.py --output JSON files, one per fold.",
                           required=True)

KINDS = ("(Keras float)", "(int8, features in)", "(int8, waveform in)")
REFERENCE = "MLPerf Tiny reference, held-out clips"


class FoldError(ValueError):
    """The fold files do not make one cross-validation."""


def _row(path: str, rows: list[dict], kind: str) -> dict | None:
    found = [r for r in rows if r["model"].startswith("kws ") and r["model"].endswith(kind)]
    if len(found) > 1:
        raise FoldError(f"{path}: {len(found)} kws rows '{kind}' (score one run per fold)")
    return found[0] if found else None


def pool(folds: dict[str, dict]) -> list[dict]:
    """Rows (model, clips, speakers, correct, accuracy): the reference and each kws kind, summed."""
    ranges = sorted((tuple(d["held_out_hash_percent"]), path) for path, d in folds.items())
    edge = 0.0
    for (low, high), path in ranges:
        if abs(low - edge) > 1e-9:
            raise FoldError(f"{path}: held-out range [{low:g}, {high:g}) does not start where the "
                            f"previous fold ends ({edge:g}): the folds must tile [0, 100)")
        edge = high
    if abs(edge - 100.0) > 1e-9:
        raise FoldError(f"the folds end at {edge:g}, not 100: a fold is missing")
    # the kinds any fold scores (waveform-in rows exist only for scored exports, an embedding
    # measurement has only a float row): every fold must then score them all
    kinds = [REFERENCE] + [kind for kind in KINDS
                           if any(_row(path, data["rows"], kind) for path, data in folds.items())]
    pooled = []
    for name in kinds:
        clips = speakers = correct = 0
        per_label: dict[str, list[int]] | None = {}
        for path, data in folds.items():
            if name == REFERENCE:
                found = [r for r in data["rows"] if r["model"] == REFERENCE]
                row = found[0] if len(found) == 1 else None
            else:
                row = _row(path, data["rows"], name)
            if row is None:
                raise FoldError(f"{path}: no row '{name}'")
            clips += row["clips"]
            speakers += row["speakers"]
            correct += round(row["accuracy"] * row["clips"])
            if per_label is not None and "per_label" in row:
                for label, (right, count) in row["per_label"].items():
                    sums = per_label.setdefault(label, [0, 0])
                    sums[0] += right
                    sums[1] += count
            else:  # a fold written before per-label counts: no per-label figures at all
                per_label = None
        label = name if name == REFERENCE else f"kws {name}"
        pooled.append({"model": label, "clips": clips, "speakers": speakers,
                       "correct": correct, "accuracy": correct / clips,
                       "recall": {k: r / n for k, (r, n) in sorted(per_label.items()) if n}
                       if per_label else {}})
    return pooled


def format_recall(rows: list[dict]) -> str:
    """Per-label recall of each pooled row ('' when the folds have no per-label counts)."""
    labels = sorted({label for r in rows for label in r["recall"]},
                    key=lambda k: (not k.startswith("_"), k))
    if not labels:
        return ""
    width = max(len(r["model"]) for r in rows)
    lines = [f"{'recall':<{width}} " + " ".join(f"{k:>9}" for k in labels)]
    for r in rows:
        lines.append(f"{r['model']:<{width}} " + " ".join(
            f"{r['recall'][k]:>9.1%}" if k in r["recall"] else f"{'-':>9}" for k in labels))
    return "\n".join(lines)


def main(argv):
    del argv
    folds = {}
    for path in _FOLDS.value:
        with open(path, encoding="utf-8") as f:
            folds[path] = json.load(f)
        if not {"held_out_hash_percent", "rows"} <= set(folds[path]):
            raise SystemExit(f"real_voices_cv.py: {path} is not a real_voices.py --output file "
                             "(no held_out_hash_percent and rows)")
    try:
        rows = pool(folds)
    except FoldError as e:
        raise SystemExit(f"real_voices_cv.py: {e}") from e
    print(f"{len(folds)} folds, every real speaker scored once by a model that never heard them")
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':<{width}} {'clips':>6} {'speakers':>9} {'accuracy':>9}")
    for r in rows:
        print(f"{r['model']:<{width}} {r['clips']:>6} {r['speakers']:>9} {r['accuracy']:>9.2%}")
    recall = format_recall(rows)
    if recall:
        print("\n" + recall)


if __name__ == "__main__":
    app.run(main, sys.argv)
