"""benchmarks/wake_word.py and oww_peer.py: the FA/h budget threshold, the per-word detector on
the stream and on a clip, skipped clips, the negative stream, openWakeWord's frame arithmetic.

wake_word's functions run in a subprocess (it imports custom_word, whose absl flags share names
with kws-train's). Expected figures are worked out by hand from the made-up posteriors below
(or, for openWakeWord's frames, from what its melspectrogram.onnx returned for 1 s: 97 frames).
Marked slow only to keep it out of the Bazel run (benchmarks/ is not a Bazel target).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kws import audio

from conftest import BENCHMARKS, run_benchmark_code

sys.path.insert(0, str(BENCHMARKS))
import oww_peer  # noqa: E402  (beside the benchmark; no flags, no TensorFlow)


pytestmark = pytest.mark.slow


def _run(code: str) -> dict:
    return run_benchmark_code("import wake_word as ww", code)


def test_budget_threshold_holds_from_there_on():
    got = _run("""
t = (0.1, 0.2, 0.3, 0.4)
fa = np.array([5.0, 1.0, 2.0, 0.0])
print(json.dumps({"b1": ww.budget_threshold(t, fa, 1.0), "b2": ww.budget_threshold(t, fa, 2.0),
                  "b9": ww.budget_threshold(t, fa, 9.0),
                  "none": ww.budget_threshold(t, np.array([3.0, 3.0, 3.0, 2.0]), 1.0),
                  "miss": ww.miss_rate(np.array([0.1, 0.25, 0.3, 0.9]), 0.3),
                  "miss_none": ww.miss_rate(np.array([0.5]), None)}))
""")
    assert got["b1"] == pytest.approx(0.4)  # 0.2 is within 1 FA/h but 0.3 above it is not
    assert got["b2"] == pytest.approx(0.2)
    assert got["b9"] == pytest.approx(0.1)
    assert got["none"] is None
    assert got["miss"] == pytest.approx(0.5)  # 0.1 and 0.25 stay below 0.3; 0.3 fires (>=)
    assert got["miss_none"] is None


def test_stream_false_accepts_per_hour_and_clip_scores():
    got = _run("""
times = 100.0 * np.arange(1, 41)                # a window every 100 ms, 4 s
a = np.zeros(40)
a[9:12] = 0.9                                   # 1.0-1.2 s: one word-like burst
a[29] = 0.7                                     # 3.0 s
a[34] = 0.95                                    # 3.5 s: within 1 s of 3.0 s
post = np.stack([a, 1 - a], axis=1)             # labels (word, _unknown_)
fa = ww.fa_per_hour(times, post, 0, 80.0, (0.6, 0.8, 0.92, 0.99), 0.5)
ct = 100.0 * np.arange(1, 6)
c = np.array([0.0, 0.6, 0.9, 0.3, 0.0])
clip = np.stack([c, 1 - c], axis=1)
low = np.full(5, 0.4)
print(json.dumps({"fa": fa.tolist(),
                  "raw": ww.clip_score(ct, clip, 0, 80.0),
                  "avg300": ww.clip_score(ct, clip, 0, 300.0),
                  "never_top": ww.clip_score(ct, np.stack([low, 1 - low], axis=1), 0, 80.0)}))
""")
    # 0.6: 1.0 s and 3.0 s fire, 3.5 s is suppressed -> 2 in half an hour; 0.8: 1.0 s, 3.5 s;
    # 0.92: 3.5 s only; 0.99: nothing.
    assert got["fa"] == pytest.approx([4.0, 4.0, 2.0, 0.0])
    assert got["raw"] == pytest.approx(0.9)
    # 300 ms means (windows ending in (t - 300, t]): 0, 0.3, 0.5, 0.6, 0.4; at 0.5 the word ties
    # _unknown_ (argmax takes the word, column 0), at 0.6 it leads: 0.6.
    assert got["avg300"] == pytest.approx(0.6)
    assert got["never_top"] == 0.0  # 0.4 < 0.6 of _unknown_: the word is never the top label


def test_confusables_fixed_given_or_a_clear_error():
    got = _run("""
from kws.errors import UserError
out = {"fixed": ww.wake_confusables(["jarvis"], None, 0, ()),
       "given": ww.wake_confusables(["jarvis", "nope"], ["a", "b"], 0, ())}
try:
    ww.wake_confusables(["alexa", "nope"], None, 0, ())
except UserError as e:
    out["error"] = str(e)
