"""WAV reading and writing with the standard library and numpy only.

This module is shared by the training side and the on-device script, so it must never import
TensorFlow.

* ``read_wav`` reads the WAV files phones, DAWs and sox write: integer PCM of 8 (unsigned), 16,
  24 or 32 bits and IEEE float of 32 or 64 bits, with a plain or a WAVE_FORMAT_EXTENSIBLE header
  (whose sub-format GUID says PCM or float), at any rate and channel count. Other encodings (A-law,
  mu-law, ADPCM, MP3 in a WAV, unknown sub-formats) are refused with an error that names the file,
  says what it holds and gives the command that converts it.
* Training reads only 16-bit PCM WAV at one sample rate, mono (``check_training_wav``); anything
  else is refused with an error that names the file and says how to fix it (``kws prepare``
  converts other audio).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import struct
import tempfile
import uuid
import wave

import numpy as np

from kws.errors import UserError

PCM = 1
"""Format code of integer PCM (WAVE_FORMAT_PCM, KSDATAFORMAT_SUBTYPE_PCM)."""
IEEE_FLOAT = 3
"""Format code of IEEE float samples."""
EXTENSIBLE = 0xFFFE
"""WAVE_FORMAT_EXTENSIBLE: the real format code is in the sub-format GUID."""
_GUID_TAIL = bytes.fromhex("000010008000" "00aa00389b71")  # KSDATAFORMAT_SUBTYPE_* after the code
_CODEC_NAMES = {2: "Microsoft ADPCM", 6: "A-law", 7: "mu-law", 0x11: "IMA ADPCM", 0x31: "GSM 6.10",
                0x50: "MPEG audio", 0x55: "MP3"}
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
    """Bits of one sample of one channel (the header's; the container may be wider)."""
    format_tag: int
    """The header's tag: 1 integer PCM, 3 IEEE float, 6 A-law, ..., 0xFFFE (EXTENSIBLE)."""
    sub_format: str
    """WAVE_FORMAT_EXTENSIBLE's sub-format GUID ('00000001-0000-0010-8000-00aa00389b71' is PCM);
    '' for other headers."""
    block_align: int
    """Bytes of one frame (one sample of every channel)."""
    num_frames: int
    """Samples per channel in the data chunk."""
    data_offset: int
    """Byte offset of the first sample."""

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.sample_rate_hz

    @property
    def encoding(self) -> int | None:
        """The sample format code (PCM, IEEE_FLOAT, 6 for A-law, ...): the tag, or for
        WAVE_FORMAT_EXTENSIBLE the code in its sub-format GUID; None for a non-standard GUID."""
        if self.format_tag != EXTENSIBLE:
            return self.format_tag
        guid = uuid.UUID(self.sub_format).bytes_le
        return struct.unpack("<I", guid[:4])[0] if guid[4:] == _GUID_TAIL else None

    @property
    def kind(self) -> str:
        """The encoding in words: '24-bit PCM', '32-bit float', 'A-law', 'format 0x0161', ..."""
        code = self.encoding
        if code is None:
            return f"WAVE_FORMAT_EXTENSIBLE with the unknown sub-format {{{self.sub_format}}}"
        if code == PCM:
            return f"{self.bits_per_sample}-bit PCM"
        if code == IEEE_FLOAT:
            return f"{self.bits_per_sample}-bit float"
        return _CODEC_NAMES.get(code, f"format 0x{code:04x}")


def _parse_fmt(path: str, body: bytes) -> tuple[int, int, int, int, int, str]:
    """(format_tag, channels, rate, block_align, bits, sub_format) of a fmt chunk's body."""
    if len(body) < 16:
        raise AudioFileError(f"{path}: WAV fmt chunk is cut short (corrupt file)")
    format_tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    sub_format = ""
    if format_tag == EXTENSIBLE:
        if len(body) < 40:
            raise AudioFileError(f"{path}: WAVE_FORMAT_EXTENSIBLE fmt chunk is cut short "
                                 f"({len(body)} of 40 bytes; corrupt file)")
        sub_format = str(uuid.UUID(bytes_le=body[24:40]))
    return format_tag, channels, rate, block_align, bits, sub_format


def inspect_wav(path: str) -> WavInfo:
    """Parses the RIFF header of ``path`` without reading the samples; any encoding is described.

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
            if head[:4] == b"RF64":
                raise AudioFileError(f"{path}: RF64 (over-4-GB) WAV, which kws does not read; cut "
                                     f"it into shorter WAV files, e.g. `sox {shlex.quote(path)} "
                                     "part.wav trim 0 3600 : newfile : restart`")
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
                    fmt = _parse_fmt(path, f.read(chunk_size))
                    if chunk_size % 2:
                        f.seek(1, os.SEEK_CUR)
                elif chunk_id == b"data":
                    if fmt is None:
                        raise AudioFileError(f"{path}: WAV data chunk comes before fmt (corrupt file)")
                    offset = f.tell()
                    format_tag, channels, rate, block_align, bits, sub_format = fmt
                    if channels < 1 or rate < 1 or block_align < 1:
                        raise AudioFileError(f"{path}: WAV header has zero channels or rate (corrupt)")
                    if offset + chunk_size > size:
                        raise AudioFileError(
                            f"{path}: truncated WAV: header promises {chunk_size} data bytes, file "
                            f"holds {size - offset}; re-export or delete the file")
                    return WavInfo(path=path, sample_rate_hz=rate, num_channels=channels,
                                   bits_per_sample=bits, format_tag=format_tag,
                                   sub_format=sub_format, block_align=block_align,
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
    if info.encoding != PCM or info.bits_per_sample != 16:
        kind = f"{info.bits_per_sample}-bit" if info.encoding == PCM else info.kind
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


def _convert_hint(path: str) -> str:
    out = os.path.splitext(path)[0] + "_pcm16.wav"
    return (f"convert it with `sox {shlex.quote(path)} -e signed-integer -b 16 {shlex.quote(out)}` "
            f"(a folder: `kws prepare --input_dir=... --output_dir=...`)")


def _sample_dtype(info: WavInfo) -> str:
    """The numpy dtype of one sample of ``info``'s data ('u1', '<i2', 'i3' for 24-bit, '<f4', ...).

    Raises:
      AudioFileError: an encoding read_wav does not decode, or a header that contradicts itself.
    """
    path, code = info.path, info.encoding
    if code not in (PCM, IEEE_FLOAT):
        raise AudioFileError(f"{path}: {info.kind} WAV, which kws reads only as integer PCM or "
                             f"float; {_convert_hint(path)}")
    width = info.block_align // info.num_channels
    if info.block_align % info.num_channels or not 0 < info.bits_per_sample <= 8 * width:
        raise AudioFileError(f"{path}: WAV header contradicts itself ({info.bits_per_sample}-bit "
                             f"samples, {info.num_channels} channel(s) in {info.block_align}-byte "
                             "frames; corrupt file); re-export or delete the file")
    dtypes = ({1: "u1", 2: "<i2", 3: "i3", 4: "<i4"} if code == PCM else {4: "<f4", 8: "<f8"})
    if width not in dtypes:
        kind = "PCM" if code == PCM else "float"
        raise AudioFileError(f"{path}: {8 * width}-bit {kind} samples, which kws does not read; "
                             f"{_convert_hint(path)}")
    return dtypes[width]


def read_wav(path: str) -> tuple[np.ndarray, int]:
    """Reads integer-PCM (8, 16, 24, 32 bit) or float (32, 64 bit) WAV, plain or extensible.

    Returns:
      (samples, sample_rate_hz): float32 [frames] for mono or [frames, channels]. Integer samples
      are scaled to [-1, 1) (x / 2^(bits - 1), 8-bit unsigned around 128); float samples are kept
      as they are (a float file may go beyond +-1).
    Raises:
      AudioFileError: not a WAV file, truncated, an encoding it does not decode (see the module
        docstring), or float samples that are NaN or infinite.
    """
    info = inspect_wav(path)
    dtype = _sample_dtype(info)
    with open(path, "rb") as f:
        f.seek(info.data_offset)
        raw = f.read(info.num_frames * info.block_align)
    if dtype == "u1":
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif dtype == "i3":
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        samples = ints.astype(np.float32) / 8388608.0
    elif dtype in ("<i2", "<i4"):
        full_scale = 2.0 ** (8 * np.dtype(dtype).itemsize - 1)
        samples = (np.frombuffer(raw, dtype) / full_scale).astype(np.float32)
    else:
        samples = np.frombuffer(raw, dtype).astype(np.float32)
        if not np.all(np.isfinite(samples)):
            raise AudioFileError(f"{path}: float WAV with NaN or infinite samples (corrupt audio); "
                                 "re-export or delete the file")
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
