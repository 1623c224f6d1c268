"""The opt-in TTS engines of `kws synth`: Kokoro-82M, RHVoice, SVOX pico.

`bash tools/install.sh` installs all three (CI runs it), so a missing engine fails here rather than
skipping. Each test says a few words only (Kokoro: ~0.5 s a word on one core).
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from kws import audio
from kws.synth import dataset as synth
from kws.synth import engines
from kws.synth import kokoro
from kws.synth import rhvoice
from kws.synth import shaping

RATE_HZ = 16000
OPT_IN = ("kokoro", "rhvoice", "pico")


@pytest.fixture(scope="module")
def installed():
    made = {name: engines.make_engine(name) for name in OPT_IN}
    missing = [f"{e.name}: {e.install_hint}" for e in made.values() if not e.available()]
    if missing:
        pytest.fail(f"engines not installed (run bash tools/install.sh): {'; '.join(missing)}")
    return made


def speech_stats(x: np.ndarray) -> tuple[float, float, float]:
    """(trimmed duration s, loudest 10 ms frame dBFS, share of the energy in 100-4000 Hz)."""
    word = shaping.trim_silence(x, RATE_HZ)
    frames = word[:len(word) // 160 * 160].reshape(-1, 160)
    loudest_db = 10 * np.log10(np.max(np.mean(frames ** 2, axis=1)) + 1e-12)
    power = np.abs(np.fft.rfft(word)) ** 2
    freqs = np.fft.rfftfreq(len(word), 1 / RATE_HZ)
    return len(word) / RATE_HZ, loudest_db, power[(freqs > 100) & (freqs < 4000)].sum() / power.sum()


def ltas_db(x: np.ndarray) -> np.ndarray:
    """Long-term average spectrum of the voiced frames, 32 bands in dB (a voice's timbre)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::160] * np.hanning(512)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    bands = np.array_split(power[energy > energy.max() * 1e-3].mean(axis=0)[4:], 32)
    return 10 * np.log10(np.array([b.mean() for b in bands]) + 1e-12)


def rms_db(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))


@pytest.mark.parametrize("name", OPT_IN)
def test_engine_says_a_word_at_16khz_and_follows_the_rate(installed, name):
    engine = installed[name]
    voices = engine.voices()
    assert voices and all(v.engine == name for v in voices)
    for voice in (voices[0].name, voices[-1].name):
        x, rate = engine.synthesize("marvin", voice, pitch_semitones=1.0)
        assert rate == RATE_HZ and x.dtype == np.float32 and x.ndim == 1
        duration_s, loudest_db, speech_share = speech_stats(x)
        assert 0.25 < duration_s < 1.2, (voice, duration_s)
        assert loudest_db > -30 and np.abs(x).max() <= 1.0, voice
        assert speech_share > 0.8, (voice, speech_share)
    slow, _ = engine.synthesize("marvin", voices[0].name, rate=0.8)
    fast, _ = engine.synthesize("marvin", voices[0].name, rate=1.25)
    ratio = len(shaping.trim_silence(slow, RATE_HZ)) / len(shaping.trim_silence(fast, RATE_HZ))
    assert 1.25 < ratio < 2.0, ratio  # 1.56 asked


def test_voice_lists_and_hold_out_groups(installed):
    singles = installed["kokoro"].voice_names()
    assert len(singles) == 54
    assert sum(v[0] == "a" for v in singles) == 20 and sum(v[0] == "b" for v in singles) == 8
    voices = installed["kokoro"].voices()
    blends = [v for v in voices if "+" in v.name]
    assert len(voices) == 54 + len(blends) and len(blends) > 100
    for blend in blends:  # both parents in the blend's group: a split never separates them
        assert {kokoro.group_of(n) for n, _ in kokoro.parse_voice(blend.name)} == {blend.group}
    assert [v.name for v in installed["pico"].voices()] == ["en-GB", "en-US"]
    # Same person, same group across engines: RHVoice slt is CMU ARCTIC slt, like flite's slt.
    assert {v.name: v.group for v in installed["rhvoice"].voices()} == {
        "alan": "awb", "bdl": "bdl", "clb": "clb", "slt": "slt"}


def test_kokoro_blend_differs_from_both_parents_and_is_deterministic(installed):
    engine = installed["kokoro"]
    a, _ = engine.synthesize("happy", "bf_emma")
    b, _ = engine.synthesize("happy", "bf_isabella")
    mixed, _ = engine.synthesize("happy", "bf_emma+bf_isabella")
    again, _ = engine.synthesize("happy", "bf_emma+bf_isabella")
    assert np.array_equal(mixed, again)
    la, lb, lm = ltas_db(a), ltas_db(b), ltas_db(mixed)
    parents = rms_db(la, lb)
    assert parents > 2.0  # two different women
    assert 0.2 * parents < rms_db(lm, la) < parents and 0.2 * parents < rms_db(lm, lb) < parents
    mostly_a, _ = engine.synthesize("happy", "bf_emma*0.85+bf_isabella*0.15")
    assert rms_db(ltas_db(mostly_a), la) < rms_db(ltas_db(mostly_a), lb)
    style = engine.style("bf_emma*3+bf_isabella")  # weights are normalised
    assert np.allclose(style, 0.75 * engine.style("bf_emma") + 0.25 * engine.style("bf_isabella"))
    with pytest.raises(ValueError, match="unknown voice 'xf_nobody'"):
        engine.synthesize("happy", "xf_nobody")
    with pytest.raises(ValueError, match="bad voice"):
        engine.synthesize("happy", "bf_emma+")


