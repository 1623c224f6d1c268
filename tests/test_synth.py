"""`kws synth`: layout, WAV format, names, voice hold-out, reproducibility, noise, errors.

Small runs with espeak-ng only (required: `apt-get install espeak-ng`); the other engines are each
checked once where installed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from kws import audio
from kws.synth import dataset as synth
from kws.synth import engines
from kws.synth import shaping
from kws.synth import tts

from conftest import tree_digest

RATE_HZ = 16000
WORDS = ("yes", "no", "hey_kiwi")
NAME_RE = re.compile(r"^[0-9a-f]{8}_nohash_[0-9]+\.wav$")


def small_config(output_dir, **overrides) -> synth.SynthConfig:
    settings = dict(output_dir=str(output_dir), words=WORDS, num_speakers=16, seed=7,
                    engines=("espeak-ng",), validation_percentage=20.0, testing_percentage=20.0)
    settings.update(overrides)
    return synth.SynthConfig(**settings)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, espeak):
    out = tmp_path_factory.mktemp("synth") / "data"
    summary = synth.synthesize_dataset(small_config(out))
    return out, summary


def manifest(out) -> dict:
    with open(os.path.join(out, synth.MANIFEST_NAME), encoding="utf-8") as f:
        return json.load(f)


def listed(out, name) -> list[str]:
    with open(os.path.join(out, name), encoding="utf-8") as f:
        return f.read().splitlines()


def clips(out) -> list[str]:
    return sorted(f"{w}/{n}" for w in WORDS for n in os.listdir(os.path.join(out, w)))


def test_layout_names_and_format(dataset):
    out, summary = dataset
    assert sorted(os.listdir(out)) == sorted(list(WORDS) + [
        synth.BACKGROUND_NOISE_DIR, synth.MANIFEST_NAME, "testing_list.txt", "validation_list.txt"])
    for word in WORDS:
        names = sorted(os.listdir(os.path.join(out, word)))
        assert len(names) == 16 == summary.clips_per_word
        assert all(NAME_RE.match(n) for n in names), names
        assert len({n[:8] for n in names}) == 16  # one clip per speaker
        for name in names:
            info = audio.check_training_wav(os.path.join(out, word, name), RATE_HZ)
            assert info.num_frames == RATE_HZ and info.num_channels == 1


def test_speaker_hash_is_sha1_of_description(dataset):
    out, _ = dataset
    speakers = manifest(out)["speakers"]
    assert len(speakers) == 16
    groups = [s["group"] for s in speakers]
    assert max(map(groups.count, groups)) - min(map(groups.count, groups)) <= 1  # balanced
    assert max(map(groups.count, groups)) >= 2  # so a split by speaker could break a group up
    for s in speakers:
        assert s["hash"] == hashlib.sha1(s["description"].encode()).hexdigest()[:8]
        assert s["engine"] == "espeak-ng" and s["group"] == "espeak-ng/" + s["voice"].split("+")[0]
    assert {c.split("/")[1][:8] for c in clips(out)} == {s["hash"] for s in speakers}


def test_held_out_lists_are_whole_voice_groups(dataset):
    out, summary = dataset
    validation, test = listed(out, "validation_list.txt"), listed(out, "testing_list.txt")
    assert validation and test and not set(validation) & set(test)
    assert set(validation) | set(test) < set(clips(out))
    group_of = {s["hash"]: s["group"] for s in manifest(out)["speakers"]}
    split_of_clip = {c: "train" for c in clips(out)}
    split_of_clip.update({c: "validation" for c in validation})
    split_of_clip.update({c: "test" for c in test})
    splits_of_group: dict[str, set[str]] = {}
    for clip, split in split_of_clip.items():
        splits_of_group.setdefault(group_of[clip.split("/")[1][:8]], set()).add(split)
    assert all(len(s) == 1 for s in splits_of_group.values()), splits_of_group
    assert {next(iter(s)) for s in splits_of_group.values()} == {"train", "validation", "test"}
    assert summary.clips_per_split == {sp: sum(v == sp for v in split_of_clip.values())
                                       for sp in synth.SPLITS}


def test_word_is_present_and_placed_in_silence(dataset):
    out, _ = dataset
    offsets = []
    for clip in clips(out):
        x = audio.read_clip(os.path.join(out, clip), RATE_HZ).astype(np.float64)
        frames_db = 10 * np.log10(np.mean(x.reshape(100, -1) ** 2, axis=1) + 1e-12)
        assert frames_db.max() > -45, clip  # speech, well above the floor
        assert np.mean(frames_db < -90) >= 0.04, clip  # digital silence around the word
        nonzero = np.nonzero(x)[0]
        assert 0.1 * RATE_HZ < nonzero[-1] - nonzero[0] < 0.95 * RATE_HZ, clip
        assert -20.2 <= 20 * np.log10(np.abs(x).max()) <= -0.9, clip
        offsets.append(nonzero[0])
    assert np.std(offsets) > 0.05 * RATE_HZ  # random placement, not always at the start


def test_custom_phrase_is_spoken_with_a_space(tmp_path, espeak):
    out = tmp_path / "phrase"
    synth.synthesize_dataset(small_config(out, words=("hey_kiwi",), num_speakers=4, rates=(1.3,),
                                          validation_percentage=0, testing_percentage=0,
                                          background_noise_duration_ms=0))
    assert synth.spoken_text("hey_kiwi") == "hey kiwi"
    engine = engines.make_engine("espeak-ng")
    compared = 0
    for speaker in manifest(out)["speakers"]:
        direct, _ = engine.synthesize("hey kiwi", speaker["voice"], speaker["pitch_semitones"],
                                      speaker["rate"])
        direct = shaping.trim_silence(direct, RATE_HZ)
        if len(direct) > 0.85 * RATE_HZ:
            continue  # the dataset may have said it faster to fit the clip
        x = audio.read_clip(os.path.join(out, "hey_kiwi", f"{speaker['hash']}_nohash_0.wav"), RATE_HZ)
        nonzero = np.nonzero(x)[0]
        word = x[nonzero[0]:nonzero[-1] + 1]
        assert abs(len(word) - len(direct)) < 0.05 * RATE_HZ
        size = 2 * RATE_HZ
        xcorr = np.fft.irfft(np.fft.rfft(word, size) * np.conj(np.fft.rfft(direct, size)), size)
        corr = xcorr.max() / (np.linalg.norm(word) * np.linalg.norm(direct))
        assert corr > 0.9, speaker
        compared += 1
    assert compared >= 2


def test_same_seed_same_bytes_other_seed_other_bytes(dataset, tmp_path):
    out, _ = dataset
    again = tmp_path / "again"
    synth.synthesize_dataset(small_config(again))
    assert tree_digest(again) == tree_digest(out)
    other = tmp_path / "other"
    synth.synthesize_dataset(small_config(other, seed=8, background_noise_duration_ms=0))
    first, second = tree_digest(out), tree_digest(other)
    shared = [k for k in first if k in second]
    assert not any(first[k] == second[k] for k in shared)


def test_background_noise_files(dataset):
    out, summary = dataset
    folder = os.path.join(out, synth.BACKGROUND_NOISE_DIR)
    expected = {"white_noise.wav", "pink_noise.wav", "brown_noise.wav", "hum_50hz.wav",
                "hum_60hz.wav", "babble.wav"}
    assert set(os.listdir(folder)) == expected == set(summary.noise_files)
    spectra = {}
    for name in expected:
        info = audio.check_training_wav(os.path.join(folder, name), RATE_HZ)
        assert info.duration_s >= 60.0
        x = audio.read_clip(os.path.join(folder, name), RATE_HZ).astype(np.float64)
        assert abs(20 * np.log10(np.sqrt(np.mean(x ** 2))) + 20) < 1.0  # -20 dBFS RMS
        spectra[name] = np.abs(np.fft.rfft(x[:RATE_HZ * 10])) ** 2  # 0.1 Hz bins
    def band_db(name, lo_hz, hi_hz):
        return 10 * np.log10(spectra[name][lo_hz * 10:hi_hz * 10].mean())
    tilt = {n: band_db(n, 100, 200) - band_db(n, 3000, 6000) for n in
            ("white_noise.wav", "pink_noise.wav", "brown_noise.wav")}
    assert abs(tilt["white_noise.wav"]) < 1.5
    assert 10 < tilt["pink_noise.wav"] < 18 < tilt["brown_noise.wav"]  # 1/f: ~14 dB, 1/f^2: ~28 dB
    for name, mains_hz in (("hum_50hz.wav", 50), ("hum_60hz.wav", 60)):
        assert np.argmax(spectra[name][200:]) // 10 + 20 in (mains_hz - 1, mains_hz)
    x = audio.read_clip(os.path.join(folder, "babble.wav"), RATE_HZ).astype(np.float64)
    speech_band = band_db("babble.wav", 200, 3000) - band_db("babble.wav", 5000, 8000)
    assert speech_band > 15  # voices, not white noise
    level = 10 * np.log10(np.mean(x.reshape(-1, RATE_HZ // 10) ** 2, axis=1) + 1e-12)
    assert np.percentile(level, 5) > -45  # many talkers overlap: no long pauses


def test_pitch_shift_moves_pitch_but_keeps_duration(espeak):
    engine = engines.make_engine("espeak-ng")
    def f0_and_length(pitch):
        x, rate = engine.synthesize("ah", "en-us+m3", pitch_semitones=pitch)
        x = shaping.trim_silence(x, rate)
        mid = x[len(x) // 2 - 800:len(x) // 2 + 800]
        ac = np.correlate(mid, mid, "full")[len(mid) - 1:]
        lag = 32 + np.argmax(ac[32:400])  # 40..500 Hz
        return rate / lag, len(x)
    f0, length = f0_and_length(0.0)
    f0_up, length_up = f0_and_length(5.0)  # espeak then speaks at 82 wpm, just above its floor
    assert abs(f0_up / f0 / 2 ** (5 / 12) - 1) < 0.06
    assert abs(length_up / length - 1) < 0.1


@pytest.mark.parametrize("name", engines.DEFAULT_ENGINES)  # the others: test_synth_engines.py
def test_each_installed_engine_says_a_word(name):
    engine = engines.make_engine(name)
    if not engine.available():
        pytest.skip(f"{name} not installed ({engine.install_hint})")
    voices = engine.voices()
    assert voices and all(v.engine == name for v in voices)
    x, rate = engine.synthesize("yes", voices[0].name, pitch_semitones=1.0, rate=1.1)
    assert rate == RATE_HZ and x.dtype == np.float32 and x.ndim == 1
    assert 0.15 < len(shaping.trim_silence(x, rate)) / rate < 1.5
    assert np.abs(x).max() > 0.05


def test_plan_speakers_balances_groups_and_holds_out_whole_groups():
    voices = [tts.Voice(engine="e", name=f"{g}{i}", group=g) for g in "abcdef" for i in range(3)]
    config = synth.SynthConfig(output_dir="unused", num_speakers=30, seed=3,
                               validation_percentage=15, testing_percentage=15)
    speakers = synth.plan_speakers(voices, config)
    assert speakers == synth.plan_speakers(voices, config)
    assert len({s.hash for s in speakers}) == 30
    counts = [sum(s.voice.group == g for s in speakers) for g in "abcdef"]
    assert counts == [5] * 6
    split_of = synth.assign_splits(speakers, config)
    assert sorted(split_of.values()) == ["test"] + ["train"] * 4 + ["validation"]
    other = synth.plan_speakers(voices, synth.SynthConfig(output_dir="unused", num_speakers=30, seed=4))
    assert [s.hash for s in other] != [s.hash for s in speakers]
    with pytest.raises(ValueError, match="at least 3 voice groups"):
        synth.assign_splits([s for s in speakers if s.voice.group in "ab"], config)
    with pytest.raises(ValueError, match="distinct speakers"):
        synth.plan_speakers(voices, dataclasses.replace(config, num_speakers=10_000))


def test_bad_configs_raise_clear_errors(tmp_path, espeak):
    with pytest.raises(ValueError, match="words is empty"):
        small_config(tmp_path, words=())
    with pytest.raises(ValueError, match=r"unknown TTS engine.*valid: espeak-ng, flite"):
        small_config(tmp_path, engines=("sapi",))
    with pytest.raises(ValueError, match="lower-case"):
        small_config(tmp_path, words=("Hey Kiwi",))
    with pytest.raises(ValueError, match="repeat"):
        small_config(tmp_path, words=("yes", "yes"))
    with pytest.raises(ValueError, match="pitches_semitones must be finite numbers without rep"):
        small_config(tmp_path, pitches_semitones=(1.0, 1.0))
    with pytest.raises(ValueError, match="rates must be finite numbers without repeats"):
        small_config(tmp_path, rates=(float("nan"),))
    long_phrase = "one_two_three_four_five_six_seven_eight"
    with pytest.raises(ValueError, match="too long for a 1000 ms clip"):
        synth.synthesize_dataset(small_config(tmp_path / "long", words=(long_phrase,), num_speakers=1,
                                              validation_percentage=0, testing_percentage=0,
                                              background_noise_duration_ms=0))


def test_existing_output_dir_needs_overwrite(tmp_path, espeak):
    config = small_config(tmp_path / "d", words=("up",), background_noise_duration_ms=0)
    synth.synthesize_dataset(config)
    with pytest.raises(ValueError, match="not empty"):
        synth.synthesize_dataset(config)
    synth.synthesize_dataset(dataclasses.replace(config, words=("down",), overwrite=True))
    assert not os.path.exists(tmp_path / "d" / "up") and len(os.listdir(tmp_path / "d" / "down")) == 16
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="refuses to delete"):
        synth.synthesize_dataset(dataclasses.replace(config, output_dir=str(tmp_path / "mine"),
                                                     overwrite=True))
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_cli_help_lists_the_flags():
    done = subprocess.run([sys.executable, "-m", "kws.cli", "synth", "--helpfull"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stderr  # absl exits 1 after printing help
    for flag in ("--words", "--num_speakers", "--seed", "--output_dir", "--engines",
                 "--pitches_semitones", "--rates"):
        assert flag in done.stdout


def test_cli_pitches_and_rates_reach_the_speakers(tmp_path, espeak):
    out = tmp_path / "d"
    done = subprocess.run(
        [sys.executable, "-m", "kws.cli", "synth", f"--output_dir={out}", "--words=yes",
         "--num_speakers=6", "--engines=espeak-ng", "--validation_percentage=0",
         "--testing_percentage=0", "--background_noise_duration_ms=0",
         "--pitches_semitones=-5.5,4", "--rates=0.7"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    speakers = manifest(out)["speakers"]
    assert len(speakers) == 6
    assert {s["pitch_semitones"] for s in speakers} <= {-5.5, 4.0}
    assert {s["rate"] for s in speakers} == {0.7}
    bad = subprocess.run(
        [sys.executable, "-m", "kws.cli", "synth", f"--output_dir={tmp_path / 'e'}", "--rates=1,x"],
        capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 1
    assert "--rates: could not convert string to float: 'x'" in bad.stderr
    assert not (tmp_path / "e").exists()
