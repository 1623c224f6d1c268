"""Streaming keyword detection from a sequence of per-window class posteriors.

A classifier run every hop over the last second of audio gives one posterior vector per hop. The
Detector turns that sequence into discrete detections, in the manner of TensorFlow's speech_commands
``RecognizeCommands``:

1. smoothing: the posteriors of the windows that ended within the last ``average_window_ms`` are
   averaged (nothing is reported before ``minimum_count`` windows are in the average);
2. threshold: the label with the highest average is detected when that average reaches ``threshold``
   and the label is not a background label (``_silence_``, ``_unknown_``);
3. suppression: after a detection nothing is detected for ``suppression_ms``, and the detected label
   must first fall below the threshold again before it can fire again (re-arming). TF's version
   instead never reports the same label twice in a row ("yes ... yes" would give one detection).

Times are the end of the audio analysed, in ms from the start of the stream. The class is pure numpy
and keeps only a short queue, so the streaming benchmark and the live microphone use the same code.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Sequence

import numpy as np

BACKGROUND_LABELS = ("_silence_", "_unknown_")


@dataclasses.dataclass(kw_only=True, frozen=True)
class DetectorConfig:
    """How posteriors become detections."""

    average_window_ms: float = 500.0
    """Posteriors of the windows that ended within this span are averaged."""
    threshold: float = 0.6
    """The top label's averaged posterior must reach this to be detected."""
    suppression_ms: float = 1000.0
    """No detection for this long after one."""
    minimum_count: int = 3
    """Fewest posteriors in the average before anything can be detected (the start of a stream)."""
    ignore_labels: tuple[str, ...] = BACKGROUND_LABELS
    """Labels never reported as detections (they still take part in the average and the top-1)."""

    def __post_init__(self):
        if self.average_window_ms <= 0:
            raise ValueError("average_window_ms must be > 0")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.suppression_ms < 0:
            raise ValueError("suppression_ms must be >= 0")
        if self.minimum_count < 1:
            raise ValueError("minimum_count must be >= 1")


@dataclasses.dataclass(kw_only=True, frozen=True)
class Detection:
    """One detected keyword."""

    time_ms: float
    """End of the audio analysed when it fired, in ms from the start of the stream."""
    label: str
    """The detected label."""
    score: float
    """Its averaged posterior."""


class Detector:
    """Averages posteriors over time and reports detections (see the module docstring).

    Feed ``update(time_ms, posteriors)`` once per window, times increasing.
    """

    def __init__(self, labels: Sequence[str], config: DetectorConfig = DetectorConfig()):
        self.labels = tuple(labels)
        self.config = config
        self._reportable = np.array([label not in config.ignore_labels for label in self.labels])
        self.reset()

    def reset(self) -> None:
        """Forgets all posteriors and detections (a new stream)."""
        self._queue: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._last_time_ms = -np.inf
        self._last_detection_ms = -np.inf
        self._disarmed: set[int] = set()
        self.smoothed: np.ndarray | None = None
        """The latest averaged posteriors, or None before minimum_count windows."""

    def update(self, time_ms: float, posteriors: np.ndarray) -> Detection | None:
        """Adds the posteriors [num_labels] of the window ending at ``time_ms``.

        Returns a Detection, or None.
        """
        posteriors = np.asarray(posteriors, np.float64)
        if posteriors.shape != (len(self.labels),):
            raise ValueError(f"posteriors of shape {posteriors.shape}, want ({len(self.labels)},)")
        if time_ms <= self._last_time_ms:
            raise ValueError(f"time must increase: {time_ms} ms after {self._last_time_ms} ms")
        self._last_time_ms = time_ms
        self._queue.append((time_ms, posteriors))
        while self._queue[0][0] <= time_ms - self.config.average_window_ms:
            self._queue.popleft()
        if len(self._queue) < self.config.minimum_count:
            self.smoothed = None
            return None
        self.smoothed = np.mean([p for _, p in self._queue], axis=0)
        cfg = self.config
        # Re-arm labels whose average fell below the threshold since they fired.
        self._disarmed = {i for i in self._disarmed if self.smoothed[i] >= cfg.threshold}
        top = int(np.argmax(self.smoothed))
        score = float(self.smoothed[top])
        if (score < cfg.threshold or not self._reportable[top] or top in self._disarmed
                or time_ms - self._last_detection_ms < cfg.suppression_ms):
            return None
        self._last_detection_ms = time_ms
        self._disarmed.add(top)
        return Detection(time_ms=float(time_ms), label=self.labels[top], score=score)

    def run(self, posteriors: Iterable[tuple[float, np.ndarray]]) -> list[Detection]:
        """All detections of a whole sequence of (time_ms, posteriors), from a fresh state."""
        self.reset()
        found = []
        for time_ms, p in posteriors:
            detection = self.update(time_ms, p)
            if detection is not None:
                found.append(detection)
        return found
