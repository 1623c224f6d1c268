"""An export folder as the device sees it: labels, front-end config and a waveform-in .tflite model.

The folder is written by `kws-export` (kws.export.exporter). This module reads it with numpy and
LiteRT only, and checks that its parts agree before anything runs: the model's input must be one
float32 clip of the length the front-end config gives, its output one score per line of labels.txt.
Any mismatch is refused with a message naming the file and the fix.

Waveform-in models take float32 [1, clip_samples], samples in [-1, 1] (16-bit PCM / 32768), and
return float32 [1, num_labels] class probabilities.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from kws.errors import UserError

FLOAT_MODEL = "model_float.tflite"
INT8_MODEL = "model_int8.tflite"
FEATURES_INT8_MODEL = "model_features_int8.tflite"
LABELS_FILE = "labels.txt"
FRONTEND_FILE = "frontend.json"
VARIANTS = {"int8": INT8_MODEL, "float": FLOAT_MODEL}
"""Waveform-in models of an export folder, by the name the device script uses for them."""

_FIX = "re-run `kws-export --workdir=<training run> --output_dir=<this folder>`"


class ModelFolderError(UserError):
    """An export folder that is missing a file, holds a corrupt one, or whose parts disagree."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class AudioSpec:
    """What the model's input audio must be, from the export folder's front-end config."""

    sample_rate_hz: int
    """Samples per second."""
    clip_samples: int
    """Samples of one classified window."""

    @property
    def clip_duration_s(self) -> float:
        return self.clip_samples / self.sample_rate_hz


def read_labels(folder: str) -> tuple[str, ...]:
    """The class names of ``folder``/labels.txt, one a line, in the model's output order."""
    path = os.path.join(folder, LABELS_FILE)
    _require_file(path)
    with open(path, encoding="utf-8") as f:
        labels = tuple(line.strip() for line in f if line.strip())
    if len(labels) < 2:
        raise ModelFolderError(f"{path}: needs at least two labels, found {len(labels)}; {_FIX}")
    if len(set(labels)) != len(labels):
        raise ModelFolderError(f"{path}: labels repeat ({', '.join(labels)}); {_FIX}")
    return labels


def read_audio_spec(folder: str) -> AudioSpec:
    """Sample rate and window length from ``folder``/frontend.json (a FrontendConfig as JSON)."""
    path = os.path.join(folder, FRONTEND_FILE)
    _require_file(path)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{path}: not valid JSON ({e}); {_FIX}") from e
    values = {}
    for key in ("sample_rate_hz", "clip_duration_ms"):
        value = config.get(key) if isinstance(config, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ModelFolderError(f"{path}: {key} is missing or not a positive number "
                                   f"({value!r}); {_FIX}")
        values[key] = value
    rate = int(values["sample_rate_hz"])
    # The same rounding as kws.frontend.FrontendConfig.clip_samples.
    return AudioSpec(sample_rate_hz=rate,
                     clip_samples=int(round(rate * values["clip_duration_ms"] / 1000)))


def load_interpreter(path: str, num_threads: int = 1) -> Interpreter:
    """A LiteRT interpreter of ``path``, tensors allocated; corrupt files are a clear error."""
    _require_file(path)
    if os.path.getsize(path) == 0:
        raise ModelFolderError(f"{path}: empty file; {_FIX}")
    try:
        interpreter = Interpreter(model_path=path, num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelFolderError(f"{path}: not a loadable .tflite model ({str(e).strip()[:200]}); "
                               f"{_FIX}") from e
    return interpreter


class KeywordModel:
    """A waveform-in classifier of an export folder, checked against the folder's labels and config.

    ``predict(clip)`` takes float32 [clip_samples] in [-1, 1] and returns float32 [num_labels].
    """

    def __init__(self, folder: str, variant: str = "int8", num_threads: int = 1):
        if variant not in VARIANTS:
            raise ValueError(f"unknown model variant {variant!r}; valid: {', '.join(VARIANTS)}")
        if not os.path.isdir(folder):
            raise ModelFolderError(f"model folder {folder} does not exist; {_FIX}")
        self.folder = folder
        self.labels = read_labels(folder)
        self.audio = read_audio_spec(folder)
        self.path = os.path.join(folder, VARIANTS[variant])
        self._interpreter = load_interpreter(self.path, num_threads)
        self._check()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def _check(self) -> None:
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFolderError(f"{self.path}: has {len(inputs)} inputs and {len(outputs)} "
                                   f"outputs, a waveform-in model has one of each; {_FIX}")
        shape, dtype = tuple(int(s) for s in inputs[0]["shape"]), inputs[0]["dtype"]
        want = (1, self.audio.clip_samples)
        if shape != want or dtype != np.float32:
            raise ModelFolderError(
                f"{self.path}: input is {np.dtype(dtype).name} {list(shape)} but "
                f"{os.path.join(self.folder, FRONTEND_FILE)} asks for float32 {list(want)} "
                f"({self.audio.sample_rate_hz} Hz x {self.audio.clip_duration_s:g} s); the model "
                f"and the front-end config come from different exports; {_FIX}")
        shape, dtype = tuple(int(s) for s in outputs[0]["shape"]), outputs[0]["dtype"]
        if shape != (1, len(self.labels)) or dtype != np.float32:
            raise ModelFolderError(
                f"{self.path}: output is {np.dtype(dtype).name} {list(shape)} but "
                f"{os.path.join(self.folder, LABELS_FILE)} has {len(self.labels)} labels (want "
                f"float32 [1, {len(self.labels)}]); labels.txt and the model come from different "
                f"exports; {_FIX}")

    @property
    def sample_rate_hz(self) -> int:
        return self.audio.sample_rate_hz

    @property
    def clip_samples(self) -> int:
        return self.audio.clip_samples

    def predict(self, clip: np.ndarray) -> np.ndarray:
        """Class probabilities float32 [num_labels] of one window, float32 [clip_samples]."""
        clip = np.asarray(clip, np.float32)
        if clip.shape != (self.clip_samples,):
            raise ValueError(f"predict wants [{self.clip_samples}] samples, got {list(clip.shape)}")
        self._interpreter.set_tensor(self._input, clip[None, :])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output)[0].copy()


def _require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise ModelFolderError(f"{path} is missing; {_FIX}")
