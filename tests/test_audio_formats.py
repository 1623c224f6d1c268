"""kws.audio reads the WAV files phones, DAWs and sox write, and refuses the rest with a fix.

Every file is made by sox (/usr/bin/sox) and checked to be the header kind it is meant to be (the
format tag read from the bytes); decoded samples are compared with libsndfile (soundfile) and, for
the 48 kHz 24-bit stereo file of the issue, with sox's own conversion to raw 64-bit floats.
"""

from __future__ import annotations

import pathlib
import shutil
import struct
import subprocess

import numpy as np
import pytest
import soundfile

from kws import audio
from kws import pretrained
from kws.data import decode
from kws.device import infer
from kws.device import model as dm
from kws.device import wav

from conftest import REPO_ROOT
from infer_command import INFER

SOX = shutil.which("sox") or "/usr/bin/sox"
# One synth per channel (sox repeats the list for more channels); below full scale so that no
# format clips.
_SIGNAL = ["synth", "0.25", "sine", "440", "sine", "1234", "sawtooth", "97", "gain", "-3"]
_PCM_GUID = "00000001-0000-0010-8000-00aa00389b71"
_FLOAT_GUID = "00000003-0000-0010-8000-00aa00389b71"
_YES_CLIP = "speech_commands_test_v0.02_dev/yes/022cd682_nohash_0.wav"


