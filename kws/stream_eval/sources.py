"""Posteriors of a model hop by hop over a whole recording, from an export folder or a checkpoint.

Both sources return ``(times_ms float64 [n], posteriors float32 [n, labels])`` for int16 samples,
with times the end of the audio seen, like ``kws.device.stream``:

* ``DeviceSource``: a model of a kws-export folder, run by the device script's own
  ``StreamingRecognizer``: a window model every ``hop_ms`` over the last window, or a stateful
  streaming model at its own hop (variants 'stream_float' / 'stream_int8' where the device side
  has them). The audio is fed in chunks, so a long recording is never converted to float whole.
* ``KerasSource``: a kws-train working directory's checkpoint. Windows end where
  ``kws.device.stream.sliding_windows`` ends them (multiples of the hop, from the first that
  holds a whole window); they are classified in batches by the run's own front end and network.
  Imports TensorFlow.
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from kws.device import loader
from kws.device import model as device_model
from kws.device import stream
from kws.errors import UserError

_FEED_CHUNK_SAMPLES = 1 << 18


class PosteriorSource(Protocol):
    """A model that scores a whole recording hop by hop."""

    labels: tuple[str, ...]
    sample_rate_hz: int
    clip_samples: int
    hop_samples: int
    description: str

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(times_ms float64 [n], posteriors float32 [n, labels]) of int16 samples."""


def _to_float(pcm: np.ndarray) -> np.ndarray:
    return np.asarray(pcm, np.float32) / np.float32(32768.0)


def open_device_model(folder: str, variant: str, num_threads: int = 1):
    """A device model of an export folder (``kws.device.model.load_model``): a window model, or a
    stateful streaming one for the ``stream_*`` variants; any variant of VARIANTS."""
    variants = device_model.VARIANTS  # read now: the device side may add variants
    if variant not in variants:
        raise UserError(f"unknown --variant {variant!r}; valid: {', '.join(variants)}")
    if not os.path.isdir(folder):
        raise UserError(f"model folder {folder} does not exist; pass --model_dir=<a kws-export "
                        "output folder>")
    return loader.load_model(folder, variant, num_threads=num_threads)


class DeviceSource:
    """A model of an export folder, run as the device script runs it (module docstring)."""

    def __init__(self, folder: str, variant: str, hop_ms: float, num_threads: int = 1):
        self.model = open_device_model(folder, variant, num_threads)
        self.hop_ms = hop_ms
        self.labels = tuple(self.model.labels)
        self.sample_rate_hz = int(self.model.sample_rate_hz)
        self.clip_samples = int(self.model.clip_samples)
        self.stateful = bool(getattr(self.model, "stateful", False))
        self.hop_samples = (int(self.model.hop_samples) if self.stateful
                            else stream.hop_samples(hop_ms, self.sample_rate_hz))
        kind = "stateful, own hop" if self.stateful else "window model"
        self.description = f"{folder} ({variant}, {kind}, hop {self.hop_samples} samples)"

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        times, posteriors = [], []
        recognizer = stream.StreamingRecognizer.for_model(
            self.model, self.hop_ms, None,
            on_window=lambda t, p: (times.append(t), posteriors.append(p)))
        for i in range(0, len(samples), _FEED_CHUNK_SAMPLES):
            recognizer.feed(_to_float(samples[i:i + _FEED_CHUNK_SAMPLES]))
        width = len(self.labels)
        return (np.asarray(times, np.float64),
                np.asarray(posteriors, np.float32).reshape(len(posteriors), width))


def window_ends(num_samples: int, clip_samples: int, hop_samples: int) -> np.ndarray:
    """int64 end samples of the windows ``sliding_windows`` gives for ``num_samples``."""
    first = -(-clip_samples // hop_samples) * hop_samples
    return np.arange(first, num_samples + 1, hop_samples, dtype=np.int64)


class KerasSource:
    """The checkpoint of a kws-train working directory, on batches of windows (module docstring)."""

    def __init__(self, workdir: str, checkpoint: str, hop_ms: float, batch_windows: int = 256):
        from kws.export import exporter  # pylint: disable=import-outside-toplevel

        if not os.path.isdir(workdir):
            raise UserError(f"working directory {workdir} does not exist; pass --workdir=<a "
                            "kws-train run>")
        if checkpoint != "best" and not os.path.isfile(checkpoint):
            raise UserError(f"--checkpoint={checkpoint}: no such file; use best or a .keras file")
        config, labels, body = exporter.load_run(workdir, checkpoint)
        self._setup(body, labels, config.features, hop_ms, batch_windows,
                    f"{workdir} (Keras, checkpoint {checkpoint}")

    @classmethod
    def of_model(cls, body, labels, features, hop_ms: float, description: str,
                 batch_windows: int = 256) -> "KerasSource":
        """A source of a Keras network in memory (e.g. the one being trained)."""
        source = cls.__new__(cls)
        source._setup(body, labels, features, hop_ms, batch_windows, description)
        return source

    def _setup(self, body, labels, features, hop_ms, batch_windows, description):
        # pylint: disable=import-outside-toplevel
        import tensorflow as tf

        from kws import frontend

        self.labels = tuple(labels)
        self.sample_rate_hz = features.sample_rate_hz
        self.clip_samples = features.clip_samples
        self.hop_samples = stream.hop_samples(hop_ms, self.sample_rate_hz)
        if self.hop_samples > self.clip_samples:
            raise UserError(f"--hop_ms={hop_ms:g} is longer than the model's window")
        self.batch_windows = batch_windows
        self.description = f"{description}, hop {self.hop_samples} samples)"

        @tf.function(reduce_retracing=True)
        def classify(waveforms):
            return body(frontend.compute_features(waveforms, features), training=False)

        self._classify = classify

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ends = window_ends(len(samples), self.clip_samples, self.hop_samples)
        out = np.zeros((len(ends), len(self.labels)), np.float32)
        if len(ends):
            # Row k is the window ending at ends[k]: a view, nothing copied until a batch is cut.
            windows = np.lib.stride_tricks.sliding_window_view(
                samples, self.clip_samples)[ends[0] - self.clip_samples::self.hop_samples]
            for i in range(0, len(ends), self.batch_windows):
                batch = _to_float(windows[i:i + self.batch_windows])
                out[i:i + len(batch)] = np.asarray(self._classify(batch))
        times = 1000.0 * ends.astype(np.float64) / self.sample_rate_hz
        return times, out


class Precomputed:
    """A source whose posteriors of one recording were computed once (e.g. to calibrate and then
    evaluate on them); any other recording is an error."""

    def __init__(self, source: PosteriorSource, samples: np.ndarray):
        self.labels, self.sample_rate_hz = source.labels, source.sample_rate_hz
        self.clip_samples, self.hop_samples = source.clip_samples, source.hop_samples
        self.description = source.description
        self._samples = samples
        self.times_ms, self.values = source.posteriors(samples)

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if samples is not self._samples:
            raise ValueError("Precomputed holds the posteriors of another recording")
        return self.times_ms, self.values
