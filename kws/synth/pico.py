"""SVOX pico (Debian non-free ``libttspico-utils``, Apache-2.0) as a `kws synth` engine.

Two English voices, one per language file: ``en-US`` and ``en-GB`` (two recorded speakers, so two
hold-out groups). One ``pico2wave`` process per utterance (~0.1 s); the rate is pico's own markup
``<speed level="N">`` (100 = normal, 20-500; the duration follows ~ 100 / N); output is 16 kHz.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from kws.synth import tts

LANGUAGE_DIR = "/usr/share/pico/lang"
VOICES = ("en-GB", "en-US")
_SPEED_LEVEL_RANGE = (20, 500)


class Pico(tts.Engine):
    """SVOX pico through ``pico2wave``."""

    name = "pico"
    install_hint = "bash tools/install.sh (apt-get install libttspico-utils, from Debian non-free)"
    base_stretch = 1.15

    def available(self) -> bool:
        return shutil.which("pico2wave") is not None and bool(self._installed())

    def version(self) -> str:
        return tts.debian_version("libttspico-utils", "pico2wave")

    def _installed(self) -> list[str]:
        if not os.path.isdir(LANGUAGE_DIR):
            return []
        files = os.listdir(LANGUAGE_DIR)
        return [v for v in VOICES if any(f.startswith(f"{v}_") for f in files)]

    def voices(self) -> list[tts.Voice]:
        return [tts.Voice(engine=self.name, name=v, group=f"pico/{v}") for v in self._installed()]

    def _render(self, voice, items):
        if voice not in self._installed():
            raise ValueError(f"pico: unknown voice {voice!r}; valid: "
                             f"{', '.join(self._installed()) or 'none installed'}")
        out = []
        with tempfile.TemporaryDirectory(prefix="kws_pico_") as tmp:
            for i, (text, stretch) in enumerate(items):
                level = int(min(max(round(100 / stretch), _SPEED_LEVEL_RANGE[0]),
                                _SPEED_LEVEL_RANGE[1]))
                path = os.path.join(tmp, f"{i}.wav")  # pico2wave wants the .wav suffix
                tts.run_command(self.name, ["pico2wave", "-l", voice, "-w", path,
                                            f'<speed level="{level}">{text}</speed>'], 30)
                out.append(tts.read_audio(self.name, path, f"{text!r} in voice {voice!r}"))
        return out