def _sox(*args) -> None:
    done = subprocess.run([SOX, *map(str, args)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _header(path: pathlib.Path) -> tuple[int, int, str]:
    """(format tag, bits, sub-format GUID or '') straight from the bytes of a sox-made file."""
    data = path.read_bytes()
    assert data[12:16] == b"fmt ", "sox puts fmt first"
    tag, bits = struct.unpack("<H", data[20:22])[0], struct.unpack("<H", data[34:36])[0]
    guid = ""
    if tag == 0xFFFE:
        d1, d2, d3 = struct.unpack("<IHH", data[44:52])
        guid = f"{d1:08x}-{d2:04x}-{d3:04x}-{data[52:54].hex()}-{data[54:60].hex()}"
    return tag, bits, guid


FORMATS = {
    # name: (sox output options, rate, channels, format tag, sub-format GUID)
    "pcm16_mono": (["-b", "16"], 16000, 1, 1, ""),
    "pcm16_6ch_extensible": (["-b", "16"], 44100, 6, 0xFFFE, _PCM_GUID),
    "pcm24_stereo_48k_extensible": (["-b", "24"], 48000, 2, 0xFFFE, _PCM_GUID),
    "pcm24_stereo_48k_plain": (["-t", "wavpcm", "-b", "24"], 48000, 2, 1, ""),
    "pcm32_extensible": (["-e", "signed-integer", "-b", "32"], 22050, 1, 0xFFFE, _PCM_GUID),
    "pcm32_plain": (["-t", "wavpcm", "-e", "signed-integer", "-b", "32"], 16000, 1, 1, ""),
    "u8_mono_8k": (["-e", "unsigned-integer", "-b", "8"], 8000, 1, 1, ""),
    "float32": (["-e", "floating-point", "-b", "32"], 16000, 1, 3, ""),
    "float64_stereo": (["-e", "floating-point", "-b", "64"], 96000, 2, 3, ""),
    "float32_3ch": (["-e", "floating-point", "-b", "32"], 16000, 3, 3, ""),
    # sox writes float as plain WAV only; libsndfile (Audacity, most DAWs) writes it extensible.
    "float32_stereo_extensible": (["-e", "floating-point", "-b", "32"], 44100, 2, 0xFFFE,
                                  _FLOAT_GUID),
}
_REWRITE_EXTENSIBLE = ("float32_stereo_extensible",)


def _make(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    options, rate, channels, tag, guid = FORMATS[name]
    path = tmp_path / f"{name}.wav"
    _sox("-n", "-r", rate, "-c", channels, *options, path, *_SIGNAL)
    if name in _REWRITE_EXTENSIBLE:
        samples, _ = soundfile.read(str(path), dtype="float32")
        soundfile.write(str(path), samples, rate, format="WAVEX", subtype="FLOAT")
    assert _header(path)[0] == tag and _header(path)[2] == guid, _header(path)
    return path


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_decodes_like_libsndfile(tmp_path, name):
    _, rate, channels, _, _ = FORMATS[name]
    path = _make(tmp_path, name)
    samples, rate_hz = audio.read_wav(str(path))
    reference, reference_rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    assert rate_hz == reference_rate == rate
    assert samples.dtype == np.float32
    assert samples.shape == ((len(reference),) if channels == 1 else (len(reference), channels))
    assert len(reference) == int(0.25 * rate)
    assert np.abs(reference).max() > 0.3  # a real signal, not silence
    np.testing.assert_allclose(samples.reshape(reference.shape), reference, rtol=0, atol=6e-8)
    if channels > 1:  # channels are de-interleaved, not mixed up: different synths per channel
        assert not np.allclose(samples[:, 0], samples[:, 1], atol=1e-3)


def test_24_bit_stereo_48k_decodes_like_sox_itself(tmp_path):
    path = _make(tmp_path, "pcm24_stereo_48k_extensible")
    raw = subprocess.run([SOX, str(path), "-t", "raw", "-e", "floating-point", "-b", "64", "-"],
                         capture_output=True, check=True).stdout
    reference = np.frombuffer(raw, "<f8").reshape(-1, 2)
    samples, _ = audio.read_wav(str(path))
    np.testing.assert_allclose(samples, reference, rtol=0, atol=6e-8)
    info = audio.inspect_wav(str(path))
    assert (info.kind, info.encoding, info.sub_format) == ("24-bit PCM", audio.PCM, _PCM_GUID)


def test_kws_infer_scores_a_48k_24_bit_stereo_recording_of_a_real_word(shared_data, tmp_path):
    source = shared_data / _YES_CLIP
    path = tmp_path / "yes_48k_24bit_stereo.wav"
    _sox(source, "-r", "48000", "-c", "2", "-b", "24", path)
    assert _header(path)[:2] == (0xFFFE, 24)
    done = subprocess.run(INFER + [str(path)], capture_output=True, text=True, check=False,
                          cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}  yes  "), done.stdout
    assert done.stdout.rstrip().endswith(
        "[mixed 2 channels to mono; resampled 48000 Hz to 16000 Hz]"), done.stdout
    # The same word as the original 16 kHz clip, to within what the round trip through 48 kHz
    # changes.
    model = dm.load_model(pretrained.model_dir(), "int8")
    original = infer.run_file(model, str(source), infer.InferOptions())
    converted = infer.run_file(model, str(path), infer.InferOptions())
    assert converted.label == original.label == "yes"
    assert abs(converted.score - original.score) < 0.02


def test_other_rates_and_channels_follow_the_flags(tmp_path):
    path = _make(tmp_path, "pcm24_stereo_48k_extensible")
    loaded = wav.load_audio(str(path), 16000)
    assert loaded.notes == ("mixed 2 channels to mono", "resampled 48000 Hz to 16000 Hz")
    assert loaded.samples.shape == (4000,)
    with pytest.raises(wav.AudioInputError, match=r"2 channels, the model takes mono; pass "
                                                  r"--stereo=mix"):
        wav.load_audio(str(path), 16000, stereo="refuse")
    with pytest.raises(wav.AudioInputError, match=r"48000 Hz, the model takes 16000 Hz; pass "
                                                  r"--resample"):
        wav.load_audio(str(path), 16000, resample=False)


@pytest.mark.parametrize("encoding,kind", [
    ("a-law", "A-law"), ("u-law", "mu-law"), ("ima-adpcm", "IMA ADPCM"),
    ("ms-adpcm", "Microsoft ADPCM"),
])
def test_compressed_encodings_are_refused_with_the_conversion(tmp_path, encoding, kind):
    path = tmp_path / f"{encoding}.wav"
    _sox("-n", "-r", "16000", "-c", "1", "-e", encoding, path, *_SIGNAL)
    with pytest.raises(audio.AudioFileError) as raised:
        audio.read_wav(str(path))
    message = str(raised.value)
    assert message == (f"{path}: {kind} WAV, which kws reads only as integer PCM or float; convert "
                       f"it with `sox {path} -e signed-integer -b 16 {tmp_path / encoding}"
                       "_pcm16.wav` (a folder: `kws prepare --input_dir=... --output_dir=...`)")
    # The conversion the message gives works, and its result reads.
    _sox(path, "-e", "signed-integer", "-b", "16", tmp_path / f"{encoding}_pcm16.wav")
    converted, _ = audio.read_wav(str(tmp_path / f"{encoding}_pcm16.wav"))
    assert 4000 <= len(converted) < 4000 + 512  # ADPCM pads its last block
    assert np.abs(converted).max() > 0.3


def test_kws_infer_refuses_a_law_in_one_line_naming_the_file_and_the_fix(tmp_path):
    path = tmp_path / "phone call.wav"  # a space: the sox command quotes it
    _sox("-n", "-r", "8000", "-c", "1", "-e", "a-law", path, *_SIGNAL)
    done = subprocess.run(INFER + [str(path)], capture_output=True, text=True, check=False,
                          cwd=REPO_ROOT)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"kws-infer: error: {path}: A-law WAV, which kws reads only as integer "
                           f"PCM or float; convert it with `sox '{path}' -e signed-integer -b 16 "
                           f"'{tmp_path / 'phone call_pcm16.wav'}'` (a folder: `kws prepare "
                           "--input_dir=... --output_dir=...`)\n")


def test_unknown_sub_format_guid_is_refused(tmp_path):
    path = _make(tmp_path, "pcm24_stereo_48k_extensible")
    data = bytearray(path.read_bytes())
    data[52:60] = bytes(range(8))  # the GUID's tail is no longer KSDATAFORMAT's
    path.write_bytes(bytes(data))
    with pytest.raises(audio.AudioFileError,
                       match=r"pcm24_stereo_48k_extensible.wav: WAVE_FORMAT_EXTENSIBLE with the "
                             r"unknown sub-format \{00000001-0000-0010-0001-020304050607\} WAV, "
                             r".*convert it with `sox "):
        audio.read_wav(str(path))


def test_truncated_and_cut_headers_are_refused(tmp_path):
    path = _make(tmp_path, "pcm24_stereo_48k_extensible")
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(audio.AudioFileError, match=r"extensible.wav: truncated WAV: header "
                                                   r"promises 72000 data bytes, .*re-export"):
        audio.read_wav(str(path))
    cut = bytearray(whole[:12] + b"fmt " + struct.pack("<I", 24) + whole[20:44])
    path.write_bytes(bytes(cut))
    with pytest.raises(audio.AudioFileError, match=r"extensible.wav: WAVE_FORMAT_EXTENSIBLE fmt "
                                                   r"chunk is cut short \(24 of 40 bytes"):
        audio.read_wav(str(path))


def test_rf64_and_self_contradicting_headers_are_refused(tmp_path):
    path = _make(tmp_path, "pcm16_mono")
    whole = path.read_bytes()
    path.write_bytes(b"RF64" + whole[4:])  # what recorders write past 4 GB
    with pytest.raises(audio.AudioFileError, match=r"pcm16_mono.wav: RF64 \(over-4-GB\) WAV, .*"
                                                   r"`sox .*pcm16_mono.wav part.wav trim 0 3600"):
        audio.read_wav(str(path))
    bad = bytearray(whole)
    bad[34:36] = struct.pack("<H", 24)  # 24-bit samples in 2-byte frames
    path.write_bytes(bytes(bad))
    with pytest.raises(audio.AudioFileError, match=r"pcm16_mono.wav: WAV header contradicts itself "
                                                   r"\(24-bit samples, 1 channel\(s\) in 2-byte frames"):
        audio.read_wav(str(path))


def test_non_finite_float_samples_are_refused(tmp_path):
    path = tmp_path / "nan.wav"
    soundfile.write(str(path), np.array([0.0, np.nan, 0.5]), 16000, subtype="FLOAT")
    with pytest.raises(audio.AudioFileError, match=r"nan.wav: float WAV with NaN or infinite"):
        audio.read_wav(str(path))


def _extensible_16_bit_mono(plain: pathlib.Path, out: pathlib.Path) -> None:
    """The samples of a plain 16-bit mono WAV behind a WAVE_FORMAT_EXTENSIBLE header (by hand)."""
    data = plain.read_bytes()
    assert _header(plain) == (1, 16, "") and data[36:40] == b"data"
    pcm = data[44:44 + struct.unpack("<I", data[40:44])[0]]
    guid = bytes.fromhex("0100000000001000800000aa00389b71")
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 16000, 32000, 2, 16, 22, 16, 4) + guid
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + \
        struct.pack("<I", len(pcm)) + pcm
    out.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_training_side_stays_strict_and_takes_extensible_16_bit_mono(shared_data, tmp_path):
    plain = shared_data / _YES_CLIP
    extensible = tmp_path / "yes_extensible.wav"
    _extensible_16_bit_mono(plain, extensible)
    assert audio.check_training_wav(str(extensible), 16000).sub_format == _PCM_GUID
    np.testing.assert_array_equal(audio.read_clip(str(extensible), 16000),
                                  audio.read_clip(str(plain), 16000))
    wide = _make(tmp_path, "pcm24_stereo_48k_extensible")
    with pytest.raises(audio.AudioFileError,
                       match=r"24-bit samples \(need 16-bit PCM\), 2 channels \(need mono\), "
                             r"48000 Hz \(need 16000 Hz\); convert the folder with `kws prepare"):
        audio.check_training_wav(str(wide), 16000)
    with pytest.raises(audio.AudioFileError, match=r"32-bit float samples \(need 16-bit PCM\)"):
        audio.read_clip(str(_make(tmp_path, "float32")), 16000)


def test_kws_prepare_decoding_still_takes_a_law(tmp_path):
    # kws prepare decodes with libsndfile, which reads A-law; kws.audio only checks its header.
    path = tmp_path / "alaw.wav"
    _sox("-n", "-r", "16000", "-c", "1", "-e", "a-law", path, *_SIGNAL)
    samples = decode.decode_audio(str(path), 16000, backend="soundfile")
    reference, _ = soundfile.read(str(path), dtype="float32")
    np.testing.assert_allclose(samples, reference, rtol=0, atol=1e-6)
