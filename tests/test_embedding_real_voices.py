"""benchmarks/embedding_real_voices.py: the augmented copies (shift with zero fill, noise gain in
its range), their draws (the same for a clip in every fold and repeat) and the per-clip cache
(a clip embedded once; generated _silence_ every time), with a stand-in embedder instead of the
ONNX models. Run in a subprocess (the benchmark defines absl flags). Marked slow only to keep it
out of the Bazel run (benchmarks/ is not a Bazel target).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import BENCHMARKS, run_benchmark_code

pytestmark = pytest.mark.slow


def _run(argv: list[str], code: str) -> dict:
    return run_benchmark_code("import embedding_real_voices as erv\nfrom absl import flags\n"
                              f"flags.FLAGS({['x', '--data_dir=unused'] + argv!r})", code)


def test_augmented_copy_is_a_shift_with_zero_fill_plus_noise_in_range():
    got = _run(["--background_frequency=1", "--background_volume=0.1", "--time_shift_ms=100"], """
wave = np.linspace(0.1, 0.5, 16000).astype(np.float32)
noise = np.ones(20000, np.float32)

def shifted(s):
    ref = np.zeros_like(wave)
    if s >= 0:
        ref[s:] = wave[:16000 - s]
    else:
        ref[:s] = wave[-s:]
    return ref

shifts, gains = [], []
for k in range(20):
    out = erv.augmented(wave, [noise], np.random.default_rng(k))
    # the one shift (zero fill) that leaves a constant gain of the all-ones noise
    found = [(s, float(np.mean(out - shifted(s)))) for s in range(-1600, 1601)
             if np.ptp(out - shifted(s)) < 1e-6]
    assert len(found) == 1, (k, len(found))
    shifts.append(found[0][0])
    gains.append(found[0][1])
print(json.dumps({"shifts": shifts, "gains": gains}))
""")
    assert all(-1600 <= s <= 1600 for s in got["shifts"]) and len(set(got["shifts"])) > 10
    assert all(0.0 <= g <= 0.1 for g in got["gains"])


def test_draws_follow_the_clip_not_the_row_and_differ_by_copy():
    got = _run([], """
a = erv._draw("/x/yes/a.wav", 1, 0).random(3).tolist()
print(json.dumps({"same_clip_other_row": a == erv._draw("/x/yes/a.wav", 1, 7).random(3).tolist(),
                  "other_copy": a == erv._draw("/x/yes/a.wav", 2, 0).random(3).tolist(),
                  "other_clip": a == erv._draw("/x/yes/b.wav", 1, 0).random(3).tolist(),
                  "silence_by_row": erv._draw(None, 1, 3).random(3).tolist()
                                    == erv._draw(None, 1, 3).random(3).tolist(),
                  "silence_rows_differ": erv._draw(None, 1, 3).random(3).tolist()
                                         != erv._draw(None, 1, 4).random(3).tolist()}))
""")
    assert got == {"same_clip_other_row": True, "other_copy": False, "other_clip": False,
                   "silence_by_row": True, "silence_rows_differ": True}


def test_cache_embeds_a_clip_once_and_generated_silence_every_time(tmp_path):
    got = _run([f"--workdir={tmp_path}", "--pad_ms=250"], """
class Fake:
    calls = 0
    def __call__(self, audio):  # [clips, samples] -> [clips, 2, 96]: length / 1000 and peak
        Fake.calls += len(audio)
        return np.stack([np.stack([np.full(96, len(a) / 1000), np.full(96, a.max())])
                         for a in audio])
waves = np.stack([np.full(16000, v, np.float32) for v in (0.1, 0.2, 0.3)])
keys = ["/a.wav", None, "/b.wav"]
first = erv.embed(Fake(), waves, keys, 0, [], "t")
after_first = Fake.calls
again = erv.embed(Fake(), waves * 0, keys, 0, [], "t")  # other audio: keyed rows come from cache
print(json.dumps({"calls": [after_first, Fake.calls], "shape": list(first.shape),
                  "cached_a": bool(np.array_equal(first[0], again[0])),
                  "silence_recomputed": bool(not np.array_equal(first[1], again[1])),
                  "padded_length": float(first[0][0, 0])}))
