"""Generated recordings as a head trains on them: embedded once (one 96-d speech embedding every
80 ms) and cached by their recipe.

A recording's mel frames (512-sample frames every 160 samples) are computed in chunks of whole
frames and joined. A frame depends on its own samples, except that the mel model floors its log mel
at a fixed distance below the loudest value of the call: frames quieter than that (digital silence,
mostly) equal those of one call on the whole recording only when the chunk's loudest value is the
recording's. Embedding k sees frames 8k .. 8k + 75.

An embedder is anything with ``mel_of(audio [clips, samples]) -> [clips, frames, 32]`` and
``embeddings_of_mel(mel [frames, 32]) -> [n, 96]``: DeviceEmbedder runs the TFLite front end that
kws-infer runs (`kws head` trains on it); the benchmarks' ONNX copy of the same graphs
(benchmarks/embedding_onnx.py) gives the same embeddings within 1e-4.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, Sequence

import numpy as np

from kws.data import speech_commands as sc
from kws.device import embedding as emb
from kws.errors import UserError
from kws.stream_eval import recording as rec
from kws.stream_eval import truth

RATE = emb.SAMPLE_RATE_HZ
CHUNK_FRAMES = 6000  # 60 s of mel frames per mel-model call


@dataclasses.dataclass(frozen=True)
class Stream:
    """A recording's embeddings [n, 96] float16, their end times [n] (s) and its events."""
    embeddings: np.ndarray
    end_s: np.ndarray
    events: tuple
    duration_s: float


def audio_files(folder: str) -> tuple[str, ...]:
    """Every audio file under ``folder`` (sorted); a UserError when there is none."""
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: no such folder")
    found = tuple(os.path.join(d, n) for d, _, names in sorted(os.walk(folder))
                  for n in sorted(names) if n.lower().endswith(sc.AUDIO_EXTENSIONS))
    if not found:
        raise UserError(f"{folder}: no audio files; pass a folder of clips")
    return found


class DeviceEmbedder:
    """The device's TFLite front end (kws.device.embedding) as an embedder (module docstring)."""

    def __init__(self, folder: str = emb.FRONTEND_CACHE, threads: int = 2):
        self.front = emb.SpeechEmbedding(folder, threads)

    def mel_of(self, audio: np.ndarray) -> np.ndarray:
        return np.stack([self.front.mel(a) for a in np.atleast_2d(audio)])

    def embeddings_of_mel(self, mel: np.ndarray) -> np.ndarray:
        return self.front.embeddings(mel)


def mel_of_recording(embedder, audio: np.ndarray,
                     chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """float32 [frames, 32] of float audio [samples], chunk by chunk (module docstring)."""
    total = emb.mel_frames(len(audio))
    parts = []
    for first in range(0, total, chunk_frames):
        frames = min(chunk_frames, total - first)
        start = first * emb.MEL_HOP_SAMPLES
        piece = audio[start:start + emb.MEL_HOP_SAMPLES * (frames - 1) + emb.N_FFT_SAMPLES]
        parts.append(embedder.mel_of(piece[None])[0][:frames])
    return np.concatenate(parts)


def embeddings_of_recording(embedder, samples: np.ndarray, batch: int = 2048
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [n, 96] embeddings every 80 ms, int64 [n] the sample where each one's audio ends)
    of int16 ``samples``; the mel is made chunk-wise (module docstring)."""
    if emb.mel_frames(len(samples)) < emb.WINDOW_FRAMES:
        return np.zeros((0, emb.EMBEDDING_DIM), np.float32), np.zeros(0, np.int64)
    mel = mel_of_recording(embedder, samples.astype(np.float32) / 32768.0)
    n = emb.embedding_count(len(mel))
    embeddings = [np.zeros((0, emb.EMBEDDING_DIM), np.float32)]
    for k in range(0, n, batch):  # the frames of embeddings k .. k + batch - 1
        frames = mel[k * emb.WINDOW_HOP_FRAMES:
                     (min(n, k + batch) - 1) * emb.WINDOW_HOP_FRAMES + emb.WINDOW_FRAMES]
        embeddings.append(embedder.embeddings_of_mel(frames))
    return np.concatenate(embeddings).astype(np.float32), emb.embedding_end_samples(n)


class Embeddings:
    """Generated recordings over the noise of ``noise_dirs``, embedded and cached under
    ``cache_dir`` by their recipe; ``make_embedder()`` is called at the first recording that is
    not cached. One cache folder holds one embedder's recordings."""

    def __init__(self, cache_dir: str, make_embedder: Callable[[], object],
                 noise_dirs: Sequence[str]):
        self.cache_dir, self._make_embedder = cache_dir, make_embedder
        self.noise_dirs = list(noise_dirs)
        self._embedder = None

    def stream(self, name: str, pools: rec.ClipPools, config: rec.RecordingConfig) -> Stream:
        recipe = json.dumps([dataclasses.asdict(config), pools.unknown,
                             sorted(pools.keywords.items()), self.noise_dirs], default=str)
        key = hashlib.sha1(recipe.encode()).hexdigest()[:16]
        path = os.path.join(self.cache_dir, f"{name}_{key}.npz")
        if not os.path.isfile(path):
            noise = tuple(p for d in self.noise_dirs for p in audio_files(d))
            recording = rec.make_recording(pools, noise, RATE, config)
            if self._embedder is None:
                self._embedder = self._make_embedder()
            started = time.monotonic()
            emb_, ends = embeddings_of_recording(self._embedder, recording.samples)
            print(f"  {name}: {recording.duration_s / 60:.0f} min, {len(recording.events)} "
                  f"words, embedded in {time.monotonic() - started:.0f} s", flush=True)
            events = json.dumps([dataclasses.asdict(e) for e in recording.events])
            os.makedirs(self.cache_dir, exist_ok=True)
            np.savez(path + ".tmp.npz", embeddings=emb_.astype(np.float16), end_s=ends / RATE,
                     events=np.array(events), duration_s=recording.duration_s)
            os.replace(path + ".tmp.npz", path)
        with np.load(path) as f:
            events = tuple(truth.Event(**e) for e in json.loads(str(f["events"])))
            return Stream(f["embeddings"], f["end_s"], events, float(f["duration_s"]))
