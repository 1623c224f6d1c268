"""Calibrated detection: per-keyword thresholds and the smoothing window for a false-accept budget.

Given a model's posteriors over a validation stream (speakers the model was not trained on, as
``kws-stream-eval`` makes it from a validation split) and its ground truth, ``calibrate`` picks the
averaging window and one threshold per keyword that miss the fewest keywords while the false
accepts stay within ``fa_per_hour``:

1. for each averaging window, the smoothed posteriors are computed once (exactly the Detector's
   average: the windows that ended within the last ``average_window_ms``);
2. for each keyword and threshold, that keyword's detections are found as a Detector that
   reports only that keyword would find them (threshold, re-arming, suppression), and scored:
   its misses, and its false accepts;
3. the thresholds are combined by an exact knapsack over the keywords: the fewest misses in all
   with at most ``floor(fa_per_hour * hours)`` false accepts in all;
4. the chosen detector is run as it is (all keywords at once, as on the device) and scored; a
   detection of one keyword also suppresses the others there, so when that run exceeds the budget
   the budget of step 3 is lowered by one false accept and the choice made again.

The result is the window and thresholds whose full run (step 4) meets the budget with the fewest
misses; ties go to the longer average, which fires later but more surely.

``shared_threshold=True`` instead gives every keyword one threshold: for each averaging window and
threshold the whole detector is run, and the fewest misses within the budget win. It has ten
times fewer choices to fit to the calibration stream: measured on a held-out test stream
(benchmarks/README.md, "stream-trained speech-embedding head"), per-keyword thresholds chosen on a
60-minute validation stream for 2 FA/h gave 21 FA/h there, one shared threshold 2 FA/h.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from kws.device import detect
from kws.stream_eval import metrics as sm
from kws.stream_eval.truth import Event

DEFAULT_AVERAGE_WINDOWS_MS = (150.0, 250.0, 400.0, 600.0)
DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(4, 18)) + (
    0.875, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99, 0.995)


@dataclasses.dataclass(kw_only=True, frozen=True)
class Calibration:
    """A calibrated detector and what it measured on the calibration stream."""

    detector: detect.DetectorConfig
    """The averaging window and per-keyword thresholds chosen."""
    metrics: sm.StreamMetrics
    """The chosen detector's full run on the calibration stream."""
    fa_per_hour: float
    """The budget it was chosen for."""

    def summary(self) -> dict:
        m = self.metrics
        return {"fa_per_hour_budget": self.fa_per_hour,
                "calibration_stream": {"miss_rate": m.miss_rate, "fa_per_hour": m.fa_per_hour,
                                       "keyword_events": m.keyword_events,
                                       "false_accepts": m.false_accepts,
                                       "duration_s": m.duration_s}}


