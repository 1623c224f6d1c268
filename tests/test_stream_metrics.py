"""kws.stream_eval.metrics (and .evaluate) on hand-made events and posteriors with known answers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from kws.device.detect import Detection, DetectorConfig
from kws.stream_eval import evaluate
from kws.stream_eval import metrics as sm
from kws.stream_eval import recording
from kws.stream_eval.truth import Event

LABELS = ("_silence_", "_unknown_", "yes", "no")
KEYWORDS = ("yes", "no")


def _d(time_ms, label, score=0.9):
    return Detection(time_ms=float(time_ms), label=label, score=score)


EVENTS = (
    Event(start_s=1.0, end_s=1.5, label="yes"),
    Event(start_s=4.0, end_s=4.4, label="no"),
    Event(start_s=7.0, end_s=7.5, label="_unknown_"),
    Event(start_s=10.0, end_s=10.5, label="yes"),
    Event(start_s=13.0, end_s=13.5, label="no"),
)
DETECTIONS = (
    _d(1400, "yes"),   # hit on event 0, 100 ms before the word ends
    _d(1900, "yes"),   # second detection of event 0: duplicate
    _d(4900, "no"),    # hit on event 1 at exactly end + tolerance
    _d(7300, "yes"),   # on the unknown word: false accept
    _d(8500, "no"),    # in noise: false accept
    _d(10600, "no"),   # 'no' on the 'yes' event 3: wrong label, event 3 missed
    _d(13000, "no"),   # hit on event 4 at its very start
    _d(14020, "no"),   # 20 ms after event 4's window closed: false accept in noise
)


def test_outcomes_of_hand_made_detections():
    matches = sm.match(EVENTS, DETECTIONS, KEYWORDS, tolerance_ms=500)
    assert [(m.outcome, m.event) for m in matches] == [
        (sm.HIT, 0), (sm.DUPLICATE, 0), (sm.HIT, 1), (sm.FA_UNKNOWN, 2),
        (sm.FA_BACKGROUND, None), (sm.WRONG_LABEL, 3), (sm.HIT, 4), (sm.FA_BACKGROUND, None)]


def test_counts_rates_and_latencies():
    m, _ = sm.score(EVENTS, DETECTIONS, KEYWORDS, duration_s=600.0, tolerance_ms=500)
    assert (m.keyword_events, m.hits, m.misses) == (4, 3, 1)
    assert m.miss_rate == 0.25
    assert (m.false_accepts, m.duplicates, m.fa_unknown, m.fa_background) == (4, 1, 1, 2)
    assert m.wrong_label == 1
    assert m.fa_per_hour == pytest.approx(24.0)  # 4 false accepts in 1/6 hour
    # Detection time - word end, in event order: 1.4-1.5, 4.9-4.4, 13.0-13.5 s.
    assert m.latencies_ms == pytest.approx((-100.0, 500.0, -500.0))
    assert m.latency_median_ms == pytest.approx(-100.0)
    # 90th percentile of (-500, -100, 500), linear: position 1.8 -> -100 + 0.8 * 600.
    assert m.latency_p90_ms == pytest.approx(380.0)
    assert m.per_label == {"no": (2, 2), "yes": (2, 1)}
    d = m.to_dict()
    assert d["per_label"]["yes"]["miss_rate"] == 0.5 and d["misses"] == 1


def test_tolerance_edges():
    events = (Event(start_s=2.0, end_s=2.5, label="yes"),)
    inside = sm.match(events, [_d(3000, "yes")], KEYWORDS, tolerance_ms=500)
    outside = sm.match(events, [_d(3020, "yes")], KEYWORDS, tolerance_ms=500)
    before = sm.match(events, [_d(1980, "yes")], KEYWORDS, tolerance_ms=500)
    assert inside[0].outcome == sm.HIT
    assert outside[0].outcome == sm.FA_BACKGROUND
    assert before[0].outcome == sm.FA_BACKGROUND


def test_overlapping_windows_go_to_the_earliest_open_event():
    events = (Event(start_s=1.0, end_s=1.5, label="yes"),
              Event(start_s=2.0, end_s=2.5, label="yes"))
    matches = sm.match(events, [_d(2200, "yes"), _d(2600, "yes"), _d(3000, "yes")], KEYWORDS,
                       tolerance_ms=1000)
    # At 3.0 s event 0's window (to 2.5 s) has closed: a duplicate of event 1.
    assert [(m.outcome, m.event) for m in matches] == [(sm.HIT, 0), (sm.HIT, 1),
                                                       (sm.DUPLICATE, 1)]


def test_no_events_and_no_detections():
    m, _ = sm.score((), (), KEYWORDS, duration_s=1800.0, tolerance_ms=500)
    assert m.miss_rate is None and m.fa_per_hour == 0 and m.latency_median_ms is None
    m, _ = sm.score((), [_d(500, "no")], KEYWORDS, duration_s=1800.0, tolerance_ms=500)
    assert m.false_accepts == 1 and m.fa_per_hour == pytest.approx(2.0)


def test_bad_input_is_refused():
    overlapping = (Event(start_s=1.0, end_s=2.0, label="yes"), Event(start_s=1.5, end_s=2.5,
                                                                     label="no"))
    with pytest.raises(ValueError, match="overlap"):
        sm.match(overlapping, [], KEYWORDS, 500)
    with pytest.raises(ValueError, match="time order"):
        sm.match(EVENTS, [_d(2000, "yes"), _d(1000, "yes")], KEYWORDS, 500)


# A synthetic posterior sequence: 60 s at a 50 ms hop, silence except for flat plateaus (1 s) where
# one label has posterior h and _silence_ 1 - h. The Detector's 500 ms average then reaches exactly
# h inside a plateau, so a plateau is detected iff h >= threshold.
HOP_MS = 50.0
KEYWORD_PEAKS = ((5.0, "yes", 0.55), (15.0, "no", 0.65), (25.0, "yes", 0.75), (35.0, "no", 0.85),
                 (45.0, "yes", 0.95))
NOISE_PEAKS = ((10.0, "no", 0.6), (30.0, "yes", 0.8))
SWEEP = (0.52, 0.58, 0.62, 0.7, 0.78, 0.82, 0.9, 0.98)


def _posterior_sequence():
    times = HOP_MS * np.arange(1, int(60_000 / HOP_MS) + 1)
    post = np.zeros((len(times), len(LABELS)), np.float32)
    post[:, 0] = 1.0
    for start, label, h in KEYWORD_PEAKS + NOISE_PEAKS:
        on = (times > 1000 * start + 200) & (times <= 1000 * start + 1200)
        post[on, 0], post[on, LABELS.index(label)] = 1 - h, h
    events = tuple(Event(start_s=s, end_s=s + 0.5, label=label) for s, label, _ in KEYWORD_PEAKS)
    return times, post, events


def test_sweep_counts_match_the_plateau_heights():
    times, post, events = _posterior_sequence()
    rows = sm.sweep(LABELS, DetectorConfig(), times, post, events, 60.0, SWEEP, tolerance_ms=1000)
    assert [r.threshold for r in rows] == sorted(SWEEP)
    for r in rows:
        hits = sum(h >= r.threshold for _, _, h in KEYWORD_PEAKS)
        fas = sum(h >= r.threshold for _, _, h in NOISE_PEAKS)
        assert (r.metrics.hits, r.metrics.false_accepts) == (hits, fas), r.threshold
        assert r.fa_per_hour == pytest.approx(60.0 * fas)
        assert r.metrics.wrong_label == 0
    misses = [r.miss_rate for r in rows]
    fa = [r.fa_per_hour for r in rows]
    assert misses == sorted(misses) and fa == sorted(fa, reverse=True)


def test_operating_point_at_most_one_fa_per_hour():
    times, post, events = _posterior_sequence()
    rows = sm.sweep(LABELS, DetectorConfig(), times, post, events, 60.0, SWEEP, tolerance_ms=1000)
    best = sm.operating_point(rows, max_fa_per_hour=1.0)
    # No false accept needs a threshold above 0.8; 0.82 then keeps the 0.85 and 0.95 plateaus.
    assert best.threshold == 0.82 and best.miss_rate == pytest.approx(0.6)
    assert sm.operating_point(rows, max_fa_per_hour=61.0).threshold == 0.62  # one FA (60 FA/h)
    low_only = [r for r in rows if r.threshold < 0.8]
    assert sm.operating_point(low_only, max_fa_per_hour=1.0) is None


def test_operating_point_ties():
    def row(threshold, hits, fas):
        m = sm.StreamMetrics(duration_s=3600.0, keyword_events=10, hits=hits, false_accepts=fas,
                             duplicates=0, fa_unknown=0, fa_background=fas, wrong_label=0,
                             latencies_ms=(), per_label={})
        return sm.SweepRow(threshold=threshold, metrics=m)

    rows = [row(0.5, 9, 1), row(0.6, 9, 0), row(0.7, 9, 0), row(0.8, 5, 0)]
    assert sm.operating_point(rows, 1.0).threshold == 0.7  # same misses and FAs: higher threshold
    assert sm.operating_point(rows[:1], 0.5) is None


def test_run_detector_keeps_the_detectors_average():
    times, post, _ = _posterior_sequence()
    config = DetectorConfig()
    found, smoothed = sm.run_detector(LABELS, config, times, post, keep_smoothed=True)
    plain, none = sm.run_detector(LABELS, config, times, post)
    assert none is None and found == plain
    assert np.isnan(smoothed[:2]).all() and not np.isnan(smoothed[2:]).any()
    # The average of the windows that ended within the last 500 ms: 10 windows at a 50 ms hop.
    i = 300
    np.testing.assert_allclose(smoothed[i], post[i - 9:i + 1].mean(axis=0), atol=1e-6)
    # At threshold 0.9 only the 0.95 plateau (45 s, 'yes') fires.
    high, _ = sm.run_detector(LABELS, dataclasses.replace(config, threshold=0.9), times, post)
    assert [(d.label, 45_200 < d.time_ms <= 46_200) for d in high] == [("yes", True)]


class _FakeSource:
    """A PosteriorSource that returns the synthetic posterior sequence, whatever the audio."""

    labels, sample_rate_hz, clip_samples, hop_samples = LABELS, 16000, 16000, 800
    description = "fake"

    def posteriors(self, samples):
        times, post, _ = _posterior_sequence()
        return times, post


def test_evaluate_writes_the_report_and_pictures(tmp_path):
    _, _, events = _posterior_sequence()
    silent = recording.Recording(samples=np.zeros(60 * 16000, np.int16), sample_rate_hz=16000,
                                 events=events)
    config = evaluate.EvalConfig(detector=DetectorConfig(threshold=0.62), tolerance_ms=1000,
                                 thresholds=SWEEP)
    result = evaluate.evaluate(_FakeSource(), silent, config, str(tmp_path), {"wav": "x.wav"})
    assert (result.metrics.hits, result.metrics.false_accepts) == (4, 1)  # 0.65+ and the 0.8 bump
    assert result.operating_point.threshold == 0.82
    assert "miss rate at <= 1 FA/h: 60.0% at threshold 0.82" in result.note
    for name in evaluate.OUTPUT_FILES:
        assert (tmp_path / name).stat().st_size > 0, name
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["metrics"]["hits"] == 4 and report["recording"]["wav"] == "x.wav"
    assert [r["threshold"] for r in report["sweep"]] == sorted(SWEEP)  # 0.62 is one of them
    rows = (tmp_path / "det.csv").read_text().splitlines()
    assert rows[0].startswith("threshold,miss_rate,fa_per_hour") and len(rows) == len(SWEEP) + 1
    outcomes = [line.split(",")[3] for line in (tmp_path / "detections.csv").read_text()
                .splitlines()[1:]]
    assert sorted(outcomes) == ["fa_background"] + ["hit"] * 4
    default_row = evaluate.format_summary(result).splitlines()[3].split()
    assert default_row[:4] == ["0.62", "20.0%", "60.00", "1"]  # threshold, miss, FA/h, FAs
