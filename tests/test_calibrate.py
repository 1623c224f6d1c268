"""Threshold calibration (kws.stream_eval.calibrate) on hand-made score streams."""

import dataclasses
import json

import numpy as np
import pytest

from kws.device import detect
from kws.stream_eval import calibrate
from kws.stream_eval import metrics as sm
from kws.stream_eval.truth import Event

LABELS = ("_silence_", "_unknown_", "yes", "no")
HOP_MS = 40.0


def _stream(seed=0, minutes=10):
    """Posteriors every 40 ms: 'yes' words score high (0.8-0.99), 'no' words lower (0.55-0.9);
    other words and noise give some spurious peaks of both, 'no' more often."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60_000 / HOP_MS)
    times = HOP_MS * (np.arange(n) + 25)
    post = np.zeros((n, 4))
    post[:, 0] = 1.0
    events = []
    t = 2000.0
    while t < times[-1] - 4000:
        kind = rng.choice(["yes", "no", "_unknown_"], p=[0.35, 0.35, 0.3])
        start, end = t, t + 600
        i = int(np.searchsorted(times, end))
        width = 8
        if kind == "yes":
            peak = rng.uniform(0.8, 0.99)
        elif kind == "no":
            peak = rng.uniform(0.55, 0.9)
        else:
            peak = rng.uniform(0.3, 0.85)
            kind_label = rng.choice([2, 3], p=[0.3, 0.7])
        label = {"yes": 2, "no": 3}.get(kind, None)
        label = kind_label if label is None else label
        post[i:i + width] = 0.0
        post[i:i + width, label] = peak
        post[i:i + width, 1] = 1 - peak
        events.append(Event(start_s=start / 1000, end_s=end / 1000, label=str(kind)))
        t = end + rng.uniform(1500, 5000)
    return times, post.astype(np.float32), events, n * HOP_MS / 1000


def test_fast_detections_equal_the_device_detector():
    times, post, _, _ = _stream(minutes=3)
    for window in (120.0, 200.0, 400.0):
        for suppression in (0.0, 1000.0):
            for thresholds in ((), (("yes", 0.3),), (("yes", 0.85), ("no", 0.5))):
                for threshold in (0.3, 0.6, 0.85):
                    config = detect.DetectorConfig(average_window_ms=window, threshold=threshold,
                                                   suppression_ms=suppression,
                                                   label_thresholds=thresholds)
                    slow = detect.Detector(LABELS, config).run(zip(times, post))
                    fast = calibrate.run_fast(LABELS, config, times, post)
                    assert [(d.time_ms, d.label) for d in fast] == \
                        [(d.time_ms, d.label) for d in slow]
                    np.testing.assert_allclose([d.score for d in fast], [d.score for d in slow],
                                               rtol=1e-9)
    # Reporting one label only, as the calibration's per-keyword sweep does.
    config = detect.DetectorConfig(threshold=0.5, ignore_labels=("_silence_", "_unknown_", "no"))
    slow = detect.Detector(LABELS, config).run(zip(times, post))
    assert [d.time_ms for d in calibrate.run_fast(LABELS, config, times, post)] == \
        [d.time_ms for d in slow] and slow


@pytest.mark.parametrize("budget", [0.0, 12.0])
def test_calibration_meets_its_budget_with_per_keyword_thresholds(budget):
    times, post, events, duration = _stream()
    result = calibrate.calibrate(LABELS, times, post, events, duration, budget)
    # Checked by an independent full run of the device Detector with the chosen settings.
    found = detect.Detector(LABELS, result.detector).run(zip(times, post))
    metrics, _ = sm.score(events, found, ("yes", "no"), duration, 1000.0)
    assert metrics.fa_per_hour <= budget
    assert metrics.miss_rate == pytest.approx(result.metrics.miss_rate)
    thresholds = dict(result.detector.label_thresholds)
    assert set(thresholds) == {"yes", "no"}
    # One shared threshold does no better at this budget (the device sweep at the chosen window).
    config = dataclasses.replace(result.detector, label_thresholds=())
    rows = sm.sweep(LABELS, config, times, post, events, duration,
                    calibrate.DEFAULT_THRESHOLDS[::2] + (0.9, 0.95, 0.99), 1000.0)
    best = sm.operating_point(rows, budget)
    if best is not None:
        assert result.metrics.miss_rate <= best.miss_rate + 1e-9


def test_looser_budget_never_misses_more():
    times, post, events, duration = _stream(seed=1)
    rates = [calibrate.calibrate(LABELS, times, post, events, duration, b).metrics.miss_rate
             for b in (0.0, 3.0, 30.0)]
    assert rates[0] >= rates[1] >= rates[2]
    assert rates[2] < rates[0]


def test_a_stream_without_keywords_or_a_budget_no_threshold_meets_is_refused():
    times, post, events, duration = _stream(minutes=3)
    with pytest.raises(ValueError, match="no keyword events"):
        calibrate.calibrate(LABELS, times, post, [e for e in events if e.label == "_unknown_"],
                            duration, 1.0)
    noisy = post.copy()
    noisy[:, 0], noisy[:, 2] = 0.0, 1.0  # 'yes' always at 1.0: fires every suppression period
    with pytest.raises(ValueError, match="no averaging window"):
        calibrate.calibrate(LABELS, times, noisy, events, duration, 1.0, thresholds=(0.5, 0.9))


def test_detector_file_round_trip_and_bad_file(tmp_path):
    config = detect.DetectorConfig(average_window_ms=250, label_thresholds=(("no", 0.7),
                                                                            ("yes", 0.9)))
    detect.save_detector_file(str(tmp_path), config, {"fa_per_hour_budget": 2.0})
    loaded, data = detect.load_detector_file(str(tmp_path))
    assert loaded == config and data["fa_per_hour_budget"] == 2.0
    assert loaded.threshold_of("yes") == 0.9 and loaded.threshold_of("up") == config.threshold
    assert detect.load_detector_file(str(tmp_path / "none")) is None
    (tmp_path / detect.DETECTOR_FILE).write_text(json.dumps({"detector": {"thresh": 1}}))
    with pytest.raises(ValueError, match="not a valid detector file"):
        detect.load_detector_file(str(tmp_path))
    with pytest.raises(ValueError, match="does not have"):
        detect.Detector(LABELS, detect.DetectorConfig(label_thresholds=(("stop", 0.5),)))


@pytest.mark.parametrize("budget", [0.0, 6.0, 30.0])
def test_shared_threshold_is_the_best_single_threshold_within_the_budget(budget):
    times, post, events, duration = _stream(seed=2)
    windows, thresholds = (120.0, 200.0, 400.0), (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
    result = calibrate.calibrate(LABELS, times, post, events, duration, budget,
                                 average_windows_ms=windows, thresholds=thresholds,
                                 shared_threshold=True)
    assert set(dict(result.detector.label_thresholds).values()) == {result.detector.threshold}
    # An independent brute force with the device Detector over the same grid.
    best = None
    for window in windows:
        for threshold in thresholds:
            config = detect.DetectorConfig(average_window_ms=window, threshold=threshold)
            found = detect.Detector(LABELS, config).run(zip(times, post))
            m, _ = sm.score(events, found, ("yes", "no"), duration, 1000.0)
            if m.fa_per_hour <= budget and (best is None or m.miss_rate < best):
                best = m.miss_rate
    assert best is not None
    assert result.metrics.miss_rate == pytest.approx(best)
    found = detect.Detector(LABELS, result.detector).run(zip(times, post))
    m, _ = sm.score(events, found, ("yes", "no"), duration, 1000.0)
    assert m.fa_per_hour <= budget and m.miss_rate == pytest.approx(result.metrics.miss_rate)
    # Per-keyword thresholds have every shared choice among theirs: never more misses.
    per_keyword = calibrate.calibrate(LABELS, times, post, events, duration, budget,
                                      average_windows_ms=windows, thresholds=thresholds)
    assert per_keyword.metrics.miss_rate <= result.metrics.miss_rate + 1e-9
