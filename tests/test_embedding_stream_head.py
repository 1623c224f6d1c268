"""benchmarks/embedding_stream_head.py: the sequence form of the head (trained on whole recordings)
equals its window form (saved for stream_side_by_side.py) on every step, extra keyword voices
train but never validate, and bad trees end in one line before any work. Run in subprocesses (the benchmark defines absl flags). Marked slow only to
keep it out of the Bazel run (benchmarks/ is not a Bazel target)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from kws import audio
from kws.data import speech_commands as sc

from conftest import BENCHMARKS, run_benchmark_code

pytestmark = pytest.mark.slow


def test_sequence_head_equals_window_head_on_every_step():
    got = run_benchmark_code("from kws.head import trainer as sh", """
seq, win = sh.build_head(4, hidden=8)
x = np.random.default_rng(0).normal(size=(1, 60, 96)).astype(np.float32)
whole = seq.predict(x, verbose=0)[0]
views = np.stack([x[0, i:i + sh.VIEW] for i in range(60 - sh.VIEW + 1)])
each = win.predict(views, verbose=0)
print(json.dumps({"shape": list(whole.shape), "max_diff": float(np.abs(whole - each).max()),
                  "sums": float(np.abs(whole.sum(1) - 1).max())}))
""")
    assert got["shape"] == [60 - 16 + 1, 4]
    assert got["max_diff"] < 1e-5
    assert got["sums"] < 1e-5


def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / "embedding_stream_head.py"), *args],
                          capture_output=True, text=True, check=False, timeout=300)


def test_a_missing_tree_is_a_one_line_error(tmp_path):
    done = _script(f"--data_dir={tmp_path / 'nope'}", f"--workdir={tmp_path / 'w'}",
                   f"--output_dir={tmp_path / 'o'}")
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_real_validation_voices_need_a_merged_tree(tmp_path, shared_data):
    done = _script(f"--data_dir={shared_data / 'speech_commands_test_v0.02_dev'}",
                   f"--workdir={tmp_path / 'w'}", f"--output_dir={tmp_path / 'o'}")
    assert done.returncode == 1
    assert "--validation_voices=all" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "w").exists()  # refused before any recording or embedding


def test_a_rerun_with_other_recipe_flags_is_refused(tmp_path):
    got = run_benchmark_code("import embedding_stream_head as esh\nfrom absl import flags\n"
                             "from kws.errors import UserError", f"""
path = {str(tmp_path / 'head' / 'recipe.json')!r}
flags.FLAGS(['x', '--negative_weight=0.3', '--mining_rounds=1'])
esh.check_recipe(path)
flags.FLAGS(['x', '--negative_weight=0.3', '--mining_rounds=2'])  # more rounds: a continuation
esh.check_recipe(path)
flags.FLAGS(['x', '--negative_weight=0.5', '--epochs=3'])
try:
    esh.check_recipe(path)
    print(json.dumps({{"refused": ""}}))
except UserError as e:
    print(json.dumps({{"refused": str(e)}}))
""")
    assert "--epochs, --negative_weight" in got["refused"]
    assert "another --output_dir" in got["refused"]


def _keyword_tree(root, voices):
    """One clip per Speech Commands keyword and voice; the third voice validates, the second
    tests."""
    tone = audio.to_int16(0.3 * np.sin(np.linspace(0, 800, 8000)).astype(np.float32))
    for word in sc.SPEECH_COMMANDS_KEYWORDS:
        (root / word).mkdir(parents=True)
        for v in voices:
            audio.write_wav(str(root / word / f"{v}_nohash_0.wav"), tone, 16000)
    words = sc.SPEECH_COMMANDS_KEYWORDS
    (root / "validation_list.txt").write_text("".join(f"{w}/{voices[2]}_nohash_0.wav\n"
                                                      for w in words))
    (root / "testing_list.txt").write_text("".join(f"{w}/{voices[1]}_nohash_0.wav\n"
                                                   for w in words))


def test_extra_keyword_voices_train_but_never_validate(tmp_path):
    _keyword_tree(tmp_path / "data", ["d0", "d1", "d2"])
    _keyword_tree(tmp_path / "kokoro", ["k0", "k1", "k2", "k3"])
    got = run_benchmark_code("import os\nimport embedding_stream_head as esh\nfrom absl import flags",
                             f"""
flags.FLAGS(['x', '--data_dir={tmp_path / "data"}', '--negative_dirs=', '--extra_negative_dirs=',
             '--extra_keyword_dirs={tmp_path / "kokoro"}', '--validation_voices=all'])
out = {{}}
for split in ("train", "validation"):
    p = esh.pools(split)
    out[split] = sorted(os.path.basename(x) for x in p.keywords["yes"])
print(json.dumps(out))
""")
    assert got["train"] == ["d0_nohash_0.wav", "k0_nohash_0.wav", "k1_nohash_0.wav",
                            "k3_nohash_0.wav"]  # the tree's train split, the extra train + test
    assert got["validation"] == ["d2_nohash_0.wav"]
