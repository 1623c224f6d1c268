"""benchmarks/custom_word_head.py: each scored clip is embedded alone (a louder clip beside it
cannot change its embeddings) and cached; the head's windows never cross from one clip into the
next; the head's own detector scored on made-up clips; the noise folders of the extra negatives
are not trained on.

Run in subprocesses (the benchmark defines absl flags); stand-ins replace the ONNX models and the
head, and expected figures are worked out by hand. Marked slow only to keep it out of the Bazel
run (benchmarks/ is not a Bazel target).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from kws import audio

from conftest import run_benchmark_code

pytestmark = pytest.mark.slow

_IMPORTS = """
import os
import custom_word_head as ch
import embedding_onnx as eo
import embedding_stream as es
from absl import flags

class Embedder(eo.Embedder):
    # mel frame: the mean of its 512 samples, floored 0.1 below the call's loudest frame (as the
    # real model floors its log mel); embedding of a window: 96 copies of its last frame
    def __init__(self, *args, **kwargs):
        pass
    def mel_of(self, audio):
        n = eo.mel_frames(audio.shape[1])
        idx = np.arange(n)[:, None] * 160 + np.arange(512)
        frames = audio[:, idx].mean(axis=2)
        frames = np.maximum(frames, frames.max() - 0.1)
        return frames[..., None].repeat(32, axis=2)
    def embeddings_of_mel(self, mel):
        windows = eo.embedding_windows(mel)
        return windows[:, -1, 0, 0][:, None].repeat(96, axis=1)
"""


def test_each_clip_is_embedded_alone_and_cached(tmp_path):
    quiet = np.full(8000, 0.01, np.float32)
    loud = np.full(12000, 0.5, np.float32)
    for name, clip in (("quiet", quiet), ("loud", loud)):
        audio.write_wav(str(tmp_path / f"{name}.wav"), audio.to_int16(clip), 16000)
    got = run_benchmark_code(_IMPORTS, f"""
clips = {{"positive:bed": [{str(tmp_path / 'quiet.wav')!r}],
          "keywords": [{str(tmp_path / 'loud.wav')!r}, {str(tmp_path / 'quiet.wav')!r}]}}
out = ch.clip_embeddings(clips, {str(tmp_path / 'cache')!r}, 500.0, 250.0, Embedder)

def alone(clip):
    samples = np.concatenate([np.zeros(8000, np.float32), clip, np.zeros(4000, np.float32)])
    return es.embeddings_of_recording(Embedder(), ch.audio.to_int16(samples))[0]
quiet = np.full(8000, 0.01, np.float32)
loud = np.full(12000, 0.5, np.float32)
kw = out["keywords:embeddings"].astype(np.float32)
n_loud = int(out["keywords:lengths"][0])
again = ch.clip_embeddings(clips, {str(tmp_path / 'cache')!r}, 500.0, 250.0, None)  # cached
print(json.dumps({{
    "lengths": [out["positive:bed:lengths"].tolist(), out["keywords:lengths"].tolist()],
    "expected": [len(alone(quiet)), len(alone(loud))],
    "bed_alone": float(np.abs(out["positive:bed:embeddings"] - alone(quiet)).max()),
    "loud_alone": float(np.abs(kw[:n_loud] - alone(loud)).max()),
    "quiet_after_loud": float(np.abs(kw[n_loud:] - alone(quiet)).max()),
    "cached": bool(np.array_equal(again["keywords:embeddings"], out["keywords:embeddings"]))}}))
""")
    # 8000 + 8000 + 4000 samples: (20000 - 512) // 160 + 1 = 122 frames, (122 - 76) // 8 + 1 = 6
    assert got["expected"][0] == 6
    assert got["lengths"] == [[6], [got["expected"][1], 6]]
    # float16 storage: within its rounding of values up to 0.5
    assert got["bed_alone"] < 1e-3 and got["loud_alone"] < 1e-3
    assert got["quiet_after_loud"] < 1e-3  # the loud clip did not raise the quiet one's floor
    assert got["cached"]


def test_the_heads_windows_never_cross_into_the_next_clip():
    got = run_benchmark_code(_IMPORTS, """