""")
    assert got["calls"] == [3, 4]
    assert got["shape"] == [3, 2, 96]
    assert got["cached_a"] and got["silence_recomputed"]
    # 1 s + 250 ms of silence each side = 24,000 samples reached the embedder
    assert got["padded_length"] == 24.0


def test_a_clip_repeated_in_one_call_is_embedded_once(tmp_path):
    got = _run([f"--workdir={tmp_path}"], """
class Fake:
    calls = 0
    def __call__(self, audio):
        Fake.calls += len(audio)
        return np.stack([np.full((2, 96), a.max()) for a in audio])
waves = np.stack([np.full(16000, v, np.float32) for v in (0.1, 0.1, 0.5, 0.1)])
out = erv.embed(Fake(), waves, ["/a.wav", "/a.wav", None, "/a.wav"], 1, [], "t")
print(json.dumps({"calls": Fake.calls, "repeats_equal": bool(np.array_equal(out[0], out[3])
                                                             and np.array_equal(out[1], out[3]))}))
""")
    assert got == {"calls": 2, "repeats_equal": True}


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "embedding_real_voices.py"), *args],
                          capture_output=True, text=True, check=False, timeout=300)


def test_a_missing_tree_is_a_one_line_error(tmp_path):
    done = _script(f"--data_dir={tmp_path / 'nope'}", f"--workdir={tmp_path / 'w'}")
    assert done.returncode == 1
    assert "data dir" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_fold_file_of_other_clips_is_refused_before_any_embedding(tmp_path, shared_data):
    fold = tmp_path / "fold.json"
    fold.write_text(json.dumps({"rows": [{"model": "MLPerf Tiny reference, held-out clips",
                                          "clips": 1}]}))
    done = _script(f"--data_dir={shared_data / 'speech_commands_test_v0.02_dev'}",
                   f"--workdir={tmp_path / 'w'}", f"--fold_json={fold}")
    assert done.returncode == 1
    assert "has no reference row on this tree's" in done.stderr
    assert not (tmp_path / "w" / "pkg").exists()  # the wheel was not even installed


def test_teacher_probabilities_come_from_heads_that_never_heard_the_speaker(tmp_path):
    got = _run([f"--teacher_output={tmp_path / 't.npz'}", "--teacher_folds=3"], """
from kws.training import distill
speakers = [f"{k:08x}" for k in range(9)]
keys = [f"/d/yes/{s}_nohash_0.wav" for s in speakers] + [None, f"/d/yes/{speakers[0]}_nohash_0.wav"]
code = [float(k) for k in range(9)] + [-1.0, 0.0]  # a speaker's number; -1: generated _silence_
clean = np.array(code, np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
x = np.concatenate([clean, clean])  # copy 0 and one augmented copy
y = np.zeros(len(x), np.int64)
trained = []

class Head:  # probability of "a" = 1 when the clip's speaker was not in this head's training
    def __init__(self, seen):
        self.seen = set(seen.tolist())
    def predict(self, batch, verbose=0):
        a = np.array([0.0 if v in self.seen else 1.0 for v in batch[:, 0, 0]], np.float32)
        return np.stack([a, 1 - a], 1)

def fake_train(xs, ys, n, seed):
    trained.append(sorted(set(xs[:, 0, 0].tolist())))
    return Head(xs[:, 0, 0])

erv.train_head = fake_train
erv.write_teacher(None, clean, x, y, keys, ["a", "b"])
table = distill.load_teacher_probs(%r, ["a", "b"])
print(json.dumps({"keys": sorted(table), "a": [float(table[k][0]) for k in sorted(table)],
                  "trained": trained}))
""" % str(tmp_path / "t.npz"))
    assert got["keys"] == sorted({f"/d/yes/{k:08x}_nohash_0.wav" for k in range(9)})  # no silence
    assert got["a"] == [1.0] * 9  # every clip labelled by a head that never heard its speaker
    assert len(got["trained"]) == 3
    assert all(-1.0 in seen and 4 <= len(seen) <= 9 for seen in got["trained"])  # silence in each
    assert set().union(*map(set, got["trained"])) == set(range(-1, 9))
