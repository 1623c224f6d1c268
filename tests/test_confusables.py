"""Confusable negatives from a pronouncing dictionary (kws.synth.confusables, `kws synth
--confusables_per_word`). Needs hibari-tts (the `tts` extra) and wamerican-small, as install.sh sets up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kws.synth import confusables
from kws.synth import dataset as synth


def test_edit_distance_by_hand():
    assert confusables.distance("bɛd", "bɛd") == 0.0
    assert confusables.distance("bɛd", "bæd") == 0.5  # vowel for vowel
    assert confusables.distance("kæt", "kæp") == 0.5  # stop for stop
    assert confusables.distance("kæt", "kæs") == 1.0  # stop for fricative
    assert confusables.distance("hæpi", "hæp") == 1.0  # one deleted
    assert confusables.distance("", "abc") == confusables.distance("abc", "") == 3.0
    # "sɪt" -> "zæts": s->z 0.5, ɪ->æ 0.5, +s 1 (and it is symmetric)
    assert confusables.distance("sɪt", "zæts") == confusables.distance("zæts", "sɪt") == 2.0


def test_confusables_of_bed_are_close_common_words_closest_first():
    target = confusables.phonemes("bed")
    assert target == "bɛd"
    words = confusables.confusable_words("bed", 8)
    assert len(words) == 8 and "bed" not in words
    assert {"bad", "bet", "bid"} <= set(words)
    table, common = confusables.lexicon(), confusables.common_words()
    distances = [confusables.distance(target, table[w]) for w in words]
    assert all(w in common for w in words)
    assert max(distances) <= 1.0
    # closest first, except the opening/starts-alike words, which are placed by rank too
    assert distances == sorted(distances)


def test_no_confusable_holds_the_whole_keyword_or_sounds_the_same():
    for word in ("happy", "computer", "stop"):
        target = confusables.phonemes(word)
        for other in confusables.confusable_words(word, 10):
            sound = confusables.lexicon()[other]
            assert target not in sound, (word, other)


def test_a_word_that_starts_alike_is_offered():
    words = confusables.confusable_words("happy", 8)
    assert "happen" in words  # hæp- then another ending


def test_expand_keeps_the_words_first_and_repeats_nothing():
    out = confusables.expand(("bed", "bad_dog"), 3, exclude=("bet",))
    assert out[:2] == ("bed", "bad_dog")
    assert len(out) == len(set(out)) and "bet" not in out
    assert len(out) == 2 + 3 + 3
    assert set(out[2:5]) == set(confusables.confusable_words("bed", 3, exclude=("bed", "bad_dog", "bet")))


def test_missing_word_list_is_a_clear_error(monkeypatch, tmp_path):
    confusables.common_words.cache_clear()
    monkeypatch.setattr(confusables, "COMMON_WORDS", str(tmp_path / "none"))
    try:
        with pytest.raises(ValueError, match="apt-get install wamerican-small"):
            confusables.confusable_words("bed", 3)
    finally:
        confusables.common_words.cache_clear()


def test_cli_adds_the_confusable_folders(tmp_path):
    out = tmp_path / "d"
    done = subprocess.run([sys.executable, "-m", "kws.cli", "synth", f"--output_dir={out}",
                           "--words=cat", "--confusables_per_word=3", "--engines=espeak-ng",
                           "--num_speakers=6", "--background_noise_duration_ms=0",
                           "--validation_percentage=0", "--testing_percentage=0"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    added = confusables.confusable_words("cat", 3, exclude=("cat",))
    assert f"confusable negatives: {', '.join(added)}" in done.stdout
    assert sorted(d for d in os.listdir(out) if os.path.isdir(out / d)) == sorted(["cat"] + added)
    manifest = json.loads((out / synth.MANIFEST_NAME).read_text())
    assert manifest["config"]["words"] == ["cat"] + added
