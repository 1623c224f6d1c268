"""WAV files as model input: read with the standard library (kws.audio), made mono, brought to the
model's sample rate, and padded to one window when shorter. Every change is reported in ``notes``
so the command can say what it did; what cannot be used is refused with an AudioInputError naming
the file and the fix.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kws import audio
from kws.device import resample as rs
from kws.errors import UserError

STEREO_MODES = ("mix", "refuse")
"""What to do with multi-channel files: average the channels, or refuse the file."""


class AudioInputError(UserError):
    """A WAV file the model cannot take as it is. The message names the file and the fix."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class LoadedAudio:
    """A WAV file as mono float32 at the model's rate."""

    path: str
    """The file."""
    samples: np.ndarray
    """float32 [samples], mono, at the requested rate; in [-1, 1] (a float file may go beyond)."""
    sample_rate_hz: int
    """Rate of ``samples`` (the requested one)."""
    notes: tuple[str, ...] = ()
    """What was done to the file to make it usable (channels mixed, resampled)."""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def load_audio(path: str, sample_rate_hz: int, *, stereo: str = "mix", resample: bool = True
               ) -> LoadedAudio:
    """Reads WAV ``path`` as mono float32 at ``sample_rate_hz``: whatever kws.audio.read_wav
    reads (8/16/24/32-bit PCM, 32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE, any rate and
    channel count).

    Args:
      stereo: 'mix' averages the channels of a multi-channel file (noted); 'refuse' raises.
      resample: convert other sample rates (noted); False raises instead.
    Raises:
      AudioInputError (a kws.audio.AudioFileError for missing, empty, truncated or non-WAV files
      and for encodings it does not decode, such as A-law or ADPCM).
    """
    if stereo not in STEREO_MODES:
        raise ValueError(f"unknown stereo mode {stereo!r}; valid: {', '.join(STEREO_MODES)}")
    samples, rate = audio.read_wav(path)
    notes = []
    if samples.shape[0] == 0:
        raise AudioInputError(f"{path}: the WAV file holds no samples (0 s of audio); record it "
                              "again or leave it out")
    if samples.ndim == 2:
        channels = samples.shape[1]
        if stereo == "refuse":
            raise AudioInputError(f"{path}: {channels} channels, the model takes mono; pass "
                                  "--stereo=mix to average the channels, or convert the file with "
                                  "`kws prepare`")
        samples = samples.mean(axis=1)
        notes.append(f"mixed {channels} channels to mono")
    if rate != sample_rate_hz:
        if not resample:
            raise AudioInputError(f"{path}: {rate} Hz, the model takes {sample_rate_hz} Hz; pass "
                                  "--resample to convert it on the fly, or convert the file with "
                                  "`kws prepare`")
        samples = rs.resample(samples, rate, sample_rate_hz)
        notes.append(f"resampled {rate} Hz to {sample_rate_hz} Hz")
    return LoadedAudio(path=path, samples=np.asarray(samples, np.float32),
                       sample_rate_hz=sample_rate_hz, notes=tuple(notes))


def pad_to_window(samples: np.ndarray, clip_samples: int, sample_rate_hz: int
                  ) -> tuple[np.ndarray, str]:
    """Zero-pads audio shorter than one window at the end (as training does): (clip, note or '').

    Longer audio is not cut here: it is streamed (kws.device.stream).
    """
    if len(samples) > clip_samples:
        raise ValueError(f"{len(samples)} samples are longer than one window ({clip_samples}); "
                         "stream them instead")
    if len(samples) == clip_samples:
        return np.asarray(samples, np.float32), ""
    note = (f"padded {len(samples) / sample_rate_hz:.3f} s to {clip_samples / sample_rate_hz:g} s "
            "with silence")
    return np.pad(np.asarray(samples, np.float32), (0, clip_samples - len(samples))), note
