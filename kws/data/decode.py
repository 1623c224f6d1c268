"""Decodes any audio file (WAV of any depth, FLAC, OGG, MP3, AIFF, ...) to float32 mono at one rate.

Two backends:

* ``soundfile`` (default): libsndfile decodes, the channels are averaged, soxr resamples.
* ``tfio``: tensorflow-io's ``AudioIOTensor`` decodes, then the same mono mix and soxr resampling.
  tensorflow-io 0.37.1 (its last release) imports on TensorFlow >= 2.18 but none of its native ops
  load there (``libtensorflow_io.so: undefined symbol``, raised as ``NotImplementedError``); on
  TF 2.16/2.17 they work. ``tfio_status()`` finds out at run time by decoding a tiny WAV.

Measured limits of tensorflow-io 0.37.1 on TF 2.17.1 that shape the ``tfio`` path:

* 32-bit integer PCM WAV comes back as float32 garbage (the integers reinterpreted; NaN/1e38);
  64-bit float WAV, Opus and AIFF are refused. Only the formats in ``TFIO_SUBTYPES`` go to tfio;
  ``backend="tfio"`` refuses the others, ``backend="auto"`` decodes them with soundfile (logged).
* ``tfio.audio.resample`` delays its output by 32 samples (44.1 kHz -> 16 kHz, even 16 -> 16 kHz) or
  64 samples (8 -> 16 kHz) and drops that many from the end, so both backends resample with soxr.

Errors: anything that is not decodable audio (missing, empty, text, truncated, corrupt, non-finite
samples) raises ``kws.audio.AudioFileError`` naming the file.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import re
import warnings
import wave

import numpy as np
import soundfile
import soxr
from absl import logging

from kws import audio
from kws.errors import UserError

BACKENDS = ("auto", "soundfile", "tfio")
"""Valid values of every ``backend`` argument."""

TFIO_SUBTYPES = {
    "WAV": ("PCM_U8", "PCM_16", "PCM_24", "FLOAT"),
    "WAVEX": ("PCM_U8", "PCM_16", "PCM_24", "FLOAT"),
    "FLAC": ("PCM_16", "PCM_24"),
    "OGG": ("VORBIS",),
    "MP3": ("MPEG_LAYER_III",),
}
"""libsndfile (format, subtype) pairs that tensorflow-io 0.37.1 decodes correctly (measured)."""

_TFIO_INSTALL_HINT = ("tensorflow-io 0.37.1 works with tensorflow 2.16/2.17 only; see "
                      ".ci/tfio_venv.sh for a venv where it loads")
_PROBE_SAMPLES = (0, 1, -1, 12345, -12345, 32767, -32768)


class TfioUnavailableError(UserError):
    """``backend="tfio"`` was asked for where tensorflow-io's native ops do not load."""


def _probe_wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(_PROBE_SAMPLES, "<i2").tobytes())
    return buf.getvalue()


def _short_load_error(error: Exception) -> str:
    """The useful part of tensorflow-io's long "unable to open file ... caused by" message."""
    text = str(error)
    symbol = re.search(r"([\w.]+\.so): undefined symbol: (\S+?)['\"\]]", text)
    if symbol:
        return f"{symbol.group(1)}: undefined symbol {symbol.group(2)}"
    return text.splitlines()[0][:300] if text else type(error).__name__


@functools.cache
def tfio_status() -> tuple[bool, str]:
    """Whether tensorflow-io's native audio ops work in this process, and why (not).

    Imports tensorflow_io (and so TensorFlow) only when it is installed, then decodes a 7-sample
    in-memory WAV with ``tfio.audio.decode_wav`` and compares the samples. Cached per process.

    Returns:
      (available, reason): reason is one human-readable line either way.
    """
    if importlib.util.find_spec("tensorflow_io") is None:
        return False, f"tensorflow-io is not installed ({_TFIO_INSTALL_HINT})"
    try:
        # On TF >= 2.18 the import itself warns twice that its plugins do not load; the probe below
        # turns that into the reason instead of letting the warnings through.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            import tensorflow as tf
            import tensorflow_io as tfio
    except ImportError as e:
        return False, f"import tensorflow_io failed: {type(e).__name__}: {e}"
    versions = f"tensorflow-io {tfio.__version__} on TensorFlow {tf.__version__}"
    try:
        decoded = tfio.audio.decode_wav(tf.constant(_probe_wav_bytes()), dtype=tf.int16).numpy()
    except NotImplementedError as e:  # what tfio's op loader raises when the .so does not link
        return False, (f"{versions}: imports, but its native ops do not load "
                       f"({_short_load_error(e)}); {_TFIO_INSTALL_HINT}")
    if decoded.reshape(-1).tolist() != list(_PROBE_SAMPLES):
        return False, f"{versions}: decoded a test WAV wrongly ({decoded.reshape(-1).tolist()})"
    return True, f"{versions}: native ops load"


@functools.cache
def _log_auto_choice(chosen: str, reason: str) -> None:
    logging.info("audio decoding backend 'auto' -> %s (%s)", chosen, reason)


@functools.cache
def _log_auto_format_fallback(fmt: str, subtype: str) -> None:
    logging.info("audio decoding backend 'auto': %s/%s files are decoded with soundfile, since "
                 "tensorflow-io 0.37.1 misreads or refuses them", fmt, subtype)