def smoothed_posteriors(times_ms: np.ndarray, posteriors: np.ndarray, average_window_ms: float,
                        minimum_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(float64 [n, labels] mean of the windows ending in (t - average, t], bool [n] valid: at
    least ``minimum_count`` windows in that average), as detect.Detector averages them."""
    times_ms = np.asarray(times_ms, np.float64)
    cumulative = np.concatenate([np.zeros((1, posteriors.shape[1])),
                                 np.cumsum(np.asarray(posteriors, np.float64), axis=0)])
    first = np.searchsorted(times_ms, times_ms - average_window_ms, side="right")
    index = np.arange(len(times_ms))
    count = index + 1 - first
    mean = (cumulative[index + 1] - cumulative[first]) / np.maximum(count, 1)[:, None]
    return mean, count >= minimum_count


def fast_detections(times_ms: np.ndarray, smoothed: np.ndarray, valid: np.ndarray,
                    thresholds: np.ndarray, suppression_ms: float) -> list[tuple[int, int]]:
    """(index, label) of every detection detect.Detector makes on these smoothed posteriors,
    with one threshold per label (np.inf for labels never reported), in a fraction of its time:
    only the windows where the top label reaches its threshold are visited."""
    n = len(times_ms)
    top = np.argmax(smoothed, axis=1)
    top_score = smoothed[np.arange(n), top]
    candidates = np.flatnonzero(valid & (top_score >= thresholds[top]))
    below = np.concatenate([np.zeros((1, smoothed.shape[1]), np.int64),
                            np.cumsum(valid[:, None] & (smoothed < thresholds[None, :]), axis=0)])
    last_of: dict[int, int] = {}
    last_ms = -np.inf
    fired = []
    for i in candidates:
        label = int(top[i])
        if times_ms[i] - last_ms < suppression_ms:
            continue
        if label in last_of and below[i, label] - below[last_of[label] + 1, label] == 0:
            continue  # not re-armed: never fell below its threshold since it fired
        fired.append((int(i), label))
        last_of[label] = int(i)
        last_ms = times_ms[i]
    return fired


def label_thresholds(labels: Sequence[str], config: detect.DetectorConfig) -> np.ndarray:
    """float64 [labels]: each label's threshold under ``config``, np.inf for ignored labels."""
    return np.array([np.inf if label in config.ignore_labels else config.threshold_of(label)
                     for label in labels])


def run_fast(labels: Sequence[str], config: detect.DetectorConfig, times_ms: np.ndarray,
             posteriors: np.ndarray) -> list[detect.Detection]:
    """What ``metrics.run_detector`` returns (the Detector's detections), computed fast."""
    times_ms = np.asarray(times_ms, np.float64)
    smoothed, valid = smoothed_posteriors(times_ms, posteriors, config.average_window_ms,
                                          config.minimum_count)
    return [detect.Detection(time_ms=float(times_ms[i]), label=labels[k],
                             score=float(smoothed[i, k]))
            for i, k in fast_detections(times_ms, smoothed, valid, label_thresholds(labels, config),
                                        config.suppression_ms)]


def _choose(options: list[list[tuple[float, int, int]]], budget: int) -> tuple[int, list[int]]:
    """Knapsack: one (threshold, misses, false accepts) option per keyword; the fewest misses with
    at most ``budget`` false accepts. Returns (misses, chosen option index per keyword)."""
    inf = math.inf
    best = [(0, [])] + [(inf, [])] * budget  # best[b]: fewest misses with exactly b FAs
    for keyword_options in options:
        new = [(inf, [])] * (budget + 1)
        for b, (misses, chosen) in enumerate(best):
            if misses == inf:
                continue
            for k, (_, m, fa) in enumerate(keyword_options):
                if b + fa <= budget and misses + m < new[b + fa][0]:
                    new[b + fa] = (misses + m, chosen + [k])
        best = new
    return min(best, key=lambda x: x[0])


def calibrate(labels: Sequence[str], times_ms: np.ndarray, posteriors: np.ndarray,
              events: Sequence[Event], duration_s: float, fa_per_hour: float,
              base: detect.DetectorConfig = detect.DetectorConfig(),
              average_windows_ms: Sequence[float] = DEFAULT_AVERAGE_WINDOWS_MS,
              thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
              tolerance_ms: float = 1000.0, shared_threshold: bool = False) -> Calibration:
    """The detector for ``fa_per_hour`` on this stream (module docstring): one threshold per
    keyword, or with ``shared_threshold`` one for all.

    Raises ValueError when the stream has no keyword events or no choice meets the budget.
    """
    if fa_per_hour < 0:
        raise ValueError("fa_per_hour must be >= 0")
    keywords = sm.keywords_of(labels, base)
    if not any(e.label in keywords for e in events):
        raise ValueError("the calibration stream has no keyword events")
    times_ms = np.asarray(times_ms, np.float64)
    if shared_threshold:
        return _calibrate_shared(labels, times_ms, posteriors, events, duration_s, fa_per_hour,
                                 base, average_windows_ms, thresholds, tolerance_ms)
    best: Calibration | None = None
    for window_ms in sorted(average_windows_ms):
        config = dataclasses.replace(base, average_window_ms=float(window_ms))
        smoothed, valid = smoothed_posteriors(times_ms, posteriors, window_ms, base.minimum_count)
        options = []
        for keyword in keywords:
            label = labels.index(keyword)
            rows = []
            only = np.full(len(labels), np.inf)
            for threshold in sorted(set(thresholds)):
                only[label] = threshold
                found = [detect.Detection(time_ms=float(times_ms[i]), label=keyword,
                                          score=float(smoothed[i, label]))
                         for i, _ in fast_detections(times_ms, smoothed, valid, only,
                                                     base.suppression_ms)]
                metrics, _ = sm.score(events, found, keywords, duration_s, tolerance_ms)
                total, hits = metrics.per_label.get(keyword, (0, 0))
                rows.append((threshold, total - hits, metrics.false_accepts))
            options.append(rows)
        budget = int(math.floor(fa_per_hour * duration_s / 3600.0 + 1e-9))
        while budget >= 0:
            misses, chosen = _choose(options, budget)
            if misses == math.inf:
                break
            config = dataclasses.replace(config, label_thresholds=tuple(
                (k, options[i][c][0]) for i, (k, c) in enumerate(zip(keywords, chosen))))
            found = run_fast(labels, config, times_ms, posteriors)
            metrics, _ = sm.score(events, found, keywords, duration_s, tolerance_ms)
            if metrics.fa_per_hour <= fa_per_hour + 1e-9:
                candidate = Calibration(detector=config, metrics=metrics, fa_per_hour=fa_per_hour)
                if best is None or metrics.miss_rate <= best.metrics.miss_rate:
                    best = candidate
                break
            budget -= 1
    return _found(best, fa_per_hour)


def _found(best: Calibration | None, fa_per_hour: float) -> Calibration:
    if best is None:
        raise ValueError(f"no averaging window and thresholds keep false accepts at or under "
                         f"{fa_per_hour:g}/h on the calibration stream; add thresholds closer "
                         "to 1 or a longer stream")
    return best


def _calibrate_shared(labels, times_ms, posteriors, events, duration_s, fa_per_hour, base,
                      average_windows_ms, thresholds, tolerance_ms) -> Calibration:
    """calibrate(shared_threshold=True): the whole detector at each window and threshold."""
    keywords = sm.keywords_of(labels, base)
    best: Calibration | None = None
    for window_ms in sorted(average_windows_ms):
        for threshold in sorted(set(thresholds)):
            config = dataclasses.replace(
                base, average_window_ms=float(window_ms), threshold=float(threshold),
                label_thresholds=tuple((k, float(threshold)) for k in keywords))
            found = run_fast(labels, config, times_ms, posteriors)
            metrics, _ = sm.score(events, found, keywords, duration_s, tolerance_ms)
            if metrics.fa_per_hour <= fa_per_hour + 1e-9 and (
                    best is None or metrics.miss_rate <= best.metrics.miss_rate):
                best = Calibration(detector=config, metrics=metrics, fa_per_hour=fa_per_hour)
    return _found(best, fa_per_hour)
