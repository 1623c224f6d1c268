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


class _Windows:
    """A one-window classifier fed hop by hop: keeps the last window of audio, classifies it."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], clip_samples: int,
                 hop_samples: int):
        if not 1 <= hop_samples <= clip_samples:
            raise ValueError(f"hop of {hop_samples} samples must be in 1..{clip_samples}")
        self.predict, self.clip_samples, self.hop_samples = predict, clip_samples, hop_samples
        self.reset()

    def reset(self) -> None:
        self._window = np.zeros(self.clip_samples, np.float32)

    def step(self, hop: np.ndarray, score: bool) -> np.ndarray | None:
        self._window = np.concatenate([self._window[len(hop):], hop])
        return self.predict(self._window) if score else None


class _Stateful:
    """A stateful streaming model (kws.device.model.StreamingKeywordModel): one hop per call."""

    def __init__(self, model):
        self.model, self.hop_samples = model, model.hop_samples

    def reset(self) -> None:
        self.model.reset()

    def step(self, hop: np.ndarray, score: bool) -> np.ndarray | None:
        posteriors = self.model.step(hop)  # the state must see every hop, scored or not
        return posteriors if score else None


class StreamingRecognizer:
    """Audio chunks in, detections out: a classifier every hop, and a Detector.

    ``predict`` maps float32 [clip_samples] to posteriors [num_labels] (KeywordModel.predict); it
    runs every hop over the last window of audio. ``for_model`` also takes stateful streaming
    models, which see each hop once and keep their own state. ``on_window(time_ms, posteriors)``,
    if given, sees every hop's posteriors (for plots, logs and benchmarks). Posteriors start once a
    whole window of audio has been seen, for both kinds.
    """

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray] | None, clip_samples: int,
                 hop_samples: int, sample_rate_hz: int, detector: detect.Detector | None,
                 on_window: Callable[[float, np.ndarray], None] | None = None, _source=None):
        self._source = _source or _Windows(predict, clip_samples, hop_samples)
        self.detector, self.on_window = detector, on_window
        self.clip_samples, self.sample_rate_hz = clip_samples, sample_rate_hz
        self.hop_samples = self._source.hop_samples
        self.reset()

    @classmethod
    def for_model(cls, model, hop_ms: float, detector: detect.Detector | None,
                  on_window: Callable[[float, np.ndarray], None] | None = None
                  ) -> "StreamingRecognizer":
        """A recognizer for a KeywordModel (run every ``hop_ms``) or a StreamingKeywordModel (its
        own hop; ``hop_ms`` is not used)."""
        if getattr(model, "stateful", False):
            return cls(None, model.clip_samples, model.hop_samples, model.sample_rate_hz,
                       detector, on_window, _source=_Stateful(model))
        return cls(model.predict, model.clip_samples, hop_samples(hop_ms, model.sample_rate_hz),
                   model.sample_rate_hz, detector, on_window)

    def reset(self) -> None:
        self._source.reset()
        self._pending = np.zeros(0, np.float32)
        self.samples_seen = 0
        """Samples taken in so far (a multiple of the hop)."""
        if self.detector is not None:
            self.detector.reset()

    def feed(self, chunk: np.ndarray) -> list[detect.Detection]:
        """Adds mono float32 samples; returns the detections of the hops they complete."""
        self._pending = np.concatenate([self._pending, np.asarray(chunk, np.float32).reshape(-1)])
        found = []
        hop = self.hop_samples
        while len(self._pending) >= hop:
            chunk, self._pending = self._pending[:hop], self._pending[hop:]
            self.samples_seen += hop
            scored = self.samples_seen >= self.clip_samples  # a full window of audio seen
            posteriors = self._source.step(chunk, scored)
            if not scored:
                continue
            time_ms = 1000.0 * self.samples_seen / self.sample_rate_hz
            if self.on_window is not None:
                self.on_window(time_ms, posteriors)
            if self.detector is not None:
                detection = self.detector.update(time_ms, posteriors)
                if detection is not None:
                    found.append(detection)
        return found


def model_posteriors(model, samples: np.ndarray, hop_ms: float = 20.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(times_ms float64 [n], posteriors float32 [n, labels]) of ``model`` over a whole recording.

    The hops of StreamingRecognizer.for_model (a window model every ``hop_ms``; a stateful model
    at its own hop), from a fresh state. Times are the end of the audio seen, in ms.
    """
    times, posteriors = [], []
    recognizer = StreamingRecognizer.for_model(
        model, hop_ms, None, on_window=lambda t, p: (times.append(t), posteriors.append(p)))
    recognizer.feed(samples)
    width = len(model.labels)
    return (np.asarray(times, np.float64),
            np.asarray(posteriors, np.float32).reshape(len(posteriors), width))


def hop_samples(hop_ms: float, sample_rate_hz: int) -> int:
    """Samples of a hop of ``hop_ms`` (rounded)."""
    return max(1, int(round(sample_rate_hz * hop_ms / 1000)))
