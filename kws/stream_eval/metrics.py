"""Detections against ground truth on a long recording: misses, false accepts, latency, a sweep.

Matching rules. An event's match window is [start_s, end_s + tolerance] (its word's active part,
then ``tolerance_ms`` for the smoothing to catch up; a detection's time is the end of the audio
it saw). A keyword event is one whose label the detector can report; others (``_unknown_``,
``_silence_``) are non-keyword events. Each detection, in time order, is exactly one of:

* ``hit``: a keyword event of the same label is in its window and has no hit yet (the earliest
  such event takes it); latency = detection time - the event's end_s (negative when it fires
  before the word is over);
* ``duplicate``: same label as a keyword event in its window, but every such event already has its
  hit: a false accept;
* ``wrong_label``: a keyword event of another label is in its window: counted apart, not as a
  false accept (the event is also a miss unless it has a correct hit);
* ``fa_unknown``: only non-keyword events in its window: a false accept;
* ``fa_background``: no event in its window (noise): a false accept.

Miss rate = keyword events without a hit / keyword events (None when there are none). FA per
hour = false accepts / the recording's hours; its resolution is one false accept, 3600 /
duration_s FA/h (6 FA/h on a 10 minute recording). Latency: median and 90th percentile
(numpy's linear interpolation) over the hits.

Detections always come from the device script's ``kws.device.detect.Detector``; the threshold
sweep re-runs it on the same posteriors with only the threshold changed.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Sequence

import numpy as np

from kws.device import detect
from kws.stream_eval.truth import Event

HIT = "hit"
DUPLICATE = "duplicate"
WRONG_LABEL = "wrong_label"
FA_UNKNOWN = "fa_unknown"
FA_BACKGROUND = "fa_background"
FALSE_ACCEPTS = (DUPLICATE, FA_UNKNOWN, FA_BACKGROUND)
DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.97, 0.99)
"""Thresholds of the default sweep."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class Match:
    """What one detection was."""

    detection: detect.Detection
    """The detection."""
    outcome: str
    """One of HIT, DUPLICATE, WRONG_LABEL, FA_UNKNOWN, FA_BACKGROUND."""
    event: int | None
    """Index of the event it was matched to (None for FA_BACKGROUND)."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class StreamMetrics:
    """Detection quality on one recording at one detector setting."""

    duration_s: float
    """Length of the recording."""
    keyword_events: int
    """Events the detector should report."""
    hits: int
    """Keyword events with a correct detection."""
    false_accepts: int
    """Duplicates + detections on other words + detections in noise."""
    duplicates: int
    """Second and later detections of an already detected event."""
    fa_unknown: int
    """Detections on non-keyword events (other words)."""
    fa_background: int
    """Detections away from every event."""
    wrong_label: int
    """Detections of another keyword on a keyword event."""
    latencies_ms: tuple[float, ...]
    """Detection time - word end of every hit, in event order."""
    per_label: dict[str, tuple[int, int]]
    """Keyword label -> (events, hits)."""

    @property
    def misses(self) -> int:
        return self.keyword_events - self.hits

    @property
    def miss_rate(self) -> float | None:
        return self.misses / self.keyword_events if self.keyword_events else None

    @property
    def hours(self) -> float:
        return self.duration_s / 3600.0

    @property
    def fa_per_hour(self) -> float:
        return self.false_accepts / self.hours

    @property
    def latency_median_ms(self) -> float | None:
        return float(np.median(self.latencies_ms)) if self.latencies_ms else None

    @property
    def latency_p90_ms(self) -> float | None:
        return float(np.percentile(self.latencies_ms, 90)) if self.latencies_ms else None

    def to_dict(self) -> dict:
        """Counts, rates and latencies as JSON-ready values."""
        return {
            "duration_s": self.duration_s, "keyword_events": self.keyword_events,
            "hits": self.hits, "misses": self.misses, "miss_rate": self.miss_rate,
            "false_accepts": self.false_accepts, "fa_per_hour": self.fa_per_hour,
            "duplicates": self.duplicates, "fa_unknown": self.fa_unknown,
            "fa_background": self.fa_background, "wrong_label": self.wrong_label,
            "latency_median_ms": self.latency_median_ms, "latency_p90_ms": self.latency_p90_ms,
            "per_label": {label: {"events": n, "hits": h, "miss_rate": (n - h) / n if n else None}
                          for label, (n, h) in self.per_label.items()},
        }


def _check_events(events: Sequence[Event]) -> None:
    for i, (a, b) in enumerate(zip(events, events[1:])):
        if b.start_s < a.end_s:
            raise ValueError(f"events {i} and {i + 1} overlap or are out of order")


def match(events: Sequence[Event], detections: Sequence[detect.Detection],
          keywords: Sequence[str], tolerance_ms: float) -> tuple[Match, ...]:
    """The outcome of every detection, in the order given (see the module docstring)."""
    if tolerance_ms < 0:
        raise ValueError("tolerance_ms must be >= 0")
    _check_events(events)
    keywords = set(keywords)
    starts_ms = [1000.0 * e.start_s for e in events]
    closes_ms = [1000.0 * e.end_s + tolerance_ms for e in events]
    hit = [False] * len(events)
    found = []
    last_ms = -np.inf
    for d in detections:
        if d.time_ms < last_ms:
            raise ValueError("detections must be in time order")
        last_ms = d.time_ms
        # Events are sorted and disjoint, so those whose window holds d form one run.
        window = range(bisect.bisect_left(closes_ms, d.time_ms),
                       bisect.bisect_right(starts_ms, d.time_ms))
        same = [i for i in window if events[i].label == d.label and d.label in keywords]
        other = [i for i in window if events[i].label in keywords and events[i].label != d.label]
        fresh = [i for i in same if not hit[i]]
        if fresh:
            hit[fresh[0]] = True
            found.append(Match(detection=d, outcome=HIT, event=fresh[0]))
        elif same:
            found.append(Match(detection=d, outcome=DUPLICATE, event=same[0]))
        elif other:
            found.append(Match(detection=d, outcome=WRONG_LABEL, event=other[0]))
        elif len(window):
            found.append(Match(detection=d, outcome=FA_UNKNOWN, event=window[0]))
        else:
            found.append(Match(detection=d, outcome=FA_BACKGROUND, event=None))
    return tuple(found)


def score(events: Sequence[Event], detections: Sequence[detect.Detection],
          keywords: Sequence[str], duration_s: float, tolerance_ms: float
          ) -> tuple[StreamMetrics, tuple[Match, ...]]:
    """StreamMetrics of ``detections`` on a recording of ``duration_s`` and its matches."""
    if duration_s <= 0:
        raise ValueError("duration_s must be > 0")
    matches = match(events, detections, keywords, tolerance_ms)
    count = {o: sum(m.outcome == o for m in matches) for o in (HIT, WRONG_LABEL) + FALSE_ACCEPTS}
    hits = sorted((m.event, m.detection.time_ms) for m in matches if m.outcome == HIT)
    latencies = tuple(t - 1000.0 * events[i].end_s for i, t in hits)
    hit_events = {i for i, _ in hits}
    per_label = {}
    for label in sorted({e.label for e in events if e.label in set(keywords)}):
        ids = [i for i, e in enumerate(events) if e.label == label]
        per_label[label] = (len(ids), sum(i in hit_events for i in ids))
    metrics = StreamMetrics(
        duration_s=duration_s, keyword_events=sum(n for n, _ in per_label.values()),
        hits=count[HIT], false_accepts=sum(count[o] for o in FALSE_ACCEPTS),
        duplicates=count[DUPLICATE], fa_unknown=count[FA_UNKNOWN],
        fa_background=count[FA_BACKGROUND], wrong_label=count[WRONG_LABEL],
        latencies_ms=latencies, per_label=per_label)
    return metrics, matches


def keywords_of(labels: Sequence[str], config: detect.DetectorConfig) -> tuple[str, ...]:
    """The labels the detector can report."""
    return tuple(label for label in labels if label not in config.ignore_labels)


def run_detector(labels: Sequence[str], config: detect.DetectorConfig, times_ms: np.ndarray,
                 posteriors: np.ndarray, keep_smoothed: bool = False
                 ) -> tuple[list[detect.Detection], np.ndarray | None]:
    """The Detector over posteriors float [n, labels] at times_ms [n], from a fresh state.

    Returns the detections and, with ``keep_smoothed``, the Detector's averaged posteriors
    float32 [n, labels] after every window (NaN rows before it has ``minimum_count`` windows).
    """
    detector = detect.Detector(labels, config)
    if not keep_smoothed:
        return detector.run(zip(times_ms, posteriors)), None
    smoothed = np.full(posteriors.shape, np.nan, np.float32)
    found = []
    for i, (t, p) in enumerate(zip(times_ms, posteriors)):
        d = detector.update(t, p)
        if d is not None:
            found.append(d)
        if detector.smoothed is not None:
            smoothed[i] = detector.smoothed
    return found, smoothed


@dataclasses.dataclass(kw_only=True, frozen=True)
class SweepRow:
    """The metrics at one threshold."""

    threshold: float
    """The detector threshold."""
    metrics: StreamMetrics
    """Everything measured at it."""

    @property
    def miss_rate(self) -> float | None:
        return self.metrics.miss_rate

    @property
    def fa_per_hour(self) -> float:
        return self.metrics.fa_per_hour


def sweep(labels: Sequence[str], config: detect.DetectorConfig, times_ms: np.ndarray,
          posteriors: np.ndarray, events: Sequence[Event], duration_s: float,
          thresholds: Sequence[float], tolerance_ms: float) -> tuple[SweepRow, ...]:
    """The metrics at each threshold (sorted ascending), all else as in ``config``."""
    keywords = keywords_of(labels, config)
    rows = []
    for threshold in sorted(set(thresholds)):
        # One shared threshold: a calibrated detector's per-keyword ones are left out of a sweep.
        found, _ = run_detector(labels, dataclasses.replace(config, threshold=threshold,
                                                            label_thresholds=()),
                                times_ms, posteriors)
        rows.append(SweepRow(threshold=threshold,
                             metrics=score(events, found, keywords, duration_s, tolerance_ms)[0]))
    return tuple(rows)


def operating_point(rows: Sequence[SweepRow], max_fa_per_hour: float) -> SweepRow | None:
    """The row with the lowest miss rate among those with fa_per_hour <= ``max_fa_per_hour``.

    Ties go to fewer false accepts, then to the higher threshold. None when no row reaches the
    target (or no row has keyword events).
    """
    within = [r for r in rows if r.fa_per_hour <= max_fa_per_hour and r.miss_rate is not None]
    if not within:
        return None
    return min(within, key=lambda r: (r.miss_rate, r.fa_per_hour, -r.threshold))
