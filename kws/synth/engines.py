"""The TTS engines `kws synth` knows, by name, and which of them a run uses.

``DEFAULT_ENGINES`` make the built-in synthetic dataset when no engine is named (every installed
one of them); the newer engines (Kokoro-82M, RHVoice, SVOX pico) are used only when named in
``--engines``, so installing them does not change the default dataset. An engine that is named
but not installed is an error that says how to install it; nothing falls back to another engine.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from kws.errors import UserError
from kws.synth import kokoro
from kws.synth import pico
from kws.synth import rhvoice
from kws.synth import tts

_CLASSES = {cls.name: cls for cls in (tts.Espeak, tts.Flite, tts.Festival, tts.Piper, kokoro.Kokoro,
                                      rhvoice.RHVoice, pico.Pico)}
ENGINE_NAMES = tuple(_CLASSES)
"""Every engine: espeak-ng, flite, festival, piper, kokoro, rhvoice, pico."""
DEFAULT_ENGINES = ("espeak-ng", "flite", "festival", "piper")
"""The engines of the default dataset (those installed); the others are opt-in."""


def make_engine(name: str, kokoro_lexicon: Mapping[str, str] | None = None) -> tts.Engine:
    """A fresh engine object by name (``UserError`` listing the valid names for an unknown one).

    ``kokoro_lexicon``: word -> misaki phonemes, overriding Kokoro's G2P (other engines ignore it).
    """
    if name not in _CLASSES:
        raise UserError(f"unknown TTS engine {name!r}; valid: {', '.join(ENGINE_NAMES)}")
    if name == kokoro.Kokoro.name:
        return kokoro.Kokoro(lexicon=kokoro_lexicon)
    return _CLASSES[name]()


def available_engines(names: Sequence[str] = DEFAULT_ENGINES) -> list[tts.Engine]:
    """The installed engines among ``names``, in that order."""
    return [e for e in map(make_engine, names) if e.available()]


def resolve(names: Sequence[str], kokoro_lexicon: Mapping[str, str] | None = None
            ) -> list[tts.Engine]:
    """The engines a run uses: ``names`` (each must be installed), or when empty every installed
    default engine. ``UserError`` naming the install command of each missing one."""
    if names:
        engines = [make_engine(n, kokoro_lexicon) for n in names]
        missing = [f"{e.name} ({e.install_hint}{'; missing: ' if e.missing() else ''}"
                   f"{', '.join(e.missing())})" for e in engines if not e.available()]
        if missing:
            raise UserError(f"TTS engine(s) not installed: {'; '.join(missing)}")
        return engines
    engines = available_engines()
    if not engines:
        hints = "; ".join(f"{e.name}: {e.install_hint}" for e in map(make_engine, DEFAULT_ENGINES))
        raise UserError(f"no TTS engine is installed; install at least one ({hints})")
    return engines
