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

from kws import quiet
from kws.errors import UserError

FLOAT_MODEL = "model_float.tflite"
INT8_MODEL = "model_int8.tflite"
FEATURES_INT8_MODEL = "model_features_int8.tflite"
STREAM_FLOAT_MODEL = "stream_float.tflite"
STREAM_INT8_MODEL = "stream_int8.tflite"
STREAM_FEATURES_INT8_MODEL = "stream_features_int8.tflite"
STREAMING_FILE = "streaming.json"
LABELS_FILE = "labels.txt"
FRONTEND_FILE = "frontend.json"
VARIANTS = {"int8": INT8_MODEL, "float": FLOAT_MODEL, "stream_int8": STREAM_INT8_MODEL,
            "stream_float": STREAM_FLOAT_MODEL}
"""Waveform-in models of an export folder, by the name the device script uses for them. The
``stream_*`` ones are stateful streaming models (one hop of audio per call, see streaming.json);
only exports of streamable runs have them."""

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


def load_interpreter(path: str, num_threads: int = 1,
                     input_shape: tuple[int, ...] | None = None) -> Interpreter:
    """A LiteRT interpreter of ``path``, tensors allocated (for its first input resized to
    ``input_shape`` when given); corrupt files are a clear error."""
    _require_file(path)
    if os.path.getsize(path) == 0:
        raise ModelFolderError(f"{path}: empty file; {_FIX}")
    try:
        interpreter = Interpreter(model_path=path, num_threads=num_threads)
        if input_shape is not None:
            interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"],
                                            list(input_shape))
        with quiet.native_stderr():  # LiteRT's "Created ... XNNPACK delegate" line
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelFolderError(f"{path}: not a loadable .tflite model ({str(e).strip()[:200]}); "
                               f"{_FIX}") from e
    return interpreter


def load_model(folder: str, variant: str = "int8", num_threads: int = 1):
    """The model ``variant`` of an export folder: a KeywordModel, or a StreamingKeywordModel for the
    ``stream_*`` variants. kws.device.loader.load_model also opens speech-embedding folders."""
    if variant.startswith("stream_"):
        return StreamingKeywordModel(folder, variant, num_threads)
    return KeywordModel(folder, variant, num_threads)


class KeywordModel:
    """A waveform-in classifier of an export folder, checked against the folder's labels and config.

    ``predict(clip)`` takes float32 [clip_samples] in [-1, 1] and returns float32 [num_labels].
    """

    stateful = False

    def __init__(self, folder: str, variant: str = "int8", num_threads: int = 1):
        if variant.startswith("stream_"):
            raise ValueError(f"{variant} is a streaming model: use StreamingKeywordModel")
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


@dataclasses.dataclass(kw_only=True, frozen=True)
class StreamSpec:
    """How to drive a stateful streaming model (``streaming.json`` of an export folder).

    Each call takes ``hop_samples`` new samples and the states the previous call returned (zeros
    at the start), and returns the class probabilities of the last window and the next states.
    Tensors are named by the model's signature ('serving_default').
    """

    hop_samples: int
    """New samples per call (frames_per_call feature frames)."""
    frames_per_call: int
    """Feature frames computed per call."""
    prefix_samples: int
    """Zeros to feed before a clip so that the stream's frames are the window model's frames of
    that clip (the window model leaves the clip's last window - stride samples unused)."""
    input: str
    """The audio (or features) input."""
    probabilities: str
    """The class-probabilities output."""
    state_inputs: tuple[str, ...]
    """State inputs, in the order of ``state_outputs``."""
    state_outputs: tuple[str, ...]
    """Their next values."""

    @classmethod
    def read(cls, folder: str) -> "StreamSpec":
        path = os.path.join(folder, STREAMING_FILE)
        _require_file(path)
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
            spec = cls(**{field.name: values[field.name] for field in dataclasses.fields(cls)})
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
            raise ModelFolderError(f"{path}: not a streaming spec ({type(e).__name__}: {e}); "
                                   f"{_FIX}") from e
        if len(spec.state_inputs) != len(spec.state_outputs) or spec.hop_samples < 1:
            raise ModelFolderError(f"{path}: state inputs and outputs do not pair up, or the hop "
                                   f"is not positive; {_FIX}")
        return dataclasses.replace(spec, state_inputs=tuple(spec.state_inputs),
                                   state_outputs=tuple(spec.state_outputs))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