class Head:  # a view's posterior: its oldest and its newest embedding's first value
    def __call__(self, views, training=False):
        return np.stack([views[:, 0, 0], views[:, -1, 0]], axis=1)
emb = np.arange(20 + 17, dtype=np.float32)[:, None].repeat(96, axis=1)
per_clip = ch.clip_posteriors(Head(), emb, np.array([20, 17]))
print(json.dumps([{"times": t.tolist(), "post": p.tolist()} for t, p in per_clip]))
""")
    first, second = got
    # 16-embedding views: 20 - 15 = 5 windows in the first clip, 17 - 15 = 2 in the second
    assert [row for row in first["post"]] == [[j, j + 15] for j in range(5)]
    assert [row for row in second["post"]] == [[20 + j, 35 + j] for j in range(2)]
    # embedding k's audio ends at 160 * (8k + 75) + 512 samples: the window ending at k = 15
    assert first["times"][0] == pytest.approx(1000 * (160 * (8 * 15 + 75) + 512) / 16000)
    assert second["times"] == first["times"][:2]  # timed from the start of its own clip


def test_the_heads_own_detector_on_clips():
    got = run_benchmark_code(_IMPORTS + "\nfrom kws.device import detect", """
labels = ("_unknown_", "bed", "cat")
def clip(bed, cat):
    t = 80.0 * np.arange(1, 11)
    p = np.zeros((10, 3), np.float32)
    p[:, 1], p[4:7, 1] = 0.0, bed
    p[:, 2], p[4:7, 2] = 0.0, cat
    p[:, 0] = 1 - p[:, 1] - p[:, 2]
    return t, p
scans = {"positive:bed": [clip(0.9, 0), clip(0.5, 0)],          # caught, missed
         "positive:cat": [clip(0, 0.95), clip(0, 0.9), clip(0, 0.1), clip(0.8, 0)],
         "keywords": [clip(0, 0), clip(0.9, 0), clip(0, 0)],     # a bed false accept
         "arabic_test": [clip(0, 0.85)]}                          # a cat false accept
d = detect.DetectorConfig(average_window_ms=240.0, threshold=0.7, minimum_count=3)
print(json.dumps(ch.detector_rates(scans, labels, ["bed", "cat"], d)))
""")
    assert got["bed"]["recall"] == pytest.approx(1 / 2)
    assert got["cat"]["recall"] == pytest.approx(2 / 4)  # the 4th cat clip reports bed
    assert got["bed"]["false_accepts"] == pytest.approx(1 / 4)
    assert got["cat"]["false_accepts"] == pytest.approx(1 / 4)
    assert got["pooled"]["recall"] == pytest.approx(3 / 6)
    assert got["pooled"]["false_accepts"] == pytest.approx(2 / 4)
    assert got["bed"]["threshold"] == pytest.approx(0.7)


def test_noise_folders_of_the_extra_negatives_are_not_trained_on(tmp_path):
    tree, extra = tmp_path / "synth", tmp_path / "extra"
    tone = audio.to_int16(0.3 * np.sin(np.linspace(0, 800, 8000)).astype(np.float32))
    for root, folders in ((tree, ("bed", "cat", "bad")), (extra, ("dog", "cat", "stop",
                                                           "_background_noise_"))):
        for folder in folders:
            os.makedirs(root / folder)
            audio.write_wav(str(root / folder / "v0_nohash_0.wav"), tone, 16000)
    (tree / "validation_list.txt").write_text("")
    (tree / "testing_list.txt").write_text("")
    got = run_benchmark_code(_IMPORTS + "\nimport wake_word_head as wh", f"""
flags.FLAGS(['x', '--extra_negative_dirs={extra}', '--negative_dirs='])
pools = wh.training_pools({str(tree)!r}, ("bed", "cat"), ("train",), ch.LEAVE_OUT)
print(json.dumps(sorted(os.path.relpath(p, {str(tmp_path)!r}) for p in pools.unknown)))
""")
    # the custom words (cat), the scored keywords (stop) and the noise folder are left out
    assert got == ["extra/dog/v0_nohash_0.wav", "synth/bad/v0_nohash_0.wav"]
    # ... where without ch.LEAVE_OUT a 60-s noise recording would be one more "other word"


def test_an_ensemble_scores_the_mean_of_its_heads_posteriors():
    got = run_benchmark_code(_IMPORTS, """
