"""The device side on a real export folder: kws.device.model/wav/infer and the `kws-infer` command.

TF-free: CI runs this file in a venv without TensorFlow (.ci/device_venv.sh), on the export
folder named by $KWS_TEST_EXPORT_DIR (made by `python export/make_demo.py`). Without that variable
(the main venv) it runs on a copy of the session's tone demo (conftest's demo_copy).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import wave

import numpy as np
import pytest

from kws import audio
from kws.device import infer
from kws.device import model as dm
from kws.device import stream
from kws.device import wav
from kws.export import demo

from conftest import REPO_ROOT
from infer_command import INFER

RATE = demo.SAMPLE_RATE_HZ


@pytest.fixture(scope="module")
def export_dir(demo_copy) -> pathlib.Path:
    path = demo_copy
    labels = (path / dm.LABELS_FILE).read_text().split() if path.is_dir() else []
    want = ["_silence_", "_unknown_", *demo.DEMO_KEYWORDS]
    assert labels == want, (f"{path} is not a tone-demo export (labels {labels}); make one with "
                            "`python export/make_demo.py --workdir=W --output_dir=OUT`")
    return path


@pytest.fixture(scope="module")
def model(export_dir) -> dm.KeywordModel:
    return dm.KeywordModel(str(export_dir), "int8")


def _word(word, start_s=0.3, seed=0, pitch=1.0):
    return demo.tone_word(word, np.random.default_rng(seed), start_s=start_s, pitch=pitch)


def _recording(events, seconds=7.0, seed=3) -> np.ndarray:
    """Light noise with the demo words placed at the given (word, start_s) times."""
    rng = np.random.default_rng(seed)
    x = (0.01 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)
    for word, start in events:
        w = demo.tone_word(word, rng, start_s=0.0)[:int(demo.WORD_DURATION_S * RATE)]
        x[int(start * RATE):int(start * RATE) + len(w)] += w
    return x


def _write_pcm(path, samples, rate, channels=1, width=2):
    """A WAV written with the standard library; samples [frames] or [frames, channels] float."""
    ints = np.clip(np.round(np.asarray(samples) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(ints.tobytes())
    return path


@pytest.mark.parametrize("variant", ["int8", "float", "stream_int8", "stream_float"])
def test_recognises_the_demo_words(export_dir, variant):
    m = dm.load_model(str(export_dir), variant)
    assert m.sample_rate_hz == RATE and m.clip_samples == RATE
    for i, word in enumerate(demo.DEMO_KEYWORDS):
        for start, pitch in ((0.15, 0.97), (0.4, 1.03)):
            p = m.predict(_word(word, start, seed=10 + i, pitch=pitch))
            assert m.labels[int(np.argmax(p))] == word and p.max() > 0.6, (word, p)
            np.testing.assert_allclose(p.sum(), 1.0, atol=0.02)
    assert m.labels[int(np.argmax(m.predict(_word("delta"))))] == "_unknown_"
    noise = (0.01 * np.random.default_rng(1).standard_normal(RATE)).astype(np.float32)
    assert m.labels[int(np.argmax(m.predict(noise)))] == "_silence_"


def _broken_copy(export_dir, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(export_dir, folder)
    return folder


@pytest.mark.parametrize("breakage,message", [
    ("no_folder", r"does not exist"),
    ("no_model", r"model_int8.tflite is missing.*kws-export"),
    ("empty_model", r"model_int8.tflite: empty file"),
    ("garbage_model", r"model_int8.tflite: not a loadable .tflite model"),
    ("truncated_model", r"model_int8.tflite: not a loadable .tflite model"),
    ("features_model", r"input is int8 \[1, 49, 10\] but .*frontend.json asks for float32"),
    ("no_labels", r"labels.txt is missing"),
    ("extra_label", r"output is float32 \[1, 5\] but .*labels.txt has 6 labels"),
    ("missing_label", r"output is float32 \[1, 5\] but .*labels.txt has 4 labels"),
    ("other_clip_length", r"input is float32 \[1, 16000\] but .*frontend.json asks for float32 "
                          r"\[1, 8000\]"),
    ("bad_json", r"frontend.json: not valid JSON"),
    ("no_rate", r"frontend.json: sample_rate_hz is missing"),
])
def test_refuses_broken_export_folders(export_dir, tmp_path, breakage, message):
    folder = _broken_copy(export_dir, tmp_path)
    model_file = folder / dm.INT8_MODEL
    frontend = json.loads((folder / dm.FRONTEND_FILE).read_text())
    labels = (folder / dm.LABELS_FILE).read_text().split()
    if breakage == "no_folder":
        folder = tmp_path / "nowhere"
    elif breakage == "no_model":
        model_file.unlink()
    elif breakage == "empty_model":
        model_file.write_bytes(b"")
    elif breakage == "garbage_model":
        model_file.write_bytes(np.random.default_rng(0).bytes(4000))
    elif breakage == "truncated_model":
        model_file.write_bytes(model_file.read_bytes()[:2000])
    elif breakage == "features_model":
        shutil.copyfile(folder / dm.FEATURES_INT8_MODEL, model_file)
    elif breakage == "no_labels":
        (folder / dm.LABELS_FILE).unlink()
    elif breakage in ("extra_label", "missing_label"):
        labels = labels + ["zeta"] if breakage == "extra_label" else labels[:-1]
        (folder / dm.LABELS_FILE).write_text("\n".join(labels) + "\n")
    elif breakage == "other_clip_length":
        (folder / dm.FRONTEND_FILE).write_text(json.dumps({**frontend, "clip_duration_ms": 500}))
    elif breakage == "bad_json":
        (folder / dm.FRONTEND_FILE).write_text("{not json")
    elif breakage == "no_rate":
        del frontend["sample_rate_hz"]
        (folder / dm.FRONTEND_FILE).write_text(json.dumps(frontend))
    with pytest.raises(dm.ModelFolderError, match=message):
        dm.KeywordModel(str(folder), "int8")


def test_other_rates_are_resampled_or_refused(model, tmp_path):
    t = np.arange(44100) / 44100
    clip = _word("beta", 0.3)
    # The same word at 44.1 kHz: resample the 16 kHz clip by interpolation at the file's times.
    hi = np.interp(t, np.arange(RATE) / RATE, clip)
    path = _write_pcm(tmp_path / "beta_44k.wav", hi, 44100)
    result = infer.run_file(model, str(path), infer.InferOptions())
    assert result.label == "beta" and result.notes == ("resampled 44100 Hz to 16000 Hz",)
    with pytest.raises(wav.AudioInputError, match=r"beta_44k.wav: 44100 Hz, the model takes "
                                                  r"16000 Hz; pass --resample"):
        infer.run_file(model, str(path), infer.InferOptions(resample=False))


def test_stereo_is_mixed_or_refused(model, tmp_path):
    clip = _word("gamma", 0.3)
    stereo = np.stack([clip, 0.5 * clip], axis=1)
    path = _write_pcm(tmp_path / "gamma_stereo.wav", stereo, RATE, channels=2)
    result = infer.run_file(model, str(path), infer.InferOptions())
    assert result.label == "gamma" and result.notes == ("mixed 2 channels to mono",)
    with pytest.raises(wav.AudioInputError, match=r"2 channels, the model takes mono; pass "
                                                  r"--stereo=mix"):
        infer.run_file(model, str(path), infer.InferOptions(stereo="refuse"))


def test_short_clip_is_padded_and_said_so(model, tmp_path):
    path = tmp_path / "alpha_short.wav"
    audio.write_wav(str(path), _word("alpha", 0.2)[:int(0.7 * RATE)], RATE)
    result = infer.run_file(model, str(path), infer.InferOptions(top_k=2))
    assert result.label == "alpha" and len(result.top) == 2
    assert result.notes == ("padded 0.700 s to 1 s with silence",)


@pytest.mark.parametrize("content,message", [
    (b"", r"empty file"),
    ("no_frames", r"holds no samples"),
    ("truncated", r"truncated WAV"),
    (b"RIFF\x00\x00\x00\x00WAVEjunk", r"no fmt chunk|truncated or corrupt"),
    (b"just some text, not audio", r"not a WAV file"),
])
def test_unusable_wav_files_are_refused(model, tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content == "no_frames":
        _write_pcm(path, np.zeros(0), RATE)
    elif content == "truncated":
        audio.write_wav(str(path), _word("alpha"), RATE)
        path.write_bytes(path.read_bytes()[:20000])
    else:
        path.write_bytes(content)
    with pytest.raises(wav.AudioInputError if content == "no_frames" else audio.AudioFileError,
                       match=message):
        infer.run_file(model, str(path), infer.InferOptions())


def test_streaming_model_equals_the_window_model_on_the_same_audio(export_dir):
    window = dm.KeywordModel(str(export_dir), "float")
    stateful = dm.StreamingKeywordModel(str(export_dir), "stream_float")
    hop = stateful.hop_samples
    assert hop == 2 * 320  # DS-CNN's time stride 2 x the 20 ms frame stride
    for i, word in enumerate(demo.DEMO_KEYWORDS):  # whole clips, each from a fresh state
        clip = _word(word, 0.2 + 0.1 * i, seed=i)
        np.testing.assert_allclose(stateful.predict(clip), window.predict(clip), atol=1e-4)
    # Over a stream: after S samples the state holds the frames of the window model's clip
    # x[S - 15840 : S + 160] (a window model leaves its last 160 samples unused).
    x = _recording([("alpha", 1.0), ("gamma", 2.4)], seconds=4.0)
    times, posteriors = stream.model_posteriors(stateful, x)
    assert np.allclose(np.diff(times), 1000 * hop / RATE)
    checked = 0
    for t, p in zip(times, posteriors):
        end = int(round(t * RATE / 1000))
        if end + 160 <= len(x) and end % (5 * hop) == 0:
            np.testing.assert_allclose(p, window.predict(x[end - 15840:end + 160]), atol=1e-4)
            checked += 1
    assert checked >= 4


def test_long_recording_is_streamed_with_the_stateful_model(export_dir, tmp_path):
    events = [("alpha", 1.0), ("delta", 2.6), ("gamma", 4.0), ("gamma", 5.6)]
    path = tmp_path / "long.wav"
    audio.write_wav(str(path), _recording(events, seconds=7.5), RATE)
    m = dm.load_model(str(export_dir), "stream_int8")
    result = infer.run_file(m, str(path), infer.InferOptions())
    found = [(d.label, d.time_ms / 1000) for d in result.detections]
    assert [label for label, _ in found] == ["alpha", "gamma", "gamma"], found
    done = _run_infer(export_dir, "--variant=stream_int8", str(path))
    assert done.returncode == 0, done.stderr
    assert "3 detection(s)" in done.stdout and done.stdout.count("gamma") == 2


@pytest.mark.parametrize("breakage,message", [
    ("no_stream_model", r"stream_int8.tflite is missing: this export has no streaming models"),
    ("no_spec", r"streaming.json is missing"),
    ("bad_spec", r"streaming.json: not a streaming spec"),
    ("other_hop", r"input is \[1, 640\], streaming.json says float32 \[1, 320\]"),
    ("unknown_state", r"missing: conv9_state"),
    ("window_model", r"missing: audio, audio_state"),
])
def test_refuses_broken_streaming_exports(export_dir, tmp_path, breakage, message):
    folder = _broken_copy(export_dir, tmp_path)
    spec_file = folder / dm.STREAMING_FILE
    spec = json.loads(spec_file.read_text())
    if breakage == "no_stream_model":
        (folder / dm.STREAM_INT8_MODEL).unlink()
    elif breakage == "no_spec":
        spec_file.unlink()
    elif breakage == "bad_spec":
        del spec["state_outputs"]
        spec_file.write_text(json.dumps(spec))
    elif breakage == "other_hop":
        spec_file.write_text(json.dumps({**spec, "hop_samples": 320}))
    elif breakage == "unknown_state":
        spec_file.write_text(json.dumps({**spec, "state_inputs": ["conv9_state"]
                                         + spec["state_inputs"][1:]}))
    elif breakage == "window_model":
        shutil.copyfile(folder / dm.INT8_MODEL, folder / dm.STREAM_INT8_MODEL)
    with pytest.raises(dm.ModelFolderError, match=message):
        dm.load_model(str(folder), "stream_int8")


def test_long_recording_is_streamed_into_detections(model, tmp_path):
    events = [("alpha", 1.0), ("delta", 2.6), ("gamma", 4.0), ("gamma", 5.6)]
    path = tmp_path / "long.wav"
    audio.write_wav(str(path), _recording(events, seconds=7.5), RATE)
    result = infer.run_file(model, str(path), infer.InferOptions(hop_ms=40))
    assert isinstance(result, infer.StreamResult) and result.duration_s == pytest.approx(7.5)
    found = [(d.label, d.time_ms / 1000) for d in result.detections]
    assert [label for label, _ in found] == ["alpha", "gamma", "gamma"], found
    # A detection comes after the word has been heard, within a second of its end.
    for (label, time_s), (_, start) in zip(found, [events[0], events[2], events[3]]):
        assert start + 0.2 < time_s < start + demo.WORD_DURATION_S + 1.0, (label, time_s)
    text = infer.format_result(result)
    assert "7.50 s, streamed; 3 detection(s)" in text and text.count("gamma") == 2


def _run_infer(export_dir, *args, env=None):
    return subprocess.run([*INFER, f"--model_dir={export_dir}", *args], capture_output=True,
                          text=True, check=False, env={**os.environ, **(env or {})},
                          cwd=REPO_ROOT, timeout=300)


def test_command_on_clips_and_a_recording(export_dir, tmp_path):
    clip = tmp_path / "c.wav"
    audio.write_wav(str(clip), _word("beta"), RATE)
    long = tmp_path / "long.wav"
    audio.write_wav(str(long), _recording([("alpha", 1.5)], seconds=4), RATE)
    done = _run_infer(export_dir, str(clip), str(long), "--top_k=2", "--variant=float")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{clip}  beta  ") and lines[0].count(", ") == 1
    assert lines[1].startswith(f"{long}: 4.00 s, streamed; 1 detection(s)")
    assert lines[2].split() == ["time_s", "label", "score"]
    time_s, label, score = lines[3].split()
    assert label == "alpha" and 1.7 < float(time_s) < 3.0 and 0.6 <= float(score) <= 1.0


def test_command_scores_a_folder_to_csv_and_reports_bad_files(export_dir, tmp_path):
    folder = tmp_path / "clips"
    for i, word in enumerate(demo.DEMO_KEYWORDS):
        audio.write_wav(str(folder / word / f"{i}.wav"), _word(word, seed=i), RATE)
    (folder / "zz_broken.wav").write_bytes(b"RIFF")
    out = tmp_path / "scores.csv"
    done = _run_infer(export_dir, str(folder), f"--csv={out}")
    assert done.returncode == 1  # one file was unusable
    assert "zz_broken.wav: not a WAV file" in done.stderr and "4 file(s) scored" in done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["label"] for r in rows[:3]] == list(demo.DEMO_KEYWORDS)
    assert all(float(r["score"]) > 0.5 for r in rows[:3])
    assert rows[3]["note"].startswith("error: ") and rows[3]["label"] == ""


def test_command_refuses_bad_usage(export_dir, tmp_path):
    done = _run_infer(export_dir, "--hop_ms=10", "x.wav")
    assert done.returncode != 0 and "hop_ms" in done.stderr
    done = _run_infer(export_dir)
    assert done.returncode == 1 and "give WAV files or folders" in done.stderr
    done = _run_infer(tmp_path / "none", "x.wav")
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "does not exist" in done.stderr


_FAKE_SOUNDDEVICE = '''
import os, signal, threading, time
import numpy as np
class PortAudioError(Exception):
    pass
class InputStream:
    def __init__(self, samplerate, channels, dtype, blocksize, device, callback):
        self.blocksize, self.callback = blocksize, callback
    def __enter__(self):
        # Ctrl-C as in a terminal, also where the tests run with SIGINT ignored (a background job).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        audio = np.load(os.environ["FAKE_MIC_AUDIO"])
        for start in range(0, len(audio), self.blocksize):
            block = audio[start:start + self.blocksize]
            self.callback(block[:, None], len(block), None, "")
        # Ctrl-C a while after the audio is queued (it takes milliseconds to classify).
        threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        return self
    def __exit__(self, *exc):
        return False
'''


def test_command_listens_to_the_microphone_until_ctrl_c(export_dir, tmp_path):
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "sounddevice.py").write_text(_FAKE_SOUNDDEVICE)
    np.save(tmp_path / "mic.npy", _recording([("gamma", 1.0)], seconds=3))
    path = os.pathsep.join([str(tmp_path / "fake"), os.environ.get("PYTHONPATH", "")])
    done = _run_infer(export_dir, "--mic", env={"PYTHONPATH": path,
                                                "FAKE_MIC_AUDIO": str(tmp_path / "mic.npy")})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("listening at 16000 Hz")
    assert lines[2].split()[1] == "gamma" and lines[-1].startswith("stopped after")


_NO_TF = '''
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "tflite_micro"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import numpy as np
from kws.device import cli, detect, infer, mic, model, resample, stream, wav
from kws.export import demo
m = model.KeywordModel(sys.argv[1], "int8")
p = m.predict(demo.tone_word("alpha", np.random.default_rng(0)))
assert m.labels[int(np.argmax(p))] == "alpha", p
heavy = sorted(k for k in sys.modules if k.split(".")[0] in ("tensorflow", "keras"))
assert not heavy, heavy
print("ok")
'''


def test_device_code_never_imports_tensorflow(export_dir):
    done = subprocess.run([sys.executable, "-c", _NO_TF, str(export_dir)], capture_output=True,
                          text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
