"""RHVoice (Debian non-free ``rhvoice`` + ``rhvoice-english``) as a `kws synth` engine.

Only the LGPL-2.1+ English voices are used: ``alan``, ``bdl``, ``clb`` and ``slt`` (HTS voices built
from CMU ARCTIC recordings: alan is Alan W Black, the ``awb`` of flite, and slt is the slt of flite
and festival, so they share a hold-out group with those). ``rhvoice-english`` also installs
``evgeniy-eng`` and ``lyubov``, which are CC-BY-NC-ND-4.0 (non-commercial, no derivatives): they
are never listed and asking for them raises ``ValueError``. A voice not on the list is refused too:
RHVoice-test would silently speak an unknown profile with its default voice.

One ``RHVoice-test`` process per utterance (~0.1 s; it ignores SSML breaks, so utterances cannot be
cut apart like espeak's). Its rate option is a percentage, 50-200 (duration ~ 100 / rate); output
is 24 kHz.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from kws.synth import tts

VOICES_ROOT = "/usr/share/RHVoice/voices"
LGPL_VOICES = {"alan": "awb", "bdl": "bdl", "clb": "clb", "slt": "slt"}
"""The usable voices (LGPL-2.1+), each with its hold-out group: the recorded person."""
NON_COMMERCIAL_VOICES = frozenset({"evgeniy-eng", "lyubov"})
"""rhvoice-english's CC-BY-NC-ND-4.0 voices: never used."""
_RATE_PERCENT_RANGE = (50, 200)


class RHVoice(tts.Engine):
    """RHVoice's LGPL English voices through ``RHVoice-test``."""

    name = "rhvoice"
    install_hint = ("bash tools/install.sh (apt-get install rhvoice rhvoice-english, from Debian "
                    "contrib/non-free)")

    def available(self) -> bool:
        return shutil.which("RHVoice-test") is not None and bool(self._installed())

    def version(self) -> str:
        return tts.debian_version("rhvoice", "RHVoice-test")

    def _installed(self) -> list[str]:
        if not os.path.isdir(VOICES_ROOT):
            return []
        return sorted(set(os.listdir(VOICES_ROOT)) & set(LGPL_VOICES))

    def voices(self) -> list[tts.Voice]:
        return [tts.Voice(engine=self.name, name=n, group=LGPL_VOICES[n]) for n in self._installed()]

    def _check_voice(self, voice: str) -> None:
        if voice in NON_COMMERCIAL_VOICES:
            raise ValueError(f"rhvoice: voice {voice!r} is CC-BY-NC-ND-4.0 (non-commercial, no "
                             f"derivatives) and is never used; valid: {', '.join(sorted(LGPL_VOICES))}")
        if voice not in self._installed():
            raise ValueError(f"rhvoice: unknown or uninstalled voice {voice!r}; valid: "
                             f"{', '.join(self._installed()) or 'none installed'} ({self.install_hint})")

    def _render(self, voice, items):
        self._check_voice(voice)
        out = []
        with tempfile.TemporaryDirectory(prefix="kws_rhvoice_") as tmp:
            text_path = os.path.join(tmp, "say.txt")
            for i, (text, stretch) in enumerate(items):
                rate = int(min(max(round(100 / stretch), _RATE_PERCENT_RANGE[0]),
                               _RATE_PERCENT_RANGE[1]))
                with open(text_path, "w", encoding="utf-8") as f:
                    f.write(text + "\n")
                path = os.path.join(tmp, f"{i}.wav")
                tts.run_command(self.name, ["RHVoice-test", "-p", voice, "-r", str(rate),
                                            "-i", text_path, "-o", path], 30)
                out.append(tts.read_audio(self.name, path, f"{text!r} in voice {voice!r}"))
        return out

