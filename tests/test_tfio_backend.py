"""The optional tensorflow-io backend of kws.data.decode, in whichever venv the tests run.

What to expect is worked out here independently of ``tfio_status()``, from the installed versions:
tensorflow-io 0.37.1's native ops load on TensorFlow 2.16/2.17 and fail on >= 2.18 (measured on
2.18-2.21). In the main TF 2.21 venv the tests assert the fallback to soundfile and the error for
``backend="tfio"``; in the CI's TF 2.17.1 + tensorflow-io venv (.ci/tfio_venv.sh) they assert that
the tfio path decodes WAV and FLAC like soundfile. Nothing is skipped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from kws import audio
from kws.data import decode

RATE_HZ = 16000
TOLERANCE = 1e-6
"""Max |tfio - soundfile| per sample. Both backends resample with soxr, so only decoding differs:
measured 0 for WAV and FLAC (integer PCM scaled the same way), 2e-7 for Vorbis, 7e-7 for MP3."""


def _expected() -> tuple[bool, str]:
    """(tfio should work, a phrase its reason must contain), from package metadata alone."""
    if importlib.util.find_spec("tensorflow_io") is None:
        return False, "not installed"
    major, minor = (int(x) for x in importlib.metadata.version("tensorflow").split(".")[:2])
    if (2, 16) <= (major, minor) < (2, 18):
        return True, "native ops load"
    return False, "native ops do not load"


EXPECTED_OK, EXPECTED_PHRASE = _expected()


def _sine_file(folder, name: str, subtype: str, rate_hz: int = 44100, channels: int = 2) -> str:
    t = np.arange(rate_hz) / rate_hz
    wave = 0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)
    path = str(folder / name)
    soundfile.write(path, np.stack([wave * (c + 1) / channels for c in range(channels)], axis=1),
                    rate_hz, subtype=subtype)
    return path


def test_status_matches_the_installed_versions():
    available, reason = decode.tfio_status()
    assert available == EXPECTED_OK, reason
    assert EXPECTED_PHRASE in reason
    if not available and EXPECTED_PHRASE == "native ops do not load":
        assert "undefined symbol" in reason  # the real cause, not a guess


def test_auto_picks_tfio_only_where_it_loads_and_logs_once(caplog):
    decode._log_auto_choice.cache_clear()
    with caplog.at_level(logging.INFO, logger="absl"):
        first = decode.resolve_backend("auto")
        second = decode.resolve_backend("auto")
    assert first == second == ("tfio" if EXPECTED_OK else "soundfile")
    messages = [r.getMessage() for r in caplog.records if "backend 'auto'" in r.getMessage()]
    assert len(messages) == 1
    assert f"-> {first}" in messages[0] and decode.tfio_status()[1] in messages[0]


@pytest.mark.parametrize("name,subtype", [("s16.wav", "PCM_16"), ("s24.wav", "PCM_24"),
                                          ("f32.wav", "FLOAT"), ("s16.flac", "PCM_16"),
                                          ("s24.flac", "PCM_24")])
def test_tfio_backend_decodes_like_soundfile_or_says_why_not(tmp_path, name, subtype):
    path = _sine_file(tmp_path, name, subtype)
    reference = decode.decode_audio(path, RATE_HZ, backend="soundfile")
    if EXPECTED_OK:
        out = decode.decode_audio(path, RATE_HZ, backend="tfio")
        assert out.shape == reference.shape
        np.testing.assert_allclose(out, reference, rtol=0, atol=TOLERANCE)
    else:
        with pytest.raises(decode.TfioUnavailableError) as raised:
            decode.decode_audio(path, RATE_HZ, backend="tfio")
        assert decode.tfio_status()[1] in str(raised.value)
        assert "soundfile" in str(raised.value)  # says what to use instead
    auto = decode.decode_audio(path, RATE_HZ, backend="auto")
    np.testing.assert_allclose(auto, reference, rtol=0, atol=TOLERANCE if EXPECTED_OK else 0)


def test_formats_tfio_misreads_are_refused_or_decoded_by_soundfile(tmp_path):
    # tensorflow-io 0.37.1 returns 32-bit integer WAV as float garbage (NaN / 1e38), measured.
    path = _sine_file(tmp_path, "s32.wav", "PCM_32")
    reference = decode.decode_audio(path, RATE_HZ, backend="soundfile")
    expected_error = audio.AudioFileError if EXPECTED_OK else decode.TfioUnavailableError
    with pytest.raises(expected_error):
        decode.decode_audio(path, RATE_HZ, backend="tfio")
    np.testing.assert_array_equal(decode.decode_audio(path, RATE_HZ, backend="auto"), reference)


def test_tfio_backend_names_a_corrupt_file(tmp_path):
    whole = _sine_file(tmp_path, "whole.flac", "PCM_16")
    path = str(tmp_path / "cut.flac")
    with open(whole, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    expected_error = audio.AudioFileError if EXPECTED_OK else decode.TfioUnavailableError
    with pytest.raises(expected_error, match="cut.flac" if EXPECTED_OK else "cannot run"):
        decode.decode_audio(path, RATE_HZ, backend="tfio")


def test_importing_kws_data_modules_loads_no_tensorflow():
    """No import-time side effects; without tensorflow-io the status check needs no TF either."""
    check_status = EXPECTED_PHRASE == "not installed"  # elsewhere the status imports TF by design
    code = ("import sys\n"
            "from kws.data import decode, prepare, download\n"
            "from kws.commands import prepare as command\n"
            "assert 'tensorflow' not in sys.modules, 'importing kws.data imported tensorflow'\n"
            f"if {check_status}:\n"
            "    assert decode.tfio_status()[0] is False\n"
            "    assert 'tensorflow' not in sys.modules, 'tfio_status imported tensorflow'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
