"""Strict WAV reading and writing with the standard library and numpy only.

This module is shared by the training side and the on-device script, so it must never import
TensorFlow. Training reads only 16-bit PCM WAV at one sample rate, mono; anything else is refused with
an error that names the file and says how to fix it (``kws prepare`` converts other audio).
"""

from __future__ import annotations

import dataclasses
import os
import struct
import tempfile
import wave

import numpy as np

from kws.errors import UserError

_PCM = 1
_EXTENSIBLE = 0xFFFE
_PREPARE_HINT = "convert the folder with `kws prepare --input_dir=... --output_dir=...`"


class AudioFileError(UserError):
    """A file that is not usable audio. The message names the file and the fix."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class WavInfo:
    """What the header of a WAV file says, checked against the file's real size."""

    path: str
    """The file."""
    sample_rate_hz: int
    """Samples per second per channel."""
    num_channels: int
    """Interleaved channels."""
    bits_per_sample: int
    """Bits of one sample of one channel."""
    format_tag: int
    """1 for integer PCM, 3 for IEEE float, 0xFFFE for WAVE_FORMAT_EXTENSIBLE."""
    num_frames: int
    """Samples per channel in the data chunk."""
    data_offset: int
    """Byte offset of the first sample."""

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.sample_rate_hz


def inspect_wav(path: str) -> WavInfo:
    """Parses the RIFF header of ``path`` without reading the samples.

    Raises:
      AudioFileError: the file is missing, empty, not RIFF/WAVE, has no ``fmt``/``data`` chunk, or is
        shorter than its header says (truncated).
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(12)
            if size == 0:
                raise AudioFileError(f"{path}: empty file (0 bytes); delete it or re-record it")
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise AudioFileError(
                    f"{path}: not a WAV file (no RIFF/WAVE header); remove it from the dataset or "
                    f"{_PREPARE_HINT}")
            fmt = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    raise AudioFileError(
                        f"{path}: WAV has no {'fmt' if fmt is None else 'data'} chunk (truncated or "
                        "corrupt); re-export or delete the file")
                chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if chunk_id == b"fmt ":
                    body = f.read(chunk_size)
                    if len(body) < 16:
                        raise AudioFileError(f"{path}: WAV fmt chunk is cut short (corrupt file)")
                    fmt = struct.unpack("<HHIIHH", body[:16])
                    if chunk_size % 2:
                        f.seek(1, os.SEEK_CUR)
                elif chunk_id == b"data":
                    if fmt is None:
                        raise AudioFileError(f"{path}: WAV data chunk comes before fmt (corrupt file)")
                    offset = f.tell()
                    format_tag, channels, rate, _, block_align, bits = fmt
                    if channels < 1 or rate < 1 or block_align < 1:
                        raise AudioFileError(f"{path}: WAV header has zero channels or rate (corrupt)")
                    if offset + chunk_size > size:
                        raise AudioFileError(
                            f"{path}: truncated WAV: header promises {chunk_size} data bytes, file "
                            f"holds {size - offset}; re-export or delete the file")
                    return WavInfo(path=path, sample_rate_hz=rate, num_channels=channels,
                                   bits_per_sample=bits, format_tag=format_tag,
                                   num_frames=chunk_size // block_align, data_offset=offset)
                else:
                    f.seek(chunk_size + (chunk_size % 2), os.SEEK_CUR)
    except FileNotFoundError as e:
        raise AudioFileError(f"{path}: no such file") from e
    except IsADirectoryError as e:
        raise AudioFileError(f"{path}: is a folder, not a WAV file") from e


def check_training_wav(path: str, sample_rate_hz: int) -> WavInfo:
    """Checks that ``path`` is 16-bit PCM mono WAV at ``sample_rate_hz`` with at least one sample."""
    info = inspect_wav(path)
    problems = []
    if info.format_tag not in (_PCM, _EXTENSIBLE) or info.bits_per_sample != 16:
        kind = "float" if info.format_tag == 3 else f"{info.bits_per_sample}-bit"
        problems.append(f"{kind} samples (need 16-bit PCM)")
    if info.num_channels != 1:
        problems.append(f"{info.num_channels} channels (need mono)")
    if info.sample_rate_hz != sample_rate_hz:
        problems.append(f"{info.sample_rate_hz} Hz (need {sample_rate_hz} Hz)")
    if info.num_frames == 0:
        problems.append("no samples")
    if problems:
        raise AudioFileError(f"{path}: {', '.join(problems)}; {_PREPARE_HINT}")
    return info


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """Reads integer-PCM WAV (8, 16, 24 or 32 bit).

    Returns:
      (samples, sample_rate_hz): float32 in [-1, 1), shape [frames] for mono or [frames, channels].
    """
    info = inspect_wav(path)
    if info.format_tag not in (_PCM, _EXTENSIBLE):
        raise AudioFileError(f"{path}: WAV format tag {info.format_tag} is not integer PCM; "
                             f"{_PREPARE_HINT}")
    try:
        with wave.open(path, "rb") as w:
            raw = w.readframes(info.num_frames)
    except (wave.Error, EOFError) as e:
        raise AudioFileError(f"{path}: unreadable WAV ({e})") from e
    width = info.bits_per_sample // 8
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float32) / 8388608.0
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise AudioFileError(f"{path}: {info.bits_per_sample}-bit samples are not supported")
    if info.num_channels > 1:
        samples = samples.reshape(-1, info.num_channels)
    return samples, info.sample_rate_hz


def read_clip(path: str, sample_rate_hz: int) -> np.ndarray:
    """Reads a 16-bit mono WAV at ``sample_rate_hz``: float32 [samples] in [-1, 1)."""
    check_training_wav(path, sample_rate_hz)
    samples, _ = read_wav(path)
    return samples


def to_int16(samples: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> int16, clipped (no wrap-around)."""
    return np.clip(np.round(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: str, samples: np.ndarray, sample_rate_hz: int) -> None:
    """Writes mono 16-bit PCM WAV atomically (temp file + rename), creating parent folders.

    Args:
      samples: int16 as is, or float in [-1, 1] (clipped), shape [samples].
    """
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"write_wav wants mono [samples], got shape {samples.shape}")
    pcm = samples if samples.dtype == np.int16 else to_int16(samples)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".wav.tmp")
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate_hz)
            w.writeframes(pcm.astype("<i2").tobytes())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
