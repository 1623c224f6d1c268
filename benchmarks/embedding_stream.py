"""A speech-embedding head (embedding_real_voices.py --save_head) on a long recording, as a source
of stream_side_by_side.py (its --embedding_heads): posteriors every 80 ms.

The recording is embedded as kws.head.streams embeds it (the mel chunk-wise); the head sees the
last ``embeddings`` of them (as it was trained: its clips padded to that many) and its posterior is
timed at the end of the audio its newest embedding saw. A head trained by `kws head` (its head.json
names no benchmark workdir) runs on the device's TFLite front end, the others on the ONNX copy.
"""

from __future__ import annotations

import json
import os

import numpy as np

import embedding_onnx as eo
from kws.errors import UserError
from kws.head.streams import DeviceEmbedder, embeddings_of_recording
from kws.head.trainer import head_posteriors


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
        if "workdir" in meta:
            self.embedder = eo.Embedder(eo.resources(meta["workdir"]))
        else:
            self.embedder = DeviceEmbedder(threads=1)
        self.sample_rate_hz = eo.SAMPLE_RATE_HZ
        front = meta.get("wheel") or meta.get("frontend", "?")
        self.description = (f"speech_embedding ({front}) + head of {self.steps} "
                            f"embeddings (float), every 80 ms")
        self._batch = batch

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        embeddings, ends = embeddings_of_recording(self.embedder, samples, self._batch)
        if len(embeddings) < self.steps:
            raise UserError(f"a recording of {len(samples)} samples is shorter than the head's "
                            f"view ({self.steps} embeddings)")
        post = head_posteriors(self.head, embeddings, self.steps, self._batch)
        return 1000.0 * ends[self.steps - 1:] / self.sample_rate_hz, post