def test_kokoro_pronunciations_fixes_and_lexicon(installed, tmp_path):
    engine = installed["kokoro"]
    assert engine.phonemize("sheila", "us") == "ʃˈilə"  # the US lexicon says ʃˈAlə, "shay-la"
    assert engine.phonemize("sheila", "gb") == "ʃˈiːlə"
    assert engine.phonemize("up", "us") == "ˈʌp"  # a lone word gets primary stress
    assert engine.phonemize("hey sheila", "us") == "hˈA ʃˈilə"
    custom = engines.make_engine("kokoro", kokoro_lexicon={"marvin": "mˈɑɹvin", "sheila": "ʃˈAlə"})
    assert custom.phonemize("marvin", "gb") == "mˈɑɹvin"
    assert custom.phonemize("sheila", "us") == "ʃˈAlə"
    fixed, _ = engine.synthesize("sheila", "af_heart")
    wrong, _ = custom.synthesize("sheila", "af_heart")
    assert not np.array_equal(fixed, wrong)
    bad = engines.make_engine("kokoro", kokoro_lexicon={"yes": "jes1"})
    with pytest.raises(ValueError, match=r"not Kokoro phonemes"):
        bad.synthesize("yes", "af_heart")
    path = tmp_path / "lexicon.json"
    path.write_text(json.dumps({"marvin": "mˈɑɹvin"}), encoding="utf-8")
    assert kokoro.read_lexicon(str(path)) == {"marvin": "mˈɑɹvin"}
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError, match="JSON object"):
        kokoro.read_lexicon(str(path))


def test_rhvoice_refuses_non_commercial_voices(installed):
    engine = installed["rhvoice"]
    on_disk = set(os.listdir(rhvoice.VOICES_ROOT))
    assert {"evgeniy-eng", "lyubov"} <= on_disk  # rhvoice-english installs them...
    assert not {v.name for v in engine.voices()} & rhvoice.NON_COMMERCIAL_VOICES  # ...never listed
    for voice in ("evgeniy-eng", "lyubov"):
        with pytest.raises(ValueError, match="CC-BY-NC-ND"):
            engine.synthesize("yes", voice)
    with pytest.raises(ValueError, match="unknown or uninstalled voice 'nosuch'"):
        engine.synthesize("yes", "nosuch")  # RHVoice-test itself would say it in its default voice


def test_missing_engine_is_an_error_naming_the_install(tmp_path, monkeypatch):
    monkeypatch.setattr(kokoro, "VOICES_DIR", str(tmp_path / "no_voices"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no RHVoice-test, no pico2wave
    out = tmp_path / "data"
    config = synth.SynthConfig(output_dir=str(out), words=("yes",), num_speakers=3,
                               engines=("kokoro", "rhvoice", "pico"))
    with pytest.raises(ValueError) as info:
        synth.synthesize_dataset(config)
    message = str(info.value)
    assert message.startswith("TTS engine(s) not installed: kokoro (bash tools/install.sh")
    assert f"missing: the kokoro-js 1.2.1 voices in {tmp_path / 'no_voices'}" in message
    assert "rhvoice (bash tools/install.sh (apt-get install rhvoice rhvoice-english" in message
    assert "pico (bash tools/install.sh (apt-get install libttspico-utils" in message
    assert not out.exists()  # nothing was synthesized with another engine instead
    assert {e.name for e in engines.available_engines()} <= set(engines.DEFAULT_ENGINES)


def test_dataset_with_the_new_engines_in_parallel(installed, tmp_path):
    voices = [v for e in installed.values() for v in e.voices()]
    groups = {v.group for v in voices}
    assert len(groups) == 17 + 4 + 2  # Kokoro language x gender, RHVoice and pico speakers
    config = synth.SynthConfig(
        output_dir=str(tmp_path / "data"), words=("sheila",), num_speakers=8, num_workers=2,
        engines=OPT_IN, validation_percentage=15, testing_percentage=15,
        background_noise_duration_ms=0)
    # The first seed whose 8 speakers come from all three engines (planning is cheap, no audio).
    seed = next(s for s in range(100) if {p.voice.engine for p in synth.plan_speakers(
        voices, dataclasses.replace(config, seed=s))} == set(OPT_IN))
    summary = synth.synthesize_dataset(dataclasses.replace(config, seed=seed))
    out = tmp_path / "data"
    with open(out / synth.MANIFEST_NAME, encoding="utf-8") as f:
        manifest = json.load(f)
    assert {s["engine"] for s in manifest["speakers"]} == set(OPT_IN)
    assert manifest["pronunciations"]["kokoro"]["us"]["sheila"] == "ʃˈilə"
    assert set(summary.engines) == set(OPT_IN) and summary.clips_per_word == 8
    assert all(summary.speakers_per_split[split] > 0 for split in synth.SPLITS)
    names = os.listdir(out / "sheila")
    assert len(names) == 8
    for name in names:
        x = audio.read_clip(str(out / "sheila" / name), RATE_HZ)
        assert len(x) == RATE_HZ and np.abs(x).max() > 0.05
