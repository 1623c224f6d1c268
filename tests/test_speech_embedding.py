"""benchmarks/speech_embedding.py: the framing of mel frames and embeddings, the window labels,
noise mixing and clip scores, against values worked out by hand.

Frame counts were measured once on melspectrogram.onnx (512-sample frames, hop 160, no centring:
16,000 samples -> 97 frames, 31,840 -> 196, 48,000 -> 297, 511 -> an error); no ONNX model is
loaded here. The functions run in a subprocess, as in test_custom_word.py (the benchmark defines
absl flags). Marked slow only to keep it out of the Bazel run (benchmarks/ is not a Bazel target).
"""

from __future__ import annotations

import pytest

from conftest import run_benchmark_code

pytestmark = pytest.mark.slow


def _run(code: str) -> dict:
    return run_benchmark_code("import speech_embedding as se", code)


def test_framing_of_mel_frames_embeddings_and_head_windows():
    got = _run("""
mel = np.repeat(np.arange(97, dtype=np.float32)[:, None], 32, axis=1)
windows = se.embedding_windows(mel)
try:
    se.embedding_windows(mel[:75])
    short = "no error"
except se.UserError as error:
    short = str(error)
ends = se.window_end_samples(28)
print(json.dumps({
    "frames": [se.mel_frames(n) for n in (511, 512, 16000, 16001, 31840, 48000)],
    "windows_shape": list(windows.shape),
    "window_first_last": [[float(w[0, 0, 0]), float(w[-1, 0, 0])] for w in windows],
    "short": short,
    "ends": [len(ends), int(ends[0]), int(ends[1] - ends[0]), int(ends[-1])],
    "frames_at_end": [se.mel_frames(int(e)) for e in ends[:3]],
    "embeddings_of_3_s": (se.mel_frames(48000) - 76) // 8 + 1,
}))
""")
    assert got["frames"] == [0, 1, 97, 97, 196, 297]
    assert got["windows_shape"] == [3, 76, 32, 1]
    assert got["window_first_last"] == [[0, 75], [8, 83], [16, 91]]
    assert "fewer than one window" in got["short"]
    # head window p ends with embedding p + 15, which sees mel frames up to 8 (p + 15) + 75:
    # 160 * (120 + 75) + 512 = 31,712 samples; one more every 1,280 samples (80 ms).
    assert got["ends"] == [13, 31712, 1280, 31712 + 12 * 1280]
    # exactly that many samples make exactly the frames the window needs: 8k + 76
    assert got["frames_at_end"] == [196, 204, 212]
    assert got["embeddings_of_3_s"] == 28


def test_window_labels_word_before_and_left_out():
    got = _run("""
ends = np.array([100, 200, 300, 400, 500])
labels, weights = se.window_labels(ends, 1, (150, 250), 3, 100)
neg_labels, neg_weights = se.window_labels(ends, 3, (0, 0), 3, 100)
print(json.dumps({"labels": labels.tolist(), "weights": weights.tolist(),
                  "neg": [neg_labels.tolist(), neg_weights.tolist()]}))
""")
    # gaps to the word's end: -150, -50, 50, 150, 250 (max 100): only the third is the word;
    # the first ends before the word starts (_unknown_); the rest hold part or all of it, unused.
    assert got["labels"] == [3, 3, 1, 3, 3]
    assert got["weights"] == [1, 0, 1, 0, 0]
    assert got["neg"] == [[3] * 5, [1] * 5]


def test_speech_span_padding_mixing_and_clip_scores():
    got = _run("""
rng = np.random.default_rng(0)
clip = np.zeros(16000, np.float32)
clip[4000:8000] = 0.5 * np.sin(np.arange(4000) / 5.0)
clip += 1e-4 * rng.standard_normal(16000).astype(np.float32)
padded = se.pad_clip(clip[:12000], 24000, 8000)
try:
    se.pad_clip(np.zeros(16001, np.float32), 0, 0)
    long = "no error"
except se.UserError as error:
    long = str(error)
noise = rng.standard_normal(48000).astype(np.float32)
mixed = se.mix(np.zeros(48000, np.float32), noise, 10.0, 0.01)
posteriors = np.array([[[0.1, 0.2, 0.7], [0.6, 0.1, 0.3]], [[0.0, 0.9, 0.1], [0.2, 0.3, 0.5]]])
print(json.dumps({"span": list(se.speech_span(clip)), "padded": [len(padded),
                  float(np.abs(padded[:24000]).max()), float(np.abs(padded[36000:]).max())],
                  "long": long, "noise_power": float(np.mean(mixed.astype(np.float64) ** 2)),
                  "scores": se.clip_scores(posteriors, [0, 1]).tolist()}))
""")
    assert got["span"] == [4000, 8000]
    assert got["padded"] == [48000, 0.0, 0.0]  # 1.5 s + clip made 1 s + 0.5 s, silent outside
    assert "longer than 1 s" in got["long"]
    assert got["noise_power"] == pytest.approx(0.001, rel=1e-3)  # 10 dB below 0.01
    assert got["scores"] == [[0.6, 0.2], [0.2, 0.9]]
