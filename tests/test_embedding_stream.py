"""benchmarks/embedding_stream.py: the head's posteriors are timed at the end of the audio its newest
embedding saw, with stand-ins for the ONNX models and the head (frame-local functions whose
outputs say which samples they saw). Marked slow only to keep it out of the Bazel run
(benchmarks/ is not a Bazel target).
"""

from __future__ import annotations

import pytest

from conftest import run_benchmark_code

pytestmark = pytest.mark.slow

FAKES = """
import embedding_stream as es
import embedding_onnx as eo

class Mel:  # frame i of [clips, samples]: 32 copies of the mean of its 512 samples
    def mel_of(self, audio):
        n = eo.mel_frames(audio.shape[1])
        idx = np.arange(n)[:, None] * 160 + np.arange(512)
        return audio[:, idx].mean(axis=2)[..., None].repeat(32, axis=2)

class Embedding:  # embedding of a 76-frame window: 96 copies of its last frame's value
    def run(self, _, feeds):
        windows = feeds["input_1"]
        return [windows[:, -1, 0, 0][:, None].repeat(96, axis=1)]
"""


def test_posteriors_are_timed_at_the_end_of_the_newest_embedding():
    got = run_benchmark_code(FAKES, """
class Head:  # posterior of a view: its newest embedding's value, and its oldest (called as Keras
    def __call__(self, views, training=False):  # models are called)
        assert training is False
        return np.stack([views[:, -1, 0], views[:, 0, 0]], axis=1)

class Embedder(eo.Embedder):  # the real embedding calls around the stand-in models
    def __init__(self):
        self.embedding = Embedding()
    mel_of = Mel().mel_of

source = object.__new__(es.EmbeddingSource)
source.head, source.steps, source.sample_rate_hz, source._batch = Head(), 4, 16000, 5
source.embedder = Embedder()
samples = (np.arange(16000 * 3) % 30000).astype(np.int16)  # a ramp: a sample's value is its time
times, post = source.posteriors(samples)
# the newest embedding's last frame covers samples [end - 512, end): its mean is end - 256.5
print(json.dumps({"n": len(times), "times": times[:3].tolist(),
                  "newest": (post[:3, 0] * 32768).tolist(), "oldest": (post[:3, 1] * 32768).tolist()}))
""")
    frames = (48000 - 512) // 160 + 1
    embeddings = (frames - 76) // 8 + 1
    assert got["n"] == embeddings - 3
    ends = [160 * (8 * k + 75) + 512 for k in (3, 4, 5)]
    assert got["times"] == pytest.approx([1000 * e / 16000 for e in ends])
    assert got["newest"] == pytest.approx([e - 256.5 for e in ends], abs=0.05)
    assert got["oldest"] == pytest.approx([e - 3 * 8 * 160 - 256.5 for e in ends], abs=0.05)
