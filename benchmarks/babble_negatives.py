r"""Synthetic non-English speech for negatives: espeak-ng saying made-up words and short phrases
with the phonology of many languages, in many voice variants.

    python benchmarks/babble_negatives.py --output_dir=runs/babble --clips_per_language=80

Why: on the held-out stream the stream-trained heads' last false accepts are Arabic words of
speakers never heard (benchmarks/stream_miss_diagnosis.py), and the only real non-English speech
here is 17 Arabic speakers. espeak-ng (GPL-3.0, Debian) speaks ~40 Latin-script languages; each
clip is 1-3 made-up syllables (or, for --phrase_share of them, 2-4 such words), so no clip is a
real English keyword by spelling; a clip that merely starts like one is a useful negative (the
heads are taught to fire only after a word's end). 16 kHz mono WAV, one folder per language and
variant (a "speaker" for the speaker rule); files already written are kept (a killed run goes on).
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np
import soundfile as sf
import soxr
from absl import app
from absl import flags

LANGUAGES = ("af", "an", "az", "bs", "ca", "cs", "cy", "da", "de", "eo", "es", "et", "eu", "fi",
             "fr-fr", "ga", "hr", "ht", "hu", "id", "is", "it", "lt", "lv", "ms", "mt", "nl", "pl",
             "pt-br", "ro", "sk", "sl", "sq", "sv", "sw", "tr", "uz", "vi", "fa-latn",
             "cmn-latn-pinyin", "mi", "qu")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh",
          "j", "w", "y", "kr", "tr", "pl", "br", "st", "sk", "dr", "gl", "")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ei", "ou", "ia", "ua")
CODAS = ("", "", "", "n", "m", "l", "r", "s", "k", "t")
KEYWORDS = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}

_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/babble", "Where the clips go.")
_CLIPS = flags.DEFINE_integer("clips_per_language", 80, "Clips per language.")
_PHRASE_SHARE = flags.DEFINE_float("phrase_share", 0.3, "Share of clips that are 2-4 words.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of words, variants, speeds and pitches.")
RATE = 16000


def made_up_word(rng: np.random.Generator) -> str:
    """1-3 syllables, never spelled as a keyword."""
    while True:
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                       for _ in range(int(rng.integers(1, 4))))
        if word not in KEYWORDS and len(word) > 1:
            return word


def say(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """float32 16 kHz audio of espeak-ng saying ``text``."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w",
                        f.name, text], check=True, capture_output=True)
        audio, rate = sf.read(f.name, dtype="float32")
    audio = soxr.resample(audio, rate, RATE).astype(np.float32)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak == 0.0:
        raise RuntimeError(f"espeak-ng gave silence for {text!r} ({voice})")
    return audio * np.float32(0.7 / peak)


def main(argv):
    del argv
    rng = np.random.default_rng(_SEED.value)
    written = 0
    for language in LANGUAGES:
        for i in range(_CLIPS.value):
            variant = VARIANTS[int(rng.integers(len(VARIANTS)))]
            words = (int(rng.integers(2, 5)) if rng.random() < _PHRASE_SHARE.value else 1)
            text = " ".join(made_up_word(rng) for _ in range(words))
            speed, pitch = int(rng.integers(130, 200)), int(rng.integers(25, 75))
            folder = os.path.join(_OUTPUT_DIR.value, f"{language}_{variant}")
            path = os.path.join(folder, f"{language}-{variant}_nohash_{i}.wav")
            if os.path.isfile(path):
                continue
            os.makedirs(folder, exist_ok=True)
            sf.write(path + ".partial.wav", say(text, f"{language}+{variant}", speed, pitch), RATE,
                     subtype="PCM_16")
            os.replace(path + ".partial.wav", path)
            written += 1
    print(f"wrote {written} clips into {_OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
