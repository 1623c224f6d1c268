"""Accuracy, per-class precision/recall and the confusion matrix (text table and PNG).

Works on any predictor: a Keras model here, TFLite interpreters in the exporter, so every model is
scored by the same code.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Iterable, Sequence

import numpy as np

from kws.training.checkpoint import write_atomic


def compute_metrics(labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]) -> dict:
    """labels, predictions: int class ids [n]. Returns plain-JSON metrics."""
    n = len(class_names)
    labels, predictions = np.asarray(labels, int), np.asarray(predictions, int)
    confusion = np.zeros((n, n), np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    per_class = {}
    for i, name in enumerate(class_names):
        tp = int(confusion[i, i])
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i].sum())
        per_class[name] = {"precision": tp / predicted if predicted else 0.0,
                           "recall": tp / actual if actual else 0.0, "support": actual}
    return {"accuracy": float(np.mean(labels == predictions)) if len(labels) else 0.0,
            "examples": int(len(labels)), "labels": list(class_names),
            "per_class": per_class, "confusion": confusion.tolist()}


MAX_MISCLASSIFIED = 500
"""Most misclassified clips an evaluation lists (the most confident mistakes); all are counted."""


def misclassified_clips(paths: Sequence[str], labels: np.ndarray, scores: np.ndarray,
                        class_names: Sequence[str], limit: int = MAX_MISCLASSIFIED) -> list[dict]:
    """The wrong examples, most confident mistake first, at most ``limit``.

    Args:
      paths: the clip file of each example ('' for a generated _silence_ example).
      labels: int class ids [n]; scores: float [n, classes].
    Returns:
      [{'path': absolute path or '', 'label': true name, 'predicted': name,
        'top3': [{'label': name, 'score': float}, ...]}].
    """
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths for {len(labels)} examples")
    predicted = np.argmax(scores, axis=-1)
    wrong = np.flatnonzero(predicted != labels)
    wrong = wrong[np.argsort(-scores[wrong, predicted[wrong]], kind="stable")][:limit]
    clips = []
    for i in wrong:
        top = np.argsort(-scores[i], kind="stable")[:3]
        clips.append({"path": os.path.abspath(paths[i]) if paths[i] else "",
                      "label": class_names[labels[i]], "predicted": class_names[predicted[i]],
                      "top3": [{"label": class_names[k], "score": float(scores[i, k])}
                               for k in top]})
    return clips


def evaluate_predictor(predict: Callable[[np.ndarray], np.ndarray],
                       batches: Iterable, class_names: Sequence[str],
                       paths: Sequence[str] | None = None) -> dict:
    """Runs ``predict`` (features [batch, ...] -> scores [batch, classes]) over (x, y) batches.

    With ``paths`` (the clip of each example, in batch order: the split's entries), the result also
    has 'misclassified' (misclassified_clips) and 'misclassified_count' (all of them).
    """
    ys, all_scores = [], []
    for x, y in batches:
        all_scores.append(np.asarray(predict(np.asarray(x))))
        ys.append(np.asarray(y))
    labels, scores = np.concatenate(ys), np.concatenate(all_scores)
    result = compute_metrics(labels, np.argmax(scores, axis=-1), class_names)
    if paths is not None:
        result["misclassified"] = misclassified_clips(paths, labels, scores, class_names)
        result["misclassified_count"] = int(np.sum(np.argmax(scores, axis=-1) != labels))
    return result


def evaluate_keras(model, dataset, class_names: Sequence[str],
                   paths: Sequence[str] | None = None) -> dict:
    return evaluate_predictor(lambda x: model(x, training=False).numpy(), dataset, class_names,
                              paths)


def format_report(result: dict) -> str:
    """Accuracy line, per-class table, and the confusion matrix (rows: true, columns: predicted)."""
    names = result["labels"]
    w = max(9, max(len(n) for n in names))
    lines = [f"accuracy {result['accuracy']:.2%} on {result['examples']} examples", "",
             f"{'label':<{w}} {'precision':>9} {'recall':>7} {'support':>7}"]
    for name in names:
        c = result["per_class"][name]
        lines.append(f"{name:<{w}} {c['precision']:>9.1%} {c['recall']:>7.1%} {c['support']:>7}")
    lines += ["", "confusion (rows: true, columns: predicted)",
              " " * (w + 1) + " ".join(f"{n[:6]:>6}" for n in names)]
    for name, row in zip(names, result["confusion"]):
        lines.append(f"{name:<{w}} " + " ".join(f"{v:>6}" for v in row))
    return "\n".join(lines)


def plot_confusion(result: dict, path: str, title: str = "") -> None:
    """Confusion matrix as a PNG (row-normalised colours, counts written in the cells)."""
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top

    names, counts = result["labels"], np.array(result["confusion"])
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.5 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {result['accuracy']:.2%} ({result['examples']} clips)")
    for i in range(len(names)):
        for j in range(len(names)):
            if counts[i, j]:
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def write_report(result: dict, folder: str, name: str) -> None:
    """<folder>/eval_<name>.json, eval_<name>.txt and confusion_<name>.png."""
    write_atomic(os.path.join(folder, f"eval_{name}.json"), json.dumps(result, indent=2))
    write_atomic(os.path.join(folder, f"eval_{name}.txt"), format_report(result) + "\n")
    plot_confusion(result, os.path.join(folder, f"confusion_{name}.png"))
