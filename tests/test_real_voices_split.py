"""The speaker split of benchmarks/real_voices.py: what its scorecard's honesty rests on.

The benchmark is run as a user runs it (`--prepare_only`, a subprocess) on a small synthetic-style
folder and a small real-style folder made here. The expected split is recomputed from the rule the
script documents (a salted SHA-1 of the speaker, as tests/test_device_pretrained.py does), not
taken from the script; the checks are that no held-out speaker is heard in training or validation,
that each real training clip is linked --real_repeat times, and that synthetic test voices are left
out.
Marked slow only to keep it out of the Bazel run: benchmarks/ scripts are not Bazel targets.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "real_voices.py"
SPEAKERS = [f"{n:08x}" for n in range(0x1000, 0x1000 + 40)]
WORDS = ("yes", "no")
pytestmark = pytest.mark.slow


def _percent(speaker: str) -> float:
    digest = hashlib.sha1(f"kws-real-voices:{speaker}".encode()).hexdigest()
    return int(digest, 16) % 10000 / 100.0


def _touch(path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")  # the split only links files; nothing reads them


@pytest.fixture(name="trees")
def fixture_trees(tmp_path):
    synth, real = tmp_path / "synth", tmp_path / "real"
    synth.mkdir()
    (synth / "synth_manifest.json").write_text(json.dumps({"config": {}}))
    for word in WORDS:
        for voice in ("aaaa0001", "bbbb0002", "cccc0003"):
            _touch(synth / word / f"{voice}_nohash_0.wav")
    _touch(synth / "_background_noise_" / "white_noise.wav")
    (synth / "validation_list.txt").write_text(
        "yes/bbbb0002_nohash_0.wav\nno/bbbb0002_nohash_0.wav\n")
    (synth / "testing_list.txt").write_text("yes/cccc0003_nohash_0.wav\nno/cccc0003_nohash_0.wav\n")
    for speaker in SPEAKERS:
        _touch(real / "yes" / f"{speaker}_nohash_0.wav")
        _touch(real / "_unknown_" / f"bed_{speaker}_nohash_1.wav")
    return synth, real, tmp_path / "work"


def _prepare(synth, real, work, *flags):
    return subprocess.run(
        [sys.executable, str(SCRIPT), f"--synth_dir={synth}", f"--real_dir={real}",
         f"--workdir={work}", "--prepare_only", *flags],
        capture_output=True, text=True, check=False, timeout=300)


def _speaker(name: str) -> str:
    return name.split("_nohash_")[0].split("_")[-1]


def test_split_is_speaker_disjoint_and_repeats_training_clips(trees):
    synth, real, work = trees
    done = _prepare(synth, real, work, "--real_train_percentage=50", "--real_repeat=3",
                    "--real_validation_percentage=20")
    assert done.returncode == 0, done.stderr
    merged = work / "merged_data"
    lists = {name: set((merged / f"{name}_list.txt").read_text().split())
             for name in ("testing", "validation")}
    expect = {"train": set(), "validation": set(), "test": set()}
    for s in SPEAKERS:
        p = _percent(s)
        expect["test" if p >= 50 else "validation" if p >= 30 else "train"].add(s)
    assert all(expect.values()), "the 40 made-up speakers should land in all three splits"
    real_files = [p for p in merged.rglob("*.wav") if "real" in p.name]
    by_split = collections.defaultdict(set)
    copies = collections.Counter()
    for path in real_files:
        rel = f"{path.parent.name}/{path.name}"
        split = ("test" if rel in lists["testing"] else
                 "validation" if rel in lists["validation"] else "train")
        by_split[split].add(_speaker(path.name))
        copies[(path.parent.name, _speaker(path.name))] += 1
    assert by_split == expect
    for (word, speaker), n in copies.items():
        assert n == (3 if speaker in expect["train"] else 1), (word, speaker)
    # unknown words go to their word's folder; the synthetic test voice is not used at all
    assert {p.parent.name for p in real_files} == {"yes", "bed"}
    assert not list(merged.rglob("cccc0003*"))
    assert (merged / "yes" / "aaaa0001_nohash_0.wav").is_symlink()
    assert "yes/bbbb0002_nohash_0.wav" in lists["validation"]
    assert f"{len(expect['train'])} in training, {len(expect['validation'])} in validation, " \
           f"{len(expect['test'])} held out" in done.stdout


def test_validation_share_larger_than_training_share_is_refused(trees):
    synth, real, work = trees
    done = _prepare(synth, real, work, "--real_train_percentage=30",
                    "--real_validation_percentage=40")
    assert done.returncode == 1
    assert "--real_validation_percentage must be in [0, --real_train_percentage]" in done.stderr
    assert not (work / "merged_data" / "testing_list.txt").exists()


def test_extra_real_dirs_follow_the_split_and_never_add_held_out_speakers(trees):
    synth, real, work = trees
    extra = real.parent / "extra"
    for speaker in SPEAKERS:
        _touch(extra / "cat" / f"{speaker}_nohash_0.wav")
        _touch(extra / "yes" / f"{speaker}_nohash_2.wav")
    (extra / "testing_list.txt").write_text("cat/00001000_nohash_0.wav\n")  # not a word folder
    done = _prepare(synth, real, work, "--real_train_percentage=50", "--real_repeat=3",
                    "--real_validation_percentage=20", f"--extra_real_dirs={extra}",
                    "--extra_real_repeat=2")
    assert done.returncode == 0, done.stderr
    merged = work / "merged_data"
    lists = {name: set((merged / f"{name}_list.txt").read_text().split())
             for name in ("testing", "validation")}
    split = {s: "test" if _percent(s) >= 50 else "validation" if _percent(s) >= 30 else "train"
             for s in SPEAKERS}
    extra_links = [p for p in merged.rglob("extra*.wav")]
    assert {p.parent.name for p in extra_links} == {"cat", "yes"}
    copies = collections.Counter((p.parent.name, _speaker(p.name)) for p in extra_links)
    for speaker, where in split.items():
        for word in ("cat", "yes"):
            assert copies[(word, speaker)] == {"train": 2, "validation": 1, "test": 0}[where]
    for path in extra_links:
        assert path.resolve().parent.parent == extra.resolve()
        rel = f"{path.parent.name}/{path.name}"
        assert rel not in lists["testing"]
        assert (rel in lists["validation"]) == (split[_speaker(path.name)] == "validation")
    # the held-out clips are still exactly --real_dir's clips of the held-out speakers
    held_out = {s for s, where in split.items() if where == "test"}
    assert {_speaker(r) for r in lists["testing"]} == held_out
    assert all("/real_" in r for r in lists["testing"])


def test_missing_extra_real_dir_is_refused(trees):
    synth, real, work = trees
    done = _prepare(synth, real, work, f"--extra_real_dirs={real.parent / 'nowhere'}")
    assert done.returncode == 1
    assert "--extra_real_dirs:" in done.stderr and "is not a folder" in done.stderr


def _held_out_speakers(work: pathlib.Path) -> set[str]:
    return {_speaker(r) for r in (work / "merged_data" / "testing_list.txt").read_text().split()}


def test_folds_hold_out_each_speaker_exactly_once(trees):
    synth, real, _ = trees
    folds = 4
    held_out = []
    for fold in range(folds):
        work = real.parent / f"fold{fold}"
        done = _prepare(synth, real, work, f"--real_folds={folds}", f"--real_fold={fold}")
        assert done.returncode == 0, done.stderr
        expect = {s for s in SPEAKERS if 25 * fold <= _percent(s) < 25 * (fold + 1)}
        assert expect and _held_out_speakers(work) == expect
        assert f"(hash percentage in [{25 * fold}, {25 * (fold + 1)}))" in done.stdout
        trained = {_speaker(p.name) for p in (work / "merged_data").rglob("real_*.wav")
                   if f"{p.parent.name}/{p.name}" not in
                   (work / "merged_data" / "testing_list.txt").read_text().split()}
        assert trained == set(SPEAKERS) - expect
        held_out.append(expect)
    assert set().union(*held_out) == set(SPEAKERS)
    assert sum(len(h) for h in held_out) == len(SPEAKERS)


def test_fold_one_of_two_is_the_default_split(trees):
    synth, real, _ = trees
    for name, flags in (("default", ()), ("folds", ("--real_folds=2", "--real_fold=1"))):
        done = _prepare(synth, real, real.parent / name, *flags)
        assert done.returncode == 0, done.stderr
    default, folds = (real.parent / n / "merged_data" / "testing_list.txt" for n in
                      ("default", "folds"))
    assert default.read_text() == folds.read_text() and default.read_text().strip()


@pytest.mark.parametrize("flags,message", [
    (("--real_folds=3", "--real_fold=3"), "--real_fold=3 of --real_folds=3"),
    (("--real_folds=1",), "need 2 or more folds"),
    (("--real_folds=3", "--real_train_percentage=60"), "exclusive"),
])
def test_bad_fold_flags_are_refused(trees, flags, message):
    synth, real, work = trees
    done = _prepare(synth, real, work, *flags)
    assert done.returncode == 1
    assert message in done.stderr
    assert not (work / "merged_data").exists()


def test_a_tree_keeps_its_split(trees):
    # Rebuilding a tree with another split would leave the old split's training links in it.
    synth, real, work = trees
    first = _prepare(synth, real, work, "--real_folds=4", "--real_fold=0")
    assert first.returncode == 0, first.stderr
    links = sorted(str(p) for p in (work / "merged_data").rglob("*.wav"))
    again = _prepare(synth, real, work, "--real_folds=4", "--real_fold=0")
    assert again.returncode == 0, again.stderr  # the same split: nothing changes
    assert sorted(str(p) for p in (work / "merged_data").rglob("*.wav")) == links
    other = _prepare(synth, real, work, "--real_folds=4", "--real_fold=1")
    assert other.returncode == 1
    assert "built with other settings (rotate_percentage)" in other.stderr
    assert sorted(str(p) for p in (work / "merged_data").rglob("*.wav")) == links
    assert _held_out_speakers(work) == {s for s in SPEAKERS if _percent(s) < 25}


def test_a_folder_not_made_by_the_script_is_refused(trees):
    synth, real, work = trees
    _touch(work / "merged_data" / "yes" / "mine.wav")
    done = _prepare(synth, real, work)
    assert done.returncode == 1
    assert "has no real_voices_split.json" in done.stderr
    assert [p.name for p in (work / "merged_data").rglob("*")] == ["yes", "mine.wav"]


def test_nosynthetic_training_keeps_synthetic_voices_for_validation_only(trees):
    synth, real, work = trees
    done = _prepare(synth, real, work, "--nosynthetic_training", "--real_repeat=2")
    assert done.returncode == 0, done.stderr
    merged = work / "merged_data"
    assert not list(merged.rglob("aaaa0001*")) and not list(merged.rglob("cccc0003*"))
    assert sorted(p.name for p in merged.rglob("bbbb0002*")) == ["bbbb0002_nohash_0.wav"] * 2
    validation = set((merged / "validation_list.txt").read_text().split())
    assert {"yes/bbbb0002_nohash_0.wav", "no/bbbb0002_nohash_0.wav"} <= validation
    trained = {_speaker(p.name) for p in merged.rglob("real1_*.wav")}
    assert trained == {s for s in SPEAKERS if _percent(s) < 50}
    assert (merged / "_background_noise_" / "white_noise.wav").is_symlink()
