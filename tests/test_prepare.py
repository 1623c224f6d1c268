"""kws.data.prepare and `kws prepare`: a tree of any audio -> the same tree of 16 kHz mono 16-bit WAV."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from kws import audio
from kws.data import decode
from kws.data import prepare

RATE_HZ = 16000
# relative path -> (soundfile subtype, source rate, channels, frequency, amplitude)
SOURCES = {
    "yes/a.flac": ("PCM_24", 44100, 2, 440, 0.5),
    "yes/b.wav": ("FLOAT", 48000, 1, 1000, 0.3),
    "no/c.ogg": ("VORBIS", 22050, 2, 600, 0.4),
    "no/d.wav": ("PCM_16", 16000, 1, 800, 0.25),
}


def _sine(freq_hz: float, amplitude: float, rate_hz: int) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq_hz * np.arange(rate_hz) / rate_hz)


def _tone(samples: np.ndarray) -> tuple[float, float]:
    """(peak frequency, its amplitude) over the middle 8000 samples (2 Hz bins, Hann window)."""
    middle = samples[4000:12000].astype(np.float64)
    window = np.hanning(len(middle))
    spectrum = np.abs(np.fft.rfft(middle * window)) * 2 / window.sum()
    k = int(np.argmax(spectrum))
    return float(np.fft.rfftfreq(len(middle), 1 / RATE_HZ)[k]), float(spectrum[k])


def _write_dataset(root) -> None:
    for rel, (subtype, rate_hz, channels, freq_hz, amplitude) in SOURCES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        wave = _sine(freq_hz, amplitude, rate_hz)
        soundfile.write(str(path), np.stack([wave] * channels, axis=1), rate_hz, subtype=subtype)
    (root / "_background_noise_").mkdir()
    (root / "_background_noise_" / "README.md").write_text("noise clips\n")
    (root / ".DS_Store").write_bytes(b"\0\1")
    (root / "validation_list.txt").write_text("yes/a.flac\nno/c.ogg\n")
    (root / "testing_list.txt").write_text("no/d.wav\n")


def test_converts_every_format_to_training_wav(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data"
    _write_dataset(src)
    bar = io.StringIO()
    summary = prepare.prepare_folder(str(src), str(out), stream=bar)
    assert (summary.converted, summary.skipped, summary.errors) == (4, 0, ())
    assert summary.backend in ("soundfile", "tfio")
    assert sorted(summary.ignored) == [".DS_Store", "_background_noise_/README.md"]
    assert "prepare" in bar.getvalue() and "4/4" in bar.getvalue()
    for rel, (_, _, _, freq_hz, amplitude) in SOURCES.items():
        wav = out / (os.path.splitext(rel)[0] + ".wav")
        info = audio.check_training_wav(str(wav), RATE_HZ)
        assert (info.num_channels, info.bits_per_sample, info.num_frames) == (1, 16, RATE_HZ)
        peak_hz, peak = _tone(audio.read_clip(str(wav), RATE_HZ))
        assert peak_hz == freq_hz
        assert peak == pytest.approx(amplitude, rel=0.02)  # Vorbis: 0.7 % measured; PCM: < 0.01 %
    assert (out / "validation_list.txt").read_text() == "yes/a.wav\nno/c.wav\n"
    assert (out / "testing_list.txt").read_text() == "no/d.wav\n"
    assert not (out / "_background_noise_" / "README.md").exists()
    # A source that already is 16 kHz mono 16-bit comes through sample for sample.
    np.testing.assert_array_equal(audio.read_wav(str(out / "no/d.wav"))[0],
                                  audio.read_wav(str(src / "no/d.wav"))[0])


def test_rerun_skips_up_to_date_outputs_and_redoes_changed_or_missing_ones(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data"
    _write_dataset(src)
    prepare.prepare_folder(str(src), str(out), stream=io.StringIO())
    mtime_ns = os.stat(out / "yes/a.wav").st_mtime_ns
    again = prepare.prepare_folder(str(src), str(out), stream=io.StringIO())
    assert (again.converted, again.skipped) == (0, 4)
    assert os.stat(out / "yes/a.wav").st_mtime_ns == mtime_ns
    os.remove(out / "no/c.wav")  # as if the first run had stopped before it
    src_b = src / "yes/b.wav"
    os.utime(src_b, ns=(os.stat(src_b).st_atime_ns, os.stat(src_b).st_mtime_ns + 10**9))
    (out / "no/d.wav").write_bytes(b"RIFF")  # a broken output is redone too
    resumed = prepare.prepare_folder(str(src), str(out), stream=io.StringIO())
    assert (resumed.converted, resumed.skipped) == (3, 1)
    for rel in ("no/c.wav", "yes/b.wav", "no/d.wav"):
        audio.check_training_wav(str(out / rel), RATE_HZ)


def test_other_sample_rate(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data8k"
    _write_dataset(src)
    prepare.prepare_folder(str(src), str(out), sample_rate_hz=8000, stream=io.StringIO())
    info = audio.check_training_wav(str(out / "yes/a.wav"), 8000)
    assert info.num_frames == 8000
    with pytest.raises(audio.AudioFileError, match="8000 Hz"):
        audio.check_training_wav(str(out / "yes/a.wav"), RATE_HZ)


def _add_bad_files(src) -> None:
    (src / "yes/notes.wav").write_text("not audio at all\n")
    (src / "no/empty.flac").write_bytes(b"")
    (src / "testing_list.txt").write_text("no/d.wav\nno/empty.flac\n")


def test_bad_file_stops_the_run_with_its_name_and_the_fix(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data"
    _write_dataset(src)
    _add_bad_files(src)
    with pytest.raises(audio.AudioFileError, match=r"empty\.flac.*--skip_bad_files"):
        prepare.prepare_folder(str(src), str(out), stream=io.StringIO())


def test_skip_bad_files_counts_lists_and_drops_them_from_split_lists(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data"
    _write_dataset(src)
    _add_bad_files(src)
    summary = prepare.prepare_folder(str(src), str(out), skip_bad_files=True, stream=io.StringIO())
    assert summary.converted == 4
    bad = sorted(os.path.basename(path) for path, _ in summary.errors)
    assert bad == ["empty.flac", "notes.wav"]
    assert all(os.path.basename(path) in reason for path, reason in summary.errors)
    report = summary.report()
    assert "2 bad files skipped" in report and "notes.wav" in report and "empty.flac" in report
    assert (out / "testing_list.txt").read_text() == "no/d.wav\n"
    assert not (out / "yes/notes.wav").exists() and not (out / "no/empty.wav").exists()


def test_clipping_is_reported(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data"
    (src / "loud").mkdir(parents=True)
    soundfile.write(str(src / "loud/x.wav"), _sine(440, 1.5, RATE_HZ), RATE_HZ, subtype="FLOAT")
    summary = prepare.prepare_folder(str(src), str(out), stream=io.StringIO())
    assert [os.path.basename(p) for p in summary.clipped] == ["x.wav"]
    clip = audio.read_clip(str(out / "loud/x.wav"), RATE_HZ)
    assert (clip.max(), clip.min()) == (32767 / 32768, -1.0)  # saturated, not wrapped around


def test_folder_errors(tmp_path):
    with pytest.raises(prepare.PrepareError, match=re.escape(str(tmp_path / "nope")) +
                       ".*does not exist"):
        prepare.prepare_folder(str(tmp_path / "nope"), str(tmp_path / "out"))
    src = tmp_path / "raw"
    _write_dataset(src)
    with pytest.raises(prepare.PrepareError, match="inside it"):
        prepare.prepare_folder(str(src), str(src / "converted"))
    soundfile.write(str(src / "yes/a.wav"), _sine(440, 0.5, RATE_HZ), RATE_HZ)
    with pytest.raises(prepare.PrepareError, match=r"a\.flac.*a\.wav.*would both become"):
        prepare.prepare_folder(str(src), str(tmp_path / "out"))


def _kws_prepare(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws.cli", "prepare", *flags],
                          capture_output=True, text=True, check=False)


def test_command_line(tmp_path):
    src, out = tmp_path / "raw", tmp_path / "data"
    _write_dataset(src)
    _add_bad_files(src)
    ok = _kws_prepare(f"--input_dir={src}", f"--output_dir={out}", "--skip_bad_files",
                      "--backend=soundfile")
    assert ok.returncode == 0, ok.stderr
    assert "4 converted" in ok.stdout and "2 bad files skipped" in ok.stdout
    audio.check_training_wav(str(out / "yes/a.wav"), RATE_HZ)
    bad_enum = _kws_prepare(f"--input_dir={src}", f"--output_dir={out}", "--backend=ffmpeg")
    assert bad_enum.returncode != 0 and "auto|soundfile|tfio" in bad_enum.stderr
    missing = _kws_prepare(f"--input_dir={tmp_path / 'nope'}", f"--output_dir={out}")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
    tfio = _kws_prepare(f"--input_dir={src}", f"--output_dir={tmp_path / 'tfio'}",
                        "--backend=tfio", "--skip_bad_files")
    if decode.tfio_status()[0]:
        assert tfio.returncode == 0, tfio.stderr
    else:
        assert tfio.returncode == 1 and "backend 'tfio' was requested but cannot run" in tfio.stderr
    stopped = _kws_prepare(f"--input_dir={src}", f"--output_dir={tmp_path / 'other'}")
    assert stopped.returncode == 1 and "--skip_bad_files" in stopped.stderr
    assert "Traceback" not in stopped.stderr