class StatefulRunner:
    """One stateful streaming .tflite on LiteRT: ``step(x)`` runs one call and keeps the states."""

    def __init__(self, interpreter: Interpreter, spec: StreamSpec, path: str = "model"):
        self.spec, self._interpreter = spec, interpreter
        try:
            runner = interpreter.get_signature_runner()
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
        except ValueError as e:
            raise ModelFolderError(f"{path}: has no serving signature ({e}); {_FIX}") from e
        wanted_in = (spec.input,) + spec.state_inputs
        wanted_out = (spec.probabilities,) + spec.state_outputs
        missing = ([n for n in wanted_in if n not in inputs]
                   + [n for n in wanted_out if n not in outputs])
        if missing or len(inputs) != len(wanted_in) or len(outputs) != len(wanted_out):
            raise ModelFolderError(
                f"{path}: its inputs {sorted(inputs)} and outputs {sorted(outputs)} are not the "
                f"ones {STREAMING_FILE} names (missing: {', '.join(missing) or 'none'}); the model "
                f"and {STREAMING_FILE} come from different exports; {_FIX}")
        self.input = inputs[spec.input]
        self._output = outputs[spec.probabilities]["index"]
        self._states = [(inputs[i], outputs[o]["index"])
                        for i, o in zip(spec.state_inputs, spec.state_outputs)]
        for (details, out) in self._states:
            if tuple(details["shape"]) != tuple(interpreter.get_tensor(out).shape):
                raise ModelFolderError(f"{path}: a state input and its output differ in shape; "
                                       f"{_FIX}")
        self.reset()

    def reset(self) -> None:
        """Zero states: the start of a stream."""
        self._values = [np.zeros(d["shape"], d["dtype"]) for d, _ in self._states]

    @property
    def states(self) -> list[np.ndarray]:
        """Copies of the states the next call will get."""
        return [v.copy() for v in self._values]

    def step(self, x: np.ndarray) -> np.ndarray:
        """One call on x (the input's shape without the batch axis); the output row."""
        interpreter = self._interpreter
        interpreter.set_tensor(self.input["index"], np.asarray(x, self.input["dtype"])[None])
        for (details, _), value in zip(self._states, self._values):
            interpreter.set_tensor(details["index"], value)
        interpreter.invoke()
        self._values = [interpreter.get_tensor(out) for _, out in self._states]
        return interpreter.get_tensor(self._output)[0].copy()


class StreamingKeywordModel:
    """A stateful streaming model of an export folder: ``step(hop)`` takes float32 [hop_samples]
    new samples in [-1, 1] and returns float32 [num_labels] for the window ending with them.

    The states live inside; ``reset()`` starts a new stream. After a window's worth of audio the
    outputs equal the window model's (exported from the same checkpoint) on the same audio.
    """

    stateful = True

    def __init__(self, folder: str, variant: str = "stream_int8", num_threads: int = 1):
        if variant not in VARIANTS or not variant.startswith("stream_"):
            raise ValueError(f"unknown streaming variant {variant!r}; valid: "
                             f"{', '.join(v for v in VARIANTS if v.startswith('stream_'))}")
        if not os.path.isdir(folder):
            raise ModelFolderError(f"model folder {folder} does not exist; {_FIX}")
        self.folder = folder
        self.labels = read_labels(folder)
        self.audio = read_audio_spec(folder)
        self.path = os.path.join(folder, VARIANTS[variant])
        if not os.path.isfile(self.path):
            raise ModelFolderError(
                f"{self.path} is missing: this export has no streaming models (exports of runs "
                "trained with --streamable have them; ds_cnn and bc_resnet only); use "
                "--variant=int8 or float")
        self.spec = StreamSpec.read(folder)
        self._runner = StatefulRunner(load_interpreter(self.path, num_threads), self.spec,
                                      self.path)
        shape = tuple(int(s) for s in self._runner.input["shape"])
        if shape != (1, self.spec.hop_samples) or self._runner.input["dtype"] != np.float32:
            raise ModelFolderError(f"{self.path}: input is {list(shape)}, {STREAMING_FILE} says "
                                   f"float32 [1, {self.spec.hop_samples}]; {_FIX}")
        width = self._runner.step(np.zeros(self.spec.hop_samples, np.float32)).shape
        if width != (len(self.labels),):
            raise ModelFolderError(
                f"{self.path}: gives {width[0]} scores but {os.path.join(folder, LABELS_FILE)} "
                f"has {len(self.labels)} labels; they come from different exports; {_FIX}")
        self.reset()

    @property
    def sample_rate_hz(self) -> int:
        return self.audio.sample_rate_hz

    @property
    def clip_samples(self) -> int:
        return self.audio.clip_samples

    @property
    def hop_samples(self) -> int:
        return self.spec.hop_samples

    def reset(self) -> None:
        self._runner.reset()

    def step(self, hop: np.ndarray) -> np.ndarray:
        hop = np.asarray(hop, np.float32)
        if hop.shape != (self.hop_samples,):
            raise ValueError(f"step wants [{self.hop_samples}] samples, got {list(hop.shape)}")
        return self._runner.step(hop)

    def predict(self, clip: np.ndarray) -> np.ndarray:
        """Class probabilities of one clip float32 [clip_samples], streamed from a fresh state."""
        clip = np.asarray(clip, np.float32)
        if clip.shape != (self.clip_samples,):
            raise ValueError(f"predict wants [{self.clip_samples}] samples, got {list(clip.shape)}")
        self.reset()
        stream = stream_of_clip(clip, self.spec)
        for start in range(0, len(stream), self.hop_samples):
            scores = self.step(stream[start:start + self.hop_samples])
        self.reset()
        return scores


def stream_of_clip(clip: np.ndarray, spec: StreamSpec) -> np.ndarray:
    """The samples to stream so that the last call's window is the window model's on ``clip``:
    ``prefix_samples`` zeros, then the clip, cut to a whole number of hops (the unused tail)."""
    stream = np.concatenate([np.zeros(spec.prefix_samples, np.float32),
                             np.asarray(clip, np.float32)])
    return stream[:len(stream) // spec.hop_samples * spec.hop_samples]


def _require_file(path: str) -> None:
    if not os.path.isfile(path):
        raise ModelFolderError(f"{path} is missing; {_FIX}")
