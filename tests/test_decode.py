"""kws.data.decode: any audio file -> float32 mono at one rate, and clear errors for bad files.

Inputs are sines written with soundfile in many formats; the expected frequency and amplitude are
measured independently with a numpy FFT. Every test runs on each backend that works in this
interpreter: soundfile always, tfio too where ``tfio_status()`` says its native ops load (the
TF 2.17 CI venv); test_tfio_backend.py checks that status against the installed versions.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import soundfile

from kws import audio
from kws.data import decode

RATE_HZ = 16000
BACKENDS = ["soundfile"] + (["tfio"] if decode.tfio_status()[0] else [])


def sine(freq_hz: float, amplitude: float, rate_hz: int, duration_s: float = 1.0) -> np.ndarray:
    t = np.arange(int(round(rate_hz * duration_s))) / rate_hz
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def tone(samples: np.ndarray, freq_hz: float, rate_hz: int = RATE_HZ) -> tuple[float, float]:
    """(frequency of the strongest FFT bin, amplitude at ``freq_hz``) of the middle half.

    The middle half of a 1 s clip at 16 kHz is 8000 samples: 2 Hz bins, so the test frequencies
    (even numbers of Hz) fall on a bin and a Hann window gives their amplitude without scalloping.
    """
    n = len(samples)
    middle = np.asarray(samples[n // 4: n // 4 + 8000], np.float64)
    window = np.hanning(len(middle))
    spectrum = np.abs(np.fft.rfft(middle * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(len(middle), 1 / rate_hz)
    return float(freqs[np.argmax(spectrum)]), float(spectrum[np.argmin(np.abs(freqs - freq_hz))])


# (extension, soundfile format, subtype, source rate, channels, relative amplitude tolerance).
# Measured errors: lossless 0 (to 5 digits), 8-bit 0.06 %, Vorbis 0.7 %, Opus and MP3 0.05 %.
CASES = [
    ("wav", "WAV", "PCM_U8", 16000, 1, 0.005),
    ("wav", "WAV", "PCM_16", 44100, 2, 0.001),
    ("wav", "WAV", "PCM_24", 48000, 1, 0.001),
    ("wav", "WAV", "PCM_32", 22050, 1, 0.001),
    ("wav", "WAV", "FLOAT", 8000, 1, 0.001),
    ("wav", "WAV", "DOUBLE", 44100, 2, 0.001),
    ("wav", "WAVEX", "PCM_24", 32000, 2, 0.001),
    ("flac", "FLAC", "PCM_16", 44100, 2, 0.001),
    ("flac", "FLAC", "PCM_24", 32000, 1, 0.001),
    ("ogg", "OGG", "VORBIS", 44100, 2, 0.02),
    ("opus", "OGG", "OPUS", 48000, 1, 0.02),
    ("mp3", "MP3", "MPEG_LAYER_III", 44100, 1, 0.02),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ext,fmt,subtype,rate_hz,channels,tolerance", CASES,
                         ids=[f"{c[2]}-{c[3]}-{c[4]}ch.{c[0]}" for c in CASES])
def test_sine_survives_decoding_and_resampling(tmp_path, backend, ext, fmt, subtype, rate_hz,
                                               channels, tolerance):
    wave = sine(440, 0.5, rate_hz)
    path = str(tmp_path / f"tone.{ext}")
    soundfile.write(path, np.stack([wave] * channels, axis=1), rate_hz, format=fmt,
                    subtype=subtype)
    if backend == "tfio" and subtype not in decode.TFIO_SUBTYPES.get(fmt, ()):
        with pytest.raises(audio.AudioFileError, match="not decoded correctly by tensorflow-io"):
            decode.decode_audio(path, RATE_HZ, backend=backend)
        return
    out = decode.decode_audio(path, RATE_HZ, backend=backend)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - RATE_HZ) <= 1, len(out)
    peak_hz, amplitude = tone(out, 440)
    assert peak_hz == 440
    assert amplitude == pytest.approx(0.5, rel=tolerance)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stereo_is_the_mean_of_the_channels(tmp_path, backend):
    path = str(tmp_path / "stereo.flac")
    left, right = sine(440, 0.5, 44100), sine(1000, 0.3, 44100)
    soundfile.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_24")
    out = decode.decode_audio(path, RATE_HZ, backend=backend)
    assert tone(out, 440)[1] == pytest.approx(0.25, rel=0.002)
    assert tone(out, 1000)[1] == pytest.approx(0.15, rel=0.002)


@pytest.mark.parametrize("backend", BACKENDS)
def test_16k_mono_16bit_is_returned_bit_exact(tmp_path, backend):
    pcm = np.random.default_rng(0).integers(-32768, 32768, 1600).astype(np.int16)
    path = str(tmp_path / "exact.wav")
    audio.write_wav(path, pcm, RATE_HZ)
    out = decode.decode_audio(path, RATE_HZ, backend=backend)
    np.testing.assert_array_equal(out, pcm.astype(np.float32) / 32768)


def test_to_mono_and_resample_helpers():
    stereo = np.array([[1.0, 0.0], [0.5, -0.5], [0.25, 0.75]], np.float32)
    np.testing.assert_allclose(decode.to_mono(stereo), [0.5, 0.0, 0.5])
    mono = np.arange(10, dtype=np.float32)
    assert decode.resample(mono, 16000, 16000) is mono
    assert len(decode.resample(np.zeros(8000, np.float32), 8000, 16000)) == 16000


def _bad_files(folder) -> dict[str, str]:
    """name -> path of files that are not usable audio."""
    paths = {}
    paths["empty.wav"] = str(folder / "empty.wav")
    open(paths["empty.wav"], "wb").close()
    paths["text.wav"] = str(folder / "text.wav")
    with open(paths["text.wav"], "w") as f:
        f.write("this is a text file, not audio\n" * 20)
    paths["garbage.flac"] = str(folder / "garbage.flac")
    with open(paths["garbage.flac"], "wb") as f:
        f.write(np.random.default_rng(1).bytes(4000))
    whole = str(folder / "whole.wav")
    soundfile.write(whole, sine(440, 0.5, RATE_HZ), RATE_HZ, subtype="PCM_16")
    paths["truncated.wav"] = str(folder / "truncated.wav")
    with open(whole, "rb") as f, open(paths["truncated.wav"], "wb") as g:
        g.write(f.read(1000))
    whole_flac = str(folder / "whole.flac")
    soundfile.write(whole_flac, sine(440, 0.5, 44100, 2.0), 44100, subtype="PCM_16")
    paths["truncated.flac"] = str(folder / "truncated.flac")
    with open(whole_flac, "rb") as f, open(paths["truncated.flac"], "wb") as g:
        g.write(f.read(os.path.getsize(whole_flac) // 2))
    paths["nan.wav"] = str(folder / "nan.wav")
    samples = sine(440, 0.5, RATE_HZ).astype(np.float32)
    samples[100] = np.nan
    soundfile.write(paths["nan.wav"], samples, RATE_HZ, subtype="FLOAT")
    paths["no_samples.wav"] = str(folder / "no_samples.wav")
    audio.write_wav(paths["no_samples.wav"], np.zeros(0, np.int16), RATE_HZ)
    paths["missing.wav"] = str(folder / "missing.wav")
    paths["folder.wav"] = str(folder / "folder.wav")
    os.mkdir(paths["folder.wav"])
    return paths


BAD_NAMES = ["empty.wav", "text.wav", "garbage.flac", "truncated.wav", "truncated.flac", "nan.wav",
             "no_samples.wav", "missing.wav", "folder.wav"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_files_raise_audio_file_error_naming_the_file(tmp_path, backend, name):
    path = _bad_files(tmp_path)[name]
    with pytest.raises(audio.AudioFileError, match=re.escape(path)):
        decode.decode_audio(path, RATE_HZ, backend=backend)


def test_unknown_backend_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="auto, soundfile, tfio"):
        decode.decode_audio(str(tmp_path / "x.wav"), RATE_HZ, backend="ffmpeg")
