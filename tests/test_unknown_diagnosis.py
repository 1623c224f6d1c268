"""benchmarks/unknown_diagnosis.py: only voices no scored model heard are scored, counted right.

Its functions run in a subprocess (the benchmark defines absl flags, some of the same names as
kws-train's, so it is not imported into the test process). Expected speakers are recomputed here
from the speaker rule (kws.data.speech_commands.split_of) and the made-up folders, not taken from
the script. Marked slow only to keep it out of the Bazel run (benchmarks/ is not a Bazel target).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from kws import audio
from kws.data import speech_commands as sc

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"
pytestmark = pytest.mark.slow


def _clip(path: pathlib.Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    audio.write_wav(str(path), np.zeros(16000, np.float32), 16000)


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r})\n"
                           + code], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(name="folders")
def fixture_folders(tmp_path):
    """A real folder (keywords and other words of 6 speakers), a merged tree linking it (speakers
    r3..r5 held out by its testing_list) and a folder of other speech of 12 speakers."""
    real, tree, other = tmp_path / "real", tmp_path / "tree", tmp_path / "other"
    held_out = []
    for k in range(6):
        for word, name in (("yes", f"r{k}_nohash_0.wav"), ("_unknown_", f"bed_r{k}_nohash_0.wav")):
            _clip(real / word / name)
            folder = "yes" if word == "yes" else "bed"
            (tree / folder).mkdir(parents=True, exist_ok=True)
            os.symlink(real / word / name, tree / folder / f"real_{name}")
            if k >= 3:
                held_out.append(f"{folder}/real_{name}")
    for word in sc.SPEECH_COMMANDS_KEYWORDS[1:]:  # every keyword has a folder: r0's, in training
        _clip(real / word / "r0_nohash_0.wav")
        (tree / word).mkdir()
        os.symlink(real / word / "r0_nohash_0.wav", tree / word / "real_r0_nohash_0.wav")
    (tree / "testing_list.txt").write_text("\n".join(held_out) + "\n")
    (tree / "validation_list.txt").write_text("")
    for k in range(12):
        _clip(other / "ar_one" / f"a{k}_nohash_0.wav")
    return real, tree, other


def test_sources_leave_out_every_heard_speaker(folders):
    real, tree, other = folders
    found = _run(f"""
import json, unknown_diagnosis as ud
out = ud.sources({{"r4", "a2", "a7"}}, {str(tree)!r}, {str(real)!r}, "", [{str(other)!r}])
print(json.dumps({{k: sorted(os.path.basename(os.path.realpath(e.path)) for e in v)
                  for k, v in out.items()}}))
""".replace("import json,", "import json, os,"))
    assert found["held-out real keywords"] == ["r3_nohash_0.wav", "r5_nohash_0.wav"]
    assert found["held-out real other words"] == ["bed_r3_nohash_0.wav", "bed_r5_nohash_0.wav"]
    assert found["other (unheard speakers)"] == sorted(
        f"a{k}_nohash_0.wav" for k in range(12) if k not in (2, 7))


def test_heard_speakers_are_the_training_and_validation_ones_negatives_included(folders):
    real, tree, other = folders
    heard = _run(f"""
import json, unknown_diagnosis as ud
from kws.data import speech_commands as sc
data = sc.DataConfig(data_dir={str(tree)!r}, negative_dirs=({str(other)!r},),
                     negative_percentage=100.0, validation_percentage=30, testing_percentage=30)
print(json.dumps(sorted(ud.heard_speakers(data))))
""")
    negatives = {f"a{k}" for k in range(12)
                 if sc.split_of(f"a{k}_nohash_0.wav", 30, 30) != "test"}
    assert 0 < len(negatives) < 12  # the rule holds some negative speakers out
    assert set(heard) == {"r0", "r1", "r2"} | negatives


def test_scores_count_right_answers_unknown_answers_and_where_errors_went():
    row = _run("""
import json, numpy as np, unknown_diagnosis as ud
labels = ("_silence_", "_unknown_", "yes", "no")
scores = np.eye(4)[[1, 1, 2, 2, 3, 1]]
print(json.dumps(ud.score("m", labels, scores, ["_unknown_"] * 5 + ["yes"], "src")))
""")
    assert row["correct"] == pytest.approx(2 / 6)
    assert row["called_unknown"] == pytest.approx(3 / 6)
    assert row["errors_to"] == {"yes": 2, "no": 1, "_unknown_": 1}
