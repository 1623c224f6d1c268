"""kws.head.labels: end-aligned per-step targets of a stream-trained head, partial words, the mined
steps and the training chunks, each against a step-by-step reference written here."""

from __future__ import annotations

import numpy as np
import pytest

from kws.head import labels as sl
from kws.stream_eval.truth import Event

KEYWORDS = ("yes", "no", "up")


def _events(seed: int, count: int = 40) -> list[Event]:
    """Words of 0.3-0.9 s, at least 1.1 s apart (more than late_mask_ms), a third other words."""
    rng = np.random.default_rng(seed)
    events, at = [], 1.0
    for _ in range(count):
        length = rng.uniform(0.3, 0.9)
        label = rng.choice(KEYWORDS + ("_unknown_",))
        events.append(Event(start_s=at, end_s=at + length, label=str(label)))
        at += length + rng.uniform(1.1, 2.5)
    return events


def _reference(t: float, events, config: sl.StepLabelConfig) -> tuple[int, int]:
    """(class, kind) of one step, rule by rule (the module docstring's table)."""
    for e in events:
        if e.label not in KEYWORDS:
            continue
        d = t - e.end_s
        if 0 <= d <= config.positive_tail_ms / 1000:
            return KEYWORDS.index(e.label) + 1, sl.KIND_POSITIVE
        if config.positive_tail_ms / 1000 < d <= config.late_mask_ms / 1000:
            return 0, sl.KIND_MASKED
        if -config.cut_mask_ms / 1000 <= d < 0:
            return 0, sl.KIND_MASKED
        if t > e.start_s and d < -config.cut_mask_ms / 1000:
            return 0, sl.KIND_PARTIAL if config.cut_words == "negative" else sl.KIND_MASKED
    return 0, sl.KIND_NEGATIVE


@pytest.mark.parametrize("cut_words", sl.CUT_WORDS)
@pytest.mark.parametrize("tail_ms", [200.0, 400.0])
def test_step_labels_follow_the_rules_step_by_step(cut_words, tail_ms):
    events = _events(seed=int(tail_ms))
    config = sl.StepLabelConfig(positive_tail_ms=tail_ms, cut_words=cut_words)
    t = np.arange(0.0, events[-1].end_s + 3.0, 0.08) + 0.0123  # steps every 80 ms
    classes, kind = sl.step_labels(t, events, KEYWORDS, config)
    expected = [_reference(x, events, config) for x in t]
    assert classes.tolist() == [c for c, _ in expected]
    assert kind.tolist() == [k for _, k in expected]
    keyword_events = [e for e in events if e.label in KEYWORDS]
    # every keyword gets end-aligned positives: tail_ms / 80 ms of them, give or take one
    for e in keyword_events:
        pos = (kind == sl.KIND_POSITIVE) & (t >= e.end_s) & (t <= e.end_s + 1)
        assert abs(pos.sum() - tail_ms / 80) <= 1
        assert set(classes[pos]) == {KEYWORDS.index(e.label) + 1}
    assert (kind == sl.KIND_PARTIAL).any() == (cut_words == "negative")


def test_partial_word_negatives_never_hold_a_whole_keyword():
    events = _events(seed=7, count=80)
    config = sl.StepLabelConfig(cut_mask_ms=0.0)
    t = np.sort(np.random.default_rng(1).uniform(0, events[-1].end_s + 2, 5000))
    classes, kind = sl.step_labels(t, events, KEYWORDS, config)
    partial = t[kind == sl.KIND_PARTIAL]
    assert len(partial) > 100
    for x in partial:  # the step ends inside a keyword, before its end: the word is cut off
        inside = [e for e in events if e.start_s < x < e.end_s]
        assert len(inside) == 1 and inside[0].label in KEYWORDS
    assert not classes[kind == sl.KIND_PARTIAL].any()
    # no step inside an other word or between words is anything but negative
    other = [e for e in events if e.label not in KEYWORDS]
    for e in other:
        assert (kind[(t > e.start_s) & (t < e.end_s)] == sl.KIND_NEGATIVE).all()


def test_steps_without_a_full_view_are_masked_and_weights_follow_kinds():
    events = [Event(start_s=0.1, end_s=0.5, label="yes"), Event(start_s=3, end_s=3.5, label="no")]
    t = np.arange(0.0, 5.0, 0.08)
    _, kind = sl.step_labels(t, events, KEYWORDS, sl.StepLabelConfig(), first_step=15)
    assert (kind[:15] == sl.KIND_MASKED).all()
    w = sl.step_weights(kind, negative_weight=3.0, partial_weight=0.5)
    assert w.tolist() == [{sl.KIND_POSITIVE: 1.0, sl.KIND_NEGATIVE: 3.0, sl.KIND_PARTIAL: 0.5,
                           sl.KIND_MASKED: 0.0}[k] for k in kind.tolist()]


def test_bad_label_settings_are_refused():
    with pytest.raises(ValueError, match="cut_words"):
        sl.StepLabelConfig(cut_words="drop")
    with pytest.raises(ValueError, match="positive_tail_ms"):
        sl.StepLabelConfig(positive_tail_ms=1200.0, late_mask_ms=1000.0)


def test_mining_keeps_exactly_the_steps_that_fired():
    rng = np.random.default_rng(3)
    post = rng.dirichlet(np.full(4, 0.3), size=2000)
    fired = sl.fired_steps(post, 0.6)
    expected = [i for i in range(len(post)) if max(post[i, 1:]) >= 0.6]  # class 0: not a keyword
    assert fired.tolist() == expected
    assert 0 < len(fired) < len(post)


def test_chunk_outputs_are_the_steps_of_their_newest_embedding():
    n, view, length = 1000, 16, 128
    embeddings = np.arange(n, dtype=np.float32)[:, None].repeat(96, axis=1)
    classes = np.arange(n, dtype=np.int32)
    weights = np.arange(n, dtype=np.float32) / 10
    for offset in (0, 5, 127):
        x, y, w = sl.chunks(embeddings, classes, weights, view, length, offset)
        starts = list(range(offset, n - view - length + 2, length))
        assert len(x) == len(starts) and x.shape[1:] == (view - 1 + length, 96)
        for c, s in enumerate(starts):
            assert x[c, 0, 0] == s and x[c, -1, 0] == s + view - 1 + length - 1
            assert y[c].tolist() == list(range(s + view - 1, s + view - 1 + length))
            assert w[c] == pytest.approx(np.arange(s + view - 1, s + view - 1 + length) / 10)
    x, y, _ = sl.chunks(embeddings[:100], classes[:100], weights[:100], view, length, 0)
    assert x.shape == (0, view - 1 + length, 96) and y.shape == (0, length)