def resolve_backend(backend: str) -> str:
    """Maps ``backend`` ("auto" | "soundfile" | "tfio") to the backend that will run.

    "auto" is "tfio" where ``tfio_status()`` says its ops load, else "soundfile"; the choice and its
    reason are logged once per process.

    Raises:
      ValueError: unknown name.
      TfioUnavailableError: "tfio" where tensorflow-io does not load; the message says why.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown audio backend {backend!r}; valid: {', '.join(BACKENDS)}")
    if backend == "soundfile":
        return "soundfile"
    available, reason = tfio_status()
    if backend == "tfio":
        if not available:
            raise TfioUnavailableError(
                f"audio backend 'tfio' was requested but cannot run: {reason}. Use backend "
                "'soundfile' (or 'auto', which falls back to it).")
        return "tfio"
    chosen = "tfio" if available else "soundfile"
    _log_auto_choice(chosen, reason)
    return chosen


def sniff(path: str) -> soundfile._SoundFileInfo:
    """Header check shared by both backends; catches what libsndfile would silently accept."""
    if not os.path.exists(path):
        raise audio.AudioFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise audio.AudioFileError(f"{path}: is a folder, not an audio file")
    if os.path.getsize(path) == 0:
        raise audio.AudioFileError(f"{path}: empty file (0 bytes); delete it or re-record it")
    try:
        info = soundfile.info(path)
    except soundfile.LibsndfileError as e:
        raise audio.AudioFileError(
            f"{path}: not readable audio ({e.error_string}); delete it or re-export it") from e
    if info.format in ("WAV", "WAVEX"):
        # libsndfile reads a truncated WAV without complaint (it returns the frames that are there);
        # inspect_wav compares the header's data size with the file size and says so.
        audio.inspect_wav(path)
    if info.frames == 0:
        raise audio.AudioFileError(f"{path}: holds no samples; delete it or re-record it")
    return info


def _read_soundfile(path: str) -> tuple[np.ndarray, int]:
    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as e:
        raise audio.AudioFileError(
            f"{path}: corrupt audio ({e.error_string}); delete it or re-export it") from e
    return samples, rate


def _read_tfio(path: str) -> tuple[np.ndarray, int]:
    import tensorflow as tf
    import tensorflow_io as tfio

    try:
        clip = tfio.audio.AudioIOTensor(path)
        raw = clip.to_tensor().numpy()
        rate = int(clip.rate.numpy())
    except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError,
            tf.errors.NotFoundError) as e:
        message = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", e.message, flags=re.S).strip()
        raise audio.AudioFileError(
            f"{path}: tensorflow-io cannot decode it ({message}); delete it or re-export it") from e
    if raw.dtype == np.uint8:
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif raw.dtype == np.int16:
        samples = raw.astype(np.float32) / 32768.0
    elif raw.dtype == np.int32:  # 24-bit PCM, left-aligned in 32 bits
        samples = (raw.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif raw.dtype == np.float32:
        samples = raw
    else:
        raise audio.AudioFileError(f"{path}: tensorflow-io returned {raw.dtype} samples, which "
                                   "kws does not expect; use backend 'soundfile'")
    return samples.reshape(raw.shape[0], raw.size // max(raw.shape[0], 1)), rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """[frames, channels] or [frames] -> float32 [frames], the mean over channels."""
    samples = np.asarray(samples, np.float32)
    return samples if samples.ndim == 1 else samples.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, rate_in_hz: int, rate_out_hz: int) -> np.ndarray:
    """soxr "HQ" resampling of float32 [frames]; returns the input itself when the rates match."""
    if rate_in_hz == rate_out_hz:
        return samples
    return soxr.resample(samples, rate_in_hz, rate_out_hz, quality="HQ").astype(np.float32)


def decode_audio(path: str, sample_rate_hz: int, *, backend: str = "auto") -> np.ndarray:
    """Decodes ``path`` to mono float32 at ``sample_rate_hz``.

    Args:
      path: any file libsndfile reads (WAV 8/16/24/32-bit or float, FLAC, OGG Vorbis/Opus, MP3, ...).
      sample_rate_hz: the output rate.
      backend: "auto" | "soundfile" | "tfio" (see the module docstring).

    Returns:
      float32 [samples], nominally in [-1, 1]: float sources may exceed it; writers clip.

    Raises:
      kws.audio.AudioFileError: not decodable audio; the message names the file.
      TfioUnavailableError: backend "tfio" where tensorflow-io does not load.
      ValueError: unknown backend.
    """
    chosen = resolve_backend(backend)
    info = sniff(path)
    if chosen == "tfio" and info.subtype not in TFIO_SUBTYPES.get(info.format, ()):
        if backend == "tfio":
            raise audio.AudioFileError(
                f"{path}: {info.format}/{info.subtype} is not decoded correctly by tensorflow-io "
                "0.37.1 (it handles WAV 8/16/24-bit and float32, FLAC 16/24-bit, OGG Vorbis, MP3); "
                "use backend 'soundfile' or 'auto'")
        _log_auto_format_fallback(info.format, info.subtype)
        chosen = "soundfile"
    samples, rate_hz = _read_tfio(path) if chosen == "tfio" else _read_soundfile(path)
    if samples.shape[0] == 0:
        raise audio.AudioFileError(f"{path}: holds no samples; delete it or re-record it")
    if not np.all(np.isfinite(samples)):
        raise audio.AudioFileError(f"{path}: has NaN or infinite samples (corrupt float audio); "
                                   "delete it or re-export it")
    return resample(to_mono(samples), rate_hz, sample_rate_hz)


def read_clip(path: str, sample_rate_hz: int) -> np.ndarray:
    """float32 [samples] of a clip as the data layer takes it: a WAV must be 16-bit mono at the rate
    (kws.audio.read_clip, its strict errors); FLAC or OGG is decoded by libsndfile, resampled
    when its rate differs."""
    if path.lower().endswith(".wav"):
        return audio.read_clip(path, sample_rate_hz)
    return decode_audio(path, sample_rate_hz, backend="soundfile")