t = np.array([80.0, 160.0])
a = {"positive:bed": [(t, np.array([[0.8, 0.2], [0.6, 0.4]]))], "keywords": []}
b = {"positive:bed": [(t, np.array([[0.2, 0.8], [0.4, 0.6]]))], "keywords": []}
mean = ch.mean_scans([a, b])
print(json.dumps({"times": mean["positive:bed"][0][0].tolist(),
                  "post": mean["positive:bed"][0][1].tolist(), "keywords": mean["keywords"]}))
""")
    assert got["times"] == [80.0, 160.0]
    assert np.allclose(got["post"], [[0.5, 0.5], [0.5, 0.5]])
    assert got["keywords"] == []


def _keyword_tree(root, speakers):
    for word in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"):
        os.makedirs(root / word)
        for s in speakers:
            (root / word / f"{s}_nohash_0.wav").write_bytes(b"")


def test_keyword_speakers_trained_on_are_never_scored(tmp_path, shared_data):
    speakers = [f"spk{i:03d}" for i in range(40)]
    _keyword_tree(tmp_path / "kw", speakers)
    got = run_benchmark_code(_IMPORTS, f"""
flags.FLAGS(['x', '--keyword_negatives_dir={tmp_path / 'kw'}', '--train_keyword_speakers',
             '--keyword_speakers=test', '--arabic_dir={shared_data / 'arabic_speech_commands_negatives'}'])
groups = {{s: sorted(p) for s, p in ch.keyword_negatives().items()}}
clips = ch.cw.scored_clips([])
kept = ch.scored_speakers(clips)
groups["scored"] = [p for p, k in zip(clips["keywords"], kept["keywords"]) if k]
groups["arabic_kept"] = bool(kept["arabic_test"].all()) and len(kept["arabic_test"]) > 0
print(json.dumps(groups))
""")
    # the documented rule, worked out here: SHA-1 of the salted speaker, 10 % validate, the next
    # 50 % (--keyword_test_percentage) are scored, the rest train
    import hashlib  # pylint: disable=import-outside-toplevel
    percent = {s: int(hashlib.sha1(f"custom_word_head:{s}".encode()).hexdigest(), 16) % 10_000 / 100
               for s in speakers}
    expected = {"validation": {s for s in speakers if percent[s] < 10},
                "scored": {s for s in speakers if 10 <= percent[s] < 60},
                "train": {s for s in speakers if percent[s] >= 60}}
    for group, want in expected.items():
        assert {os.path.basename(p).split("_")[0] for p in got[group]} == want
        assert len(got[group]) == 10 * len(want)  # all ten words of each of its speakers
    assert expected["scored"] and expected["train"]  # 40 speakers: both sides hold some
    assert got["arabic_kept"]


def test_the_speech_commands_rule_puts_every_dev_speaker_in_test(shared_data):
    # why keyword_split salts the hash: the shared dev set is Speech Commands' own test split,
    # so its rule (at custom_word's 10 / 30 %) cannot hold any of its speakers out for training
    from kws.data import speech_commands as sc  # pylint: disable=import-outside-toplevel
    names = os.listdir(shared_data / "speech_commands_test_v0.02_dev" / "yes")
    assert len(names) > 100
    assert {sc.split_of(n, 10.0, 30.0) for n in names} == {"test"}


def test_training_on_keyword_speakers_requires_scoring_only_the_others(tmp_path):
    _keyword_tree(tmp_path / "kw", ["spk000"])
    got = run_benchmark_code(_IMPORTS, f"""
flags.FLAGS(['x', '--keyword_negatives_dir={tmp_path / 'kw'}', '--train_keyword_speakers'])
try:
    ch.keyword_negatives()
    print(json.dumps("no error"))
except ch.UserError as e:
    print(json.dumps(str(e)))
""")
    assert "--keyword_speakers=test" in got