print(json.dumps(out))
""")
    assert got["fixed"] == ["jargon", "harvest", "service", "nervous", "jarred"]
    assert got["given"] == ["a", "b"]
    assert "['nope']" in got["error"] and "--confusables" in got["error"]


def test_short_and_unreadable_clips_are_skipped_with_a_reason(tmp_path):
    rate = 16000
    audio.write_wav(str(tmp_path / "short.wav"), np.full(rate // 5, 1000, np.int16), rate)
    audio.write_wav(str(tmp_path / "ok.wav"), np.full(rate, 1000, np.int16), rate)
    (tmp_path / "broken.flac").write_bytes(b"fLaC" + bytes(40))
    got = _run(f"""
out = {{}}
for name in ("short.wav", "ok.wav", "broken.flac"):
    clip, why = ww.read_positive({str(tmp_path)!r} + "/" + name, 500.0)
    out[name] = [None if clip is None else len(clip), why]
pcm = ww.padded_pcm(np.full(100, 0.5, np.float32), 10.0, 5.0)
out["pad"] = [len(pcm), str(pcm.dtype), int(pcm[0]), int(pcm[160]), int(pcm[-1])]
print(json.dumps(out))
""")
    assert got["short.wav"][0] is None and "200 ms < --min_clip_ms=500" in got["short.wav"][1]
    assert got["ok.wav"] == [rate, ""]
    assert got["broken.flac"][0] is None and got["broken.flac"][1].startswith("unreadable")
    assert got["pad"] == [160 + 100 + 80, "int16", 0, 16384, 0]


def test_negative_stream_is_all_negative_clips_in_order(tmp_path):
    rate = 16000
    rng = np.random.default_rng(0)
    clips = []
    for k in range(3):
        path = tmp_path / f"neg{k}.wav"
        tone = 3000 * np.sin(2 * np.pi * (300 + 100 * k) * np.arange(rate // 2) / rate)
        audio.write_wav(str(path), tone.astype(np.int16), rate)
        clips.append(str(path))
    noise = tmp_path / "noise.wav"
    audio.write_wav(str(noise), (300 * rng.standard_normal(2 * rate)).astype(np.int16), rate)
    got = _run(f"""
r = ww.negative_stream({clips!r}, [{str(noise)!r}], 0.5, 3, 2.0)
print(json.dumps({{"n": len(r.samples), "dtype": str(r.samples.dtype),
                  "labels": sorted({{e.label for e in r.events}}),
                  "sources": [e.source for e in r.events],
                  "starts": [e.clip_start_s for e in r.events],
                  "ends": [e.clip_end_s for e in r.events]}}))
""")
    assert got["n"] == 30 * rate and got["dtype"] == "int16"
    assert got["labels"] == ["_unknown_"]
    assert set(got["sources"]) == set(clips)
    # each clip once before any repeats; 0.5 s clips at least 0.5 s apart, none before 1 s
    assert sorted(got["sources"][:3]) == sorted(clips)
    assert got["starts"][0] >= 1.0
    gaps = np.array(got["starts"][1:]) - np.array(got["ends"][:-1])
    assert np.all(gaps >= 0.5 - 1e-6)
    assert np.allclose(np.array(got["ends"]) - np.array(got["starts"]), 0.5)
    assert got["ends"][-1] <= 30 - 2.0  # the 2 s tail
    assert len(got["starts"]) >= 30 // 5  # mean period 0.5 s clip + 2 s gap: ~11 in 28 s


def test_openwakeword_frame_arithmetic():
    assert oww_peer.mel_frames(16000) == 97  # what melspectrogram.onnx gives for 1 s
    assert oww_peer.mel_frames(639) == 0 and oww_peer.mel_frames(640) == 1
    chunks = oww_peer.mel_chunks(16000, 40)
    assert [a for a, _ in chunks] == [0, 6400, 12800]
    assert sum(oww_peer.mel_frames(b - a) for a, b in chunks) == 97
    assert chunks[-1][1] == 96 * 160 + 640  # the last frame's window ends there
    # 4 s: 397 mel frames -> 41 embeddings (every 8 frames, 76 each) -> 26 scores of 16
    ends = oww_peer.score_end_samples(64000)
    assert len(ends) == 26
    assert ends[0] == (15 * 8 + 75) * 160 + 640
    assert np.all(np.diff(ends) == 1280)
    assert len(oww_peer.score_end_samples(31839)) == 0
    assert len(oww_peer.score_end_samples(31840)) == 1
