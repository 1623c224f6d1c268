"""openWakeWord's pretrained wake-word models as a posterior source, with onnxruntime alone.

openWakeWord (0.5.1) turns 16 kHz int16 audio into a 32-band melspectrogram every 10 ms (its
melspectrogram.onnx: 640-sample windows, 160-sample hop; then x / 10 + 2), a 96-d speech embedding
of every 76 mel frames, 8 frames (1280 samples, 80 ms) apart (embedding_model.onnx), and a word
score from the last 16 embeddings (e.g. alexa_v0.1.onnx): one score per 1280-sample frame. Here the
same models run on a whole recording at once (the melspectrogram in chunks), as its own
``AudioFeatures._get_embeddings`` does for clips; a score's time is the end of the audio it saw.
Its models are CC BY-NC-SA: they are read from a folder the benchmark installs them into, never
shipped with kws.
"""

from __future__ import annotations

import os

import numpy as np

from kws.errors import UserError

MEL_WINDOW_SAMPLES = 640
MEL_HOP_SAMPLES = 160
EMBEDDING_FRAMES = 76
EMBEDDING_STEP_FRAMES = 8
HEAD_EMBEDDINGS = 16
_CHUNK_FRAMES = 6000
_BATCH = 256


def mel_frames(num_samples: int) -> int:
    """Melspectrogram frames of ``num_samples`` (each needs a whole 640-sample window)."""
    return 0 if num_samples < MEL_WINDOW_SAMPLES else (
        (num_samples - MEL_WINDOW_SAMPLES) // MEL_HOP_SAMPLES + 1)


def mel_chunks(num_samples: int, chunk_frames: int) -> list[tuple[int, int]]:
    """[start, end) sample ranges whose melspectrograms, joined, are the whole one's frames."""
    frames = mel_frames(num_samples)
    return [(f * MEL_HOP_SAMPLES, (f + min(chunk_frames, frames - f) - 1) * MEL_HOP_SAMPLES
             + MEL_WINDOW_SAMPLES) for f in range(0, frames, chunk_frames)]


def score_end_samples(num_samples: int) -> np.ndarray:
    """int64 end sample (exclusive) of the audio behind each score of ``num_samples``."""
    embeddings = max(0, (mel_frames(num_samples) - EMBEDDING_FRAMES) // EMBEDDING_STEP_FRAMES + 1)
    last = np.arange(HEAD_EMBEDDINGS - 1, embeddings, dtype=np.int64)  # newest embedding per score
    last_frame = last * EMBEDDING_STEP_FRAMES + EMBEDDING_FRAMES - 1
    return last_frame * MEL_HOP_SAMPLES + MEL_WINDOW_SAMPLES


class OwwSource:
    """One openWakeWord model: labels (word,), a score every 1280 samples (module docstring)."""

    sample_rate_hz = 16000
    hop_samples = EMBEDDING_STEP_FRAMES * MEL_HOP_SAMPLES
    clip_samples = int(score_end_samples(16000 * 4)[0])

    def __init__(self, models_dir: str, model_file: str, word: str):
        import onnxruntime as ort  # pylint: disable=import-outside-toplevel

        paths = [os.path.join(models_dir, n) for n in
                 ("melspectrogram.onnx", "embedding_model.onnx", model_file)]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise UserError(f"openWakeWord model file(s) {missing} missing; install it with "
                            "pip install --no-deps --target <dir> openwakeword==0.5.1")
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self._mel, self._embed, self._head = (
            ort.InferenceSession(p, options, providers=["CPUExecutionProvider"]) for p in paths)
        self.labels = (word,)
        self.description = f"openWakeWord {model_file} (onnxruntime, every 80 ms)"

    def _melspectrogram(self, pcm: np.ndarray) -> np.ndarray:
        name = self._mel.get_inputs()[0].name
        parts = [self._mel.run(None, {name: pcm[None, a:b].astype(np.float32)})[0][0, 0]
                 for a, b in mel_chunks(len(pcm), _CHUNK_FRAMES)]
        return (np.concatenate(parts) if parts else np.zeros((0, 32), np.float32)) / 10 + 2

    def posteriors(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(times_ms float64 [n], scores float32 [n, 1]) of int16 ``samples``."""
        ends = score_end_samples(len(samples))
        if not len(ends):
            return np.zeros(0), np.zeros((0, 1), np.float32)
        mel = self._melspectrogram(np.asarray(samples, np.int16))
        starts = np.arange(0, len(mel) - EMBEDDING_FRAMES + 1, EMBEDDING_STEP_FRAMES)
        name = self._embed.get_inputs()[0].name
        embeddings = []
        for i in range(0, len(starts), _BATCH):
            batch = np.stack([mel[s:s + EMBEDDING_FRAMES] for s in starts[i:i + _BATCH]])
            embeddings.append(self._embed.run(None, {name: batch[..., None].astype(np.float32)})
                              [0].reshape(len(batch), -1))
        embeddings = np.concatenate(embeddings)
        head = self._head.get_inputs()[0].name
        scores = [self._head.run(None, {head: embeddings[None, j - HEAD_EMBEDDINGS + 1:j + 1]})
                  [0].reshape(-1)[0] for j in range(HEAD_EMBEDDINGS - 1, len(embeddings))]
        return 1000.0 * ends / self.sample_rate_hz, np.asarray(scores, np.float32)[:, None]
