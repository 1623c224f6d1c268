"""A speech-embedding head (embedding_real_voices.py --save_head) on a long recording, as a source
of stream_side_by_side.py (its --embedding_heads): posteriors every 80 ms.

The recording's mel frames (melspectrogram.onnx: 512-sample frames every 160 samples) are computed
in chunks of whole frames and joined. A frame depends on its own samples, except that the model
floors its log mel at a fixed distance below the loudest value of the call: frames quieter than that
(digital silence, mostly) equal those of one call on the whole recording only when the chunk's
loudest value is the recording's; embedding k sees frames 8k .. 8k + 75; the head sees the last
``embeddings`` of them (as it was trained: its clips padded to that many) and its posterior is
timed at the end of the audio its newest embedding saw.
"""

from __future__ import annotations

import json
import os

import numpy as np

import embedding_onnx as eo
from kws.errors import UserError

CHUNK_FRAMES = 6000  # 60 s of mel frames per melspectrogram.onnx call


def mel_of_recording(embedder: eo.Embedder, audio: np.ndarray,
                     chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """float32 [frames, 32] of float audio [samples], chunk by chunk (module docstring)."""
    total = eo.mel_frames(len(audio))
    parts = []
    for first in range(0, total, chunk_frames):
        frames = min(chunk_frames, total - first)
        start = first * eo.MEL_HOP_SAMPLES
        piece = audio[start:start + eo.MEL_HOP_SAMPLES * (frames - 1) + eo.N_FFT_SAMPLES]
        parts.append(embedder.mel_of(piece[None])[0][:frames])
    return np.concatenate(parts)


class EmbeddingSource:
    """stream_side_by_side.py's source interface: labels, description, posteriors(int16 samples)."""

    def __init__(self, head_dir: str, batch: int = 2048):
        meta_path = os.path.join(head_dir, "head.json")
        if not os.path.isfile(meta_path):
            raise UserError(f"{head_dir}: no head.json; give a folder written by "
                            "embedding_real_voices.py --save_head")
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        import keras  # pylint: disable=import-outside-toplevel
        self.head = keras.models.load_model(os.path.join(head_dir, "head.keras"))
        self.labels = tuple(meta["labels"])
        self.steps = int(meta["embeddings"])
        self.embedder = eo.Embedder(eo.resources(meta["workdir"]))
        self.sample_rate_hz = eo.SAMPLE_RATE_HZ
        self.description = (f"speech_embedding ({meta['wheel']}) + head of {self.steps} "
                            f"embeddings (float), every 80 ms")
        self._batch = batch

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings, ends = embeddings_of_recording(self.embedder, samples, self._batch)
        if len(embeddings) < self.steps:
            raise UserError(f"a recording of {len(samples)} samples is shorter than the head's "
                            f"view ({self.steps} embeddings)")
        post = head_posteriors(self.head, embeddings, self.steps, self._batch)
        return 1000.0 * ends[self.steps - 1:] / self.sample_rate_hz, post


def head_posteriors(head, embeddings: np.ndarray, steps: int, batch: int = 2048) -> np.ndarray:
    """float32 [n - steps + 1, labels]: the window head on every ``steps`` consecutive rows of
    ``embeddings`` [n, 96]. The head is called, not predict(): predict's per-call set-up cost more
    than the head itself on a clip of a few seconds."""
    views = np.lib.stride_tricks.sliding_window_view(embeddings, steps, axis=0)
    views = np.moveaxis(views, -1, 1)  # [n - steps + 1, steps, 96]
    return np.concatenate([np.asarray(head(views[i:i + batch], training=False))
                           for i in range(0, len(views), batch)]).astype(np.float32)


def embeddings_of_recording(embedder: eo.Embedder, samples: np.ndarray, batch: int = 2048
                            ) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [n, 96] embeddings every 80 ms, int64 [n] the sample where each one's audio ends)
    of int16 ``samples``; the mel is made chunk-wise (module docstring)."""
    if eo.mel_frames(len(samples)) < eo.WINDOW_FRAMES:
        return np.zeros((0, eo.EMBEDDING_DIM), np.float32), np.zeros(0, np.int64)
    mel = mel_of_recording(embedder, samples.astype(np.float32) / 32768.0)
    n = eo.embedding_count(len(mel))
    embeddings = [np.zeros((0, eo.EMBEDDING_DIM), np.float32)]
    for k in range(0, n, batch):  # the frames of embeddings k .. k + batch - 1
        frames = mel[k * eo.WINDOW_HOP_FRAMES:
                     (min(n, k + batch) - 1) * eo.WINDOW_HOP_FRAMES + eo.WINDOW_FRAMES]
        embeddings.append(embedder.embeddings_of_mel(frames))
    return np.concatenate(embeddings).astype(np.float32), eo.embedding_end_samples(n)
