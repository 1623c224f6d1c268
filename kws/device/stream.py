"""Running a one-window classifier over a stream: every hop, the last window of audio is classified.

Windows end at multiples of the hop, from the first one that holds a full window of audio on (as in
TF's streaming test; zero-padded windows at the start would be input the model never saw in
training). Audio can arrive in chunks of any size (a microphone callback, a file read whole): the
windows and their times do not depend on the chunking. ``sliding_windows`` is the same on a whole
array, for offline use.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from kws.device import detect

HOP_MS_RANGE = (20, 100)
"""Hops the command line accepts, in ms."""


def sliding_windows(samples: np.ndarray, clip_samples: int, hop_samples: int
                    ) -> Iterator[tuple[int, np.ndarray]]:
    """(end_sample, window float32 [clip_samples]) of ``samples``, as StreamingRecognizer sees them.

    Windows end at the multiples of hop_samples that are >= clip_samples and <= len(samples).
    """
    if hop_samples < 1:
        raise ValueError("hop_samples must be >= 1")
    samples = np.asarray(samples, np.float32)
    first = -(-clip_samples // hop_samples) * hop_samples
    for end in range(first, len(samples) + 1, hop_samples):
        yield end, samples[end - clip_samples:end]


class StreamingRecognizer:
    """Audio chunks in, detections out: a sliding window, a classifier every hop, and a Detector.

    ``predict`` maps float32 [clip_samples] to posteriors [num_labels] (KeywordModel.predict).
    ``on_window(time_ms, posteriors)``, if given, sees every window's posteriors (for plots, logs
    and benchmarks).
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], clip_samples: int,
                 hop_samples: int, sample_rate_hz: int, detector: detect.Detector,
                 on_window: Callable[[float, np.ndarray], None] | None = None):
        if not 1 <= hop_samples <= clip_samples:
            raise ValueError(f"hop of {hop_samples} samples must be in 1..{clip_samples}")
        self.predict, self.detector, self.on_window = predict, detector, on_window
        self.clip_samples, self.hop_samples, self.sample_rate_hz = (clip_samples, hop_samples,
                                                                    sample_rate_hz)
        self.reset()

    def reset(self) -> None:
        self._window = np.zeros(self.clip_samples, np.float32)
        self._pending = np.zeros(0, np.float32)
        self.samples_seen = 0
        """Samples taken into the window so far (a multiple of the hop)."""
        self.detector.reset()

    def feed(self, chunk: np.ndarray) -> list[detect.Detection]:
        """Adds mono float32 samples; returns the detections of the windows they complete."""
        self._pending = np.concatenate([self._pending, np.asarray(chunk, np.float32).reshape(-1)])
        found = []
        hop = self.hop_samples
        while len(self._pending) >= hop:
            self._window = np.concatenate([self._window[hop:], self._pending[:hop]])
            self._pending = self._pending[hop:]
            self.samples_seen += hop
            if self.samples_seen < self.clip_samples:
                continue  # not a full window of audio yet
            time_ms = 1000.0 * self.samples_seen / self.sample_rate_hz
            posteriors = self.predict(self._window)
            if self.on_window is not None:
                self.on_window(time_ms, posteriors)
            detection = self.detector.update(time_ms, posteriors)
            if detection is not None:
                found.append(detection)
        return found


def hop_samples(hop_ms: float, sample_rate_hz: int) -> int:
    """Samples of a hop of ``hop_ms`` (rounded)."""
    return max(1, int(round(sample_rate_hz * hop_ms / 1000)))
