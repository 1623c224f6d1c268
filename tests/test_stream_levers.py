"""The helpers of the stream-lever benchmarks: benchmarks/stream_miss_diagnosis.py (longest runs,
the real-speaker tree), speed_perturbed_tree.py and babble_negatives.py."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from conftest import run_benchmark_code


def test_longest_run_at_a_threshold():
    got = run_benchmark_code("import stream_miss_diagnosis as d", """
print(json.dumps([d.runs_at(np.array(v), 0.9) for v in
                  ([0.95, 0.2, 0.91, 0.92, 0.95, 0.1], [0.1, 0.89], [], [0.9, 0.9])]))
""")
    assert got == [3, 0, 0, 2]


def _tree(root):
    """A real_voices.py-like tree: real repeats of two speakers, a synthetic clip, lists."""
    rate = 16000
    tone = (0.3 * np.sin(np.arange(rate) * 0.05)).astype(np.float32)
    for label, names in {"yes": ["real_aaa_nohash_0.wav", "real1_aaa_nohash_0.wav",
                                 "real2_aaa_nohash_0.wav", "real_bbb_nohash_0.wav",
                                 "real1_bbb_nohash_0.wav", "0123abcd_nohash_0.wav"],
                         "bed": ["real_aaa_nohash_0.wav", "real1_aaa_nohash_0.wav"]}.items():
        (root / label).mkdir(parents=True)
        for n in names:
            sf.write(root / label / n, tone, rate, subtype="PCM_16")
    (root / "validation_list.txt").write_text("yes/real_bbb_nohash_0.wav\nyes/real1_bbb_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("")
    return root


def test_real_speaker_tree_keeps_one_copy_of_the_splits_real_speakers(tmp_path):
    src = _tree(tmp_path / "src")
    got = run_benchmark_code("import os\nimport stream_miss_diagnosis as d", f"""
out = d.real_speaker_tree({str(src)!r}, {str(tmp_path / 'train')!r}, "train")
val = d.real_speaker_tree({str(src)!r}, {str(tmp_path / 'val')!r}, "validation")
print(json.dumps({{"train": sorted(os.path.join(l, n) for l in os.listdir(out)
                                   for n in os.listdir(os.path.join(out, l))),
                  "val": sorted(os.listdir(os.path.join(val, "yes")))}}))
""")
    assert got["train"] == ["bed/real_aaa_nohash_0.wav", "yes/real_aaa_nohash_0.wav"]
    assert got["val"] == ["real_bbb_nohash_0.wav"]


def test_speed_perturbed_tree_replaces_only_training_keyword_repeats(tmp_path):
    src = _tree(tmp_path / "src")
    dst = tmp_path / "dst"
    got = run_benchmark_code("import speed_perturbed_tree as t", f"""
print(json.dumps({{"count": t.build({str(src)!r}, {str(dst)!r}, [0.8, 1.25])}}))
""")
    assert got["count"] == 2  # yes/real1_aaa (0.8) and yes/real2_aaa (1.25); bbb validates
    assert len(sf.read(dst / "yes" / "real1_aaa_nohash_0.wav")[0]) == 20000
    assert len(sf.read(dst / "yes" / "real2_aaa_nohash_0.wav")[0]) == 12800
    for name in ("yes/real_aaa_nohash_0.wav", "yes/real1_bbb_nohash_0.wav",
                 "yes/0123abcd_nohash_0.wav", "bed/real1_aaa_nohash_0.wav", "validation_list.txt"):
        assert (dst / name).is_symlink(), name


def test_babble_words_are_never_keywords_and_espeak_speaks_them():
    got = run_benchmark_code("import babble_negatives as b", """
rng = np.random.default_rng(0)
words = [b.made_up_word(rng) for _ in range(3000)]
audio = b.say("kalumi", "fi+m3", 160, 50)
print(json.dumps({"keywords": sorted(set(words) & b.KEYWORDS), "distinct": len(set(words)),
                  "seconds": len(audio) / b.RATE, "peak": float(np.abs(audio).max())}))
""")
    assert got["keywords"] == [] and got["distinct"] > 2000
    assert 0.2 < got["seconds"] < 2.0 and abs(got["peak"] - 0.7) < 1e-3


def test_the_duration_rule_fires_on_long_runs_only_and_once():
    # keyword 1 high for 6 steps from step 10, keyword 2 high for 2 steps at step 40 (a blip)
    got = run_benchmark_code("import stream_miss_diagnosis as d", """
post = np.zeros((60, 3), np.float32); post[:, 0] = 1
post[10:16, 1], post[10:16, 0] = 0.95, 0.05
post[40:42, 2], post[40:42, 0] = 0.95, 0.05
times = 80.0 * np.arange(1, 61)
found = d.count_rule(times, post, ("_unknown_", "yes", "no"), steps=6, count=4, tau=0.9)
print(json.dumps([[f.time_ms, f.label] for f in found]))
""")
    assert got == [[80.0 * 14, "yes"]]  # the 4th high step is step 13 (time of step i: 80 (i + 1))
