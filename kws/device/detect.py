"""Streaming keyword detection from a sequence of per-window class posteriors.

A classifier run every hop over the last second of audio gives one posterior vector per hop. The
Detector turns that sequence into discrete detections, in the manner of TensorFlow's speech_commands
``RecognizeCommands``:

1. smoothing: the posteriors of the windows that ended within the last ``average_window_ms`` are
   averaged (nothing is reported before ``minimum_count`` windows are in the average);
2. threshold: the label with the highest average is detected when that average reaches its
   threshold (``threshold``, or its own in ``label_thresholds``) and the label is not a background
   label (``_silence_``, ``_unknown_``);
3. suppression: after a detection nothing is detected for ``suppression_ms``, and the detected label
   must first fall below the threshold again before it can fire again (re-arming). TF's version
   instead never reports the same label twice in a row ("yes ... yes" would give one detection).

A calibrated detector (chosen on a validation stream for a false-accept budget, see
kws.stream_eval.calibrate) is saved beside the model as DETECTOR_FILE and read by
``load_detector_file``; the device script and kws-stream-eval use it unless told otherwise.

Times are the end of the audio analysed, in ms from the start of the stream. The class is pure numpy
and keeps only a short queue, so the streaming benchmark and the live microphone use the same code.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from typing import Iterable, Sequence

import numpy as np

from kws.errors import UserError

BACKGROUND_LABELS = ("_silence_", "_unknown_")
DETECTOR_FILE = "detector.json"
"""A calibrated detector in an export folder: {"detector": DetectorConfig.to_dict(), ...}."""


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
    label_thresholds: tuple[tuple[str, float], ...] = ()
    """(label, threshold) pairs that replace ``threshold`` for those labels (a calibrated detector,
    DETECTOR_FILE, has one per keyword)."""

    def __post_init__(self):
        if self.average_window_ms <= 0:
            raise ValueError("average_window_ms must be > 0")
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.suppression_ms < 0:
            raise ValueError("suppression_ms must be >= 0")
        if self.minimum_count < 1:
            raise ValueError("minimum_count must be >= 1")
        for label, value in self.label_thresholds:
            if not 0 < value <= 1:
                raise ValueError(f"threshold of {label!r} must be in (0, 1], got {value}")

    def threshold_of(self, label: str) -> float:
        """The threshold that applies to ``label``."""
        return dict(self.label_thresholds).get(label, self.threshold)

    def to_dict(self) -> dict:
        """JSON-ready fields (DETECTOR_FILE's "detector")."""
        d = dataclasses.asdict(self)
        d["ignore_labels"] = list(self.ignore_labels)
        d["label_thresholds"] = dict(self.label_thresholds)
        return d

    @classmethod
    def from_dict(cls, values: dict) -> "DetectorConfig":
        """The inverse of to_dict; unknown keys are an error."""
        values = dict(values)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown detector setting(s) {sorted(unknown)}")
        if "ignore_labels" in values:
            values["ignore_labels"] = tuple(values["ignore_labels"])
        if "label_thresholds" in values:
            values["label_thresholds"] = tuple(sorted(
                (str(k), float(v)) for k, v in dict(values["label_thresholds"]).items()))
        return cls(**values)


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
        unknown = {label for label, _ in config.label_thresholds} - set(self.labels)
        if unknown:
            raise ValueError(f"thresholds for label(s) {sorted(unknown)} that the model does not "
                             f"have ({', '.join(self.labels)})")
        self._reportable = np.array([label not in config.ignore_labels for label in self.labels])
        self._thresholds = np.array([config.threshold_of(label) for label in self.labels])
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
        # Re-arm labels whose average fell below their threshold since they fired.
        self._disarmed = {i for i in self._disarmed if self.smoothed[i] >= self._thresholds[i]}
        top = int(np.argmax(self.smoothed))
        score = float(self.smoothed[top])
        if (score < self._thresholds[top] or not self._reportable[top] or top in self._disarmed
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


DETECTOR_FLAGS = ("average_window_ms", "threshold", "suppression_ms", "minimum_count")
"""The command-line flags (of kws-infer and kws-stream-eval) that describe a detector."""


def choose_detector(folder: str, from_flags: DetectorConfig, flags_given: bool
                    ) -> tuple[DetectorConfig, bool]:
    """(the detector to use, whether it is ``folder``'s DETECTOR_FILE): the file when there is
    one and no detector flag was given, else the flags' detector."""
    if not flags_given:
        found = load_detector_file(folder)
        if found is not None:
            return found[0], True
    return from_flags, False


class DetectorFileError(UserError):
    """A DETECTOR_FILE that cannot be read; the message names it and the fix."""


def load_detector_file(folder: str) -> tuple[DetectorConfig, dict] | None:
    """(the detector, the whole file) of ``folder``'s DETECTOR_FILE, or None when it has none.

    Raises DetectorFileError naming the file when it is not a valid detector file.
    """
    path = os.path.join(folder, DETECTOR_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return DetectorConfig.from_dict(data["detector"]), data
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DetectorFileError(f"{path}: not a valid detector file ({e}); delete it or re-run the "
                         "calibration (kws-stream-eval --calibrate_fa_per_hour=...)") from e


def save_detector_file(folder: str, config: DetectorConfig, extra: dict) -> str:
    """Writes DETECTOR_FILE (the detector plus ``extra``, e.g. how it was calibrated); its path."""
    path = os.path.join(folder, DETECTOR_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"detector": config.to_dict(), **extra}, f, indent=2, sort_keys=True)
    return path
