"""Per-step targets of a stream-trained head, and the steps a hard-negative mining pass keeps.

A head that reads the last ``view`` embeddings (one every 80 ms) gives one posterior per step,
timed at the end of the audio its newest embedding saw. On a generated recording (its events:
kws.stream_eval.truth.Event, the word's active part in ``start_s .. end_s``) each step gets a class
and a weight from the time ``d = t - end_s`` between the step's end and each keyword's end:

==============================  ===============================================================
``0 <= d <= positive_tail``     the keyword (end-aligned: the whole word is in view and ended in
                                the last ``positive_tail_ms``)
``positive_tail < d <= late``   masked (weight 0): the word is still in view, but long done
``-cut_mask < d < 0``           masked: the word is all but finished
``t > start_s, d <= -cut_mask`` a partial word, cut before its end: class 0 (``cut_words``
                                ``"negative"``) or masked (``"masked"``)
anything else                   class 0 (other words, noise, silence)
==============================  ===============================================================

Steps before the head has a full view are masked. Class 0 is "not a keyword" (``_unknown_``);
class k + 1 is the k-th keyword.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

NEGATIVE = 0
KIND_MASKED, KIND_NEGATIVE, KIND_POSITIVE, KIND_PARTIAL = -1, 0, 1, 2
CUT_WORDS = ("negative", "masked")


@dataclasses.dataclass(kw_only=True, frozen=True)
class StepLabelConfig:
    """How the steps of a recording are labelled (module docstring)."""

    positive_tail_ms: float = 400.0
    """A step ending up to this long after a keyword's end is that keyword."""
    late_mask_ms: float = 1000.0
    """After the positive tail and up to this long after the word's end: masked."""
    cut_mask_ms: float = 100.0
    """A step ending less than this before a keyword's end is masked (the word is all but done)."""
    cut_words: str = "negative"
    """Steps inside a keyword, more than cut_mask_ms before its end: "negative" or "masked"."""

    def __post_init__(self):
        if not 0 < self.positive_tail_ms <= self.late_mask_ms:
            raise ValueError("need 0 < positive_tail_ms <= late_mask_ms")
        if self.cut_mask_ms < 0:
            raise ValueError("cut_mask_ms must be >= 0")
        if self.cut_words not in CUT_WORDS:
            raise ValueError(f"cut_words must be one of {', '.join(CUT_WORDS)}")


def step_labels(step_end_s: np.ndarray, events: Sequence, keywords: Sequence[str],
                config: StepLabelConfig, first_step: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """(int32 [n] class, int8 [n] kind) of steps ending at ``step_end_s`` [n] (sorted).

    ``kind`` is KIND_MASKED, KIND_NEGATIVE, KIND_POSITIVE or KIND_PARTIAL (a cut-off keyword
    labelled negative); steps before ``first_step`` (no full view yet) are masked.
    """
    t = np.asarray(step_end_s, np.float64)
    classes = np.zeros(len(t), np.int32)
    kind = np.full(len(t), KIND_NEGATIVE, np.int8)
    index = {k: i + 1 for i, k in enumerate(keywords)}
    tail, late = config.positive_tail_ms / 1000.0, config.late_mask_ms / 1000.0
    cut = config.cut_mask_ms / 1000.0
    for e in events:
        label = index.get(e.label)
        if label is None:
            continue
        inside = slice(np.searchsorted(t, e.start_s, side="right"),
                       np.searchsorted(t, e.end_s - cut, side="left"))
        if config.cut_words == "masked":
            kind[inside] = KIND_MASKED
        else:
            kind[inside] = np.where(kind[inside] == KIND_NEGATIVE, KIND_PARTIAL, kind[inside])
        kind[slice(*np.searchsorted(t, [e.end_s - cut, e.end_s], side="left"))] = KIND_MASKED
        positive = slice(np.searchsorted(t, e.end_s, side="left"),
                         np.searchsorted(t, e.end_s + tail, side="right"))
        kind[positive] = KIND_POSITIVE
        classes[positive] = label
        kind[slice(positive.stop, np.searchsorted(t, e.end_s + late, side="right"))] = KIND_MASKED
    kind[:first_step] = KIND_MASKED
    classes[kind != KIND_POSITIVE] = NEGATIVE
    return classes, kind


def step_weights(kind: np.ndarray, negative_weight: float = 1.0,
                 partial_weight: float | None = None) -> np.ndarray:
    """float32 [n]: 1 for positives, ``negative_weight`` for negatives, ``partial_weight`` (default
    the negative weight) for partial words, 0 for masked steps."""
    partial = negative_weight if partial_weight is None else partial_weight
    return np.select([kind == KIND_POSITIVE, kind == KIND_NEGATIVE, kind == KIND_PARTIAL],
                     [1.0, negative_weight, partial], 0.0).astype(np.float32)


def fired_steps(posteriors: np.ndarray, threshold: float) -> np.ndarray:
    """int64 indices of the steps whose highest keyword posterior (any class but 0) reaches
    ``threshold``: the windows a mining pass over negative-only audio adds to training."""
    return np.flatnonzero(np.max(posteriors[:, 1:], axis=1) >= threshold)


def chunks(embeddings: np.ndarray, classes: np.ndarray, weights: np.ndarray, view: int,
           length: int, offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training chunks of one stream for a head that reads ``view`` embeddings and outputs one
    step per embedding from the view-th on: (float32 [c, view - 1 + length, 96], int32 [c, length],
    float32 [c, length]) of chunks starting at embedding ``offset``, ``offset + length``, ...;
    output j of a chunk that starts at s is the step of embedding s + view - 1 + j."""
    n = len(embeddings)
    starts = np.arange(offset, n - view - length + 2, length)
    if not len(starts):
        return (np.zeros((0, view - 1 + length, embeddings.shape[1]), np.float32),
                np.zeros((0, length), np.int32), np.zeros((0, length), np.float32))
    span = np.arange(view - 1 + length)
    steps = starts[:, None] + view - 1 + np.arange(length)
    return (embeddings[starts[:, None] + span].astype(np.float32), classes[steps],
            weights[steps])
