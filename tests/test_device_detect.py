"""kws.device.detect, .stream, .resample and .mic with synthetic posteriors and signals (no model).

TF-free: runs in the device venv of .ci/device_venv.sh too.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from kws.device import detect
from kws.device import mic
from kws.device import resample
from kws.device import stream

LABELS = ("_silence_", "_unknown_", "yes", "no")


def _post(**scores) -> np.ndarray:
    """Posteriors with the given labels' scores and the rest spread evenly."""
    p = np.zeros(len(LABELS))
    for label, s in scores.items():
        p[LABELS.index(label)] = s
    rest = [i for i, label in enumerate(LABELS) if label not in scores]
    p[rest] = (1 - sum(scores.values())) / len(rest)
    return p


def _detector(**kwargs) -> detect.Detector:
    config = dict(average_window_ms=300, threshold=0.6, suppression_ms=1000, minimum_count=3)
    return detect.Detector(LABELS, detect.DetectorConfig(**{**config, **kwargs}))


def test_detects_after_minimum_count_and_only_once_while_high():
    d = _detector()
    seq = [(t, _post(yes=0.96)) for t in range(100, 900, 100)]
    found = d.run(seq)
    # Windows end every 100 ms; the third one completes the 3-window average.
    assert [(x.time_ms, x.label) for x in found] == [(300.0, "yes")]
    assert found[0].score == pytest.approx(0.96)


def test_average_is_over_the_window_not_the_last_posterior():
    d = _detector()
    assert d.update(100, _post(yes=0.96)) is None
    assert d.update(200, _post(yes=0.96)) is None
    # One low window pulls the average of (0.96, 0.96, 0.0) to 0.64: still a detection.
    found = d.update(300, _post(_silence_=1.0))
    assert found is not None and found.label == "yes"
    assert found.score == pytest.approx((0.96 + 0.96 + 0.0) / 3)
    np.testing.assert_allclose(d.smoothed[LABELS.index("yes")], 0.64)


def test_window_drops_old_posteriors():
    d = _detector(average_window_ms=250, minimum_count=1, threshold=0.9)
    d.update(100, _post(no=0.5))
    d.update(200, _post(no=0.5))
    d.update(300, _post(no=1.0))
    # 250 ms back from 300 keeps the windows ending at 100 < t <= 300 except 100 (300-250=50 < 100)
    # -> (0.5 + 0.5 + 1.0) / 3; at 400 only 200, 300, 400 remain.
    np.testing.assert_allclose(d.smoothed[LABELS.index("no")], 2.0 / 3)
    d.update(400, _post(no=1.0))
    np.testing.assert_allclose(d.smoothed[LABELS.index("no")], 2.5 / 3)


def test_background_labels_are_never_reported():
    d = _detector()
    assert d.run([(t, _post(_silence_=0.99)) for t in range(100, 2000, 100)]) == []
    assert d.run([(t, _post(_unknown_=0.99)) for t in range(100, 2000, 100)]) == []


def test_suppression_blocks_other_labels_for_its_period():
    d = _detector(suppression_ms=1000)
    seq = [(t, _post(yes=0.96)) for t in (100, 200, 300)]
    seq += [(t, _post(no=0.96)) for t in range(400, 1600, 100)]
    found = d.run(seq)
    # 'no' leads the average from 500 ms on, but fires only once 1000 ms have passed since 300.
    assert [(x.time_ms, x.label) for x in found] == [(300.0, "yes"), (1300.0, "no")]


def test_same_label_fires_again_after_falling_below_threshold():
    d = _detector(suppression_ms=500)
    word = [(t, _post(yes=0.96)) for t in (100, 200, 300, 400)]
    quiet = [(t, _post(_silence_=0.96)) for t in range(500, 1500, 100)]
    again = [(t, _post(yes=0.96)) for t in range(1500, 1900, 100)]
    found = d.run(word + quiet + again)
    # TF's RecognizeCommands would report one 'yes'; re-arming reports both.
    assert [(x.time_ms, x.label) for x in found] == [(300.0, "yes"), (1600.0, "yes")]


def test_still_high_label_does_not_fire_again_after_suppression():
    d = _detector(suppression_ms=500)
    found = d.run([(t, _post(yes=0.96)) for t in range(100, 3000, 100)])
    assert len(found) == 1


def test_bad_updates_are_refused():
    d = _detector()
    d.update(100, _post(yes=0.5))
    with pytest.raises(ValueError, match="time must increase"):
        d.update(100, _post(yes=0.5))
    with pytest.raises(ValueError, match="shape"):
        d.update(200, np.ones(3) / 3)
    with pytest.raises(ValueError, match="threshold"):
        detect.DetectorConfig(threshold=0)


def test_sliding_windows_start_with_the_first_full_window():
    x = np.arange(1, 26, dtype=np.float32)
    windows = list(stream.sliding_windows(x, clip_samples=10, hop_samples=4))
    assert [end for end, _ in windows] == [12, 16, 20, 24]
    np.testing.assert_array_equal(windows[0][1], np.arange(3, 13))
    np.testing.assert_array_equal(windows[-1][1], np.arange(15, 25))
    assert [end for end, _ in stream.sliding_windows(x[:20], 10, 5)] == [10, 15, 20]


class _Recorder:
    """A fake classifier: remembers every window it sees; 'yes' when the window is loud."""

    def __init__(self):
        self.windows = []

    def __call__(self, window):
        self.windows.append(window.copy())
        loud = float(np.sqrt(np.mean(window ** 2))) > 0.1
        return _post(yes=0.97) if loud else _post(_silence_=0.97)


def _burst_signal(rate=1000, seconds=6, bursts=(1.0, 4.0)):
    x = np.zeros(rate * seconds, np.float32)
    for start in bursts:
        x[int(start * rate):int((start + 0.4) * rate)] = 0.5
    return x


@pytest.mark.parametrize("chunk_sizes", [[7], [1, 50, 333], [1000]])
def test_streaming_is_independent_of_chunking(chunk_sizes):
    rate, clip, hop = 1000, 1000, 50
    x = _burst_signal(rate)
    whole = _Recorder()
    whole_found = stream.StreamingRecognizer(whole, clip, hop, rate,
                                             _detector(average_window_ms=200)).feed(x)
    chunked, found, start, i = _Recorder(), [], 0, 0
    rec = stream.StreamingRecognizer(chunked, clip, hop, rate, _detector(average_window_ms=200))
    while start < len(x):
        size = chunk_sizes[i % len(chunk_sizes)]
        found += rec.feed(x[start:start + size])
        start, i = start + size, i + 1
    assert found == whole_found
    assert [d.label for d in found] == ["yes", "yes"]
    assert 1.0 < found[0].time_ms / 1000 < 2.0 and 4.0 < found[1].time_ms / 1000 < 5.0
    expected = [w for _, w in stream.sliding_windows(x, clip, hop)]
    assert len(chunked.windows) == len(expected) == (len(x) - clip) // hop + 1
    for got, want in zip(chunked.windows, expected):
        np.testing.assert_array_equal(got, want)


def test_recognizer_reports_every_window_and_resets():
    seen = []
    rec = stream.StreamingRecognizer(_Recorder(), 100, 20, 1000, _detector(),
                                     on_window=lambda t, p: seen.append(t))
    rec.feed(np.zeros(150, np.float32))
    assert seen == [100.0, 120.0, 140.0] and rec.samples_seen == 140
    rec.reset()
    rec.feed(np.zeros(120, np.float32))
    assert seen[3:] == [100.0, 120.0]
    with pytest.raises(ValueError, match="hop"):
        stream.StreamingRecognizer(_Recorder(), 100, 200, 1000, _detector())


@pytest.mark.parametrize("from_hz,to_hz", [(44100, 16000), (48000, 16000), (8000, 16000),
                                           (22050, 16000), (16000, 44100)])
def test_resample_matches_the_sine_at_the_new_rate(from_hz, to_hz):
    t = np.arange(int(0.5 * from_hz)) / from_hz
    y = resample.resample(np.sin(2 * np.pi * 1000 * t + 0.3), from_hz, to_hz)
    assert len(y) == -(-len(t) * to_hz // from_hz)
    want = np.sin(2 * np.pi * 1000 * np.arange(len(y)) / to_hz + 0.3)
    # Away from the edges, where the filter runs off the signal.
    np.testing.assert_allclose(y[300:-300], want[300:-300], atol=1e-3)


def test_resample_removes_what_the_new_rate_cannot_hold():
    t = np.arange(44100) / 44100
    y = resample.resample(np.sin(2 * np.pi * 11000 * t), 44100, 16000)  # above 8 kHz
    assert np.sqrt(np.mean(y[300:-300] ** 2)) < 1e-3  # a 0.707-RMS tone, attenuated > 57 dB


def test_resample_same_rate_and_bad_input():
    x = np.random.default_rng(0).standard_normal(100)
    np.testing.assert_allclose(resample.resample(x, 16000, 16000), x.astype(np.float32))
    with pytest.raises(ValueError, match="mono"):
        resample.resample(np.zeros((10, 2)), 8000, 16000)


class _FakeInputStream:
    """sounddevice.InputStream stand-in: calls back with ``audio`` in blocks when entered."""

    audio = np.zeros(0, np.float32)
    closed = False

    def __init__(self, samplerate, channels, dtype, blocksize, device, callback):
        assert channels == 1 and dtype == "float32"
        self.blocksize, self.callback = blocksize, callback

    def __enter__(self):
        for start in range(0, len(self.audio), self.blocksize):
            block = self.audio[start:start + self.blocksize]
            self.callback(block[:, None], len(block), None, "input overflow" if start == 0 else "")
        return self

    def __exit__(self, *exc):
        type(self).closed = True
        return False


def _fake_sounddevice(monkeypatch, audio):
    module = types.ModuleType("sounddevice")
    stream_cls = type("InputStream", (_FakeInputStream,), {"audio": audio, "closed": False})
    module.InputStream = stream_cls
    module.PortAudioError = type("PortAudioError", (Exception,), {})
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return stream_cls


def test_mic_stops_cleanly_on_ctrl_c(monkeypatch):
    stream_cls = _fake_sounddevice(monkeypatch, _burst_signal(rate=1000))
    rec = stream.StreamingRecognizer(_Recorder(), 1000, 50, 1000, _detector(average_window_ms=200))
    got, statuses = [], []

    def on_detection(d):
        got.append(d)
        if len(got) == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    count = mic.listen(rec, on_detection, on_status=statuses.append)
    assert count == 2 and [d.label for d in got] == ["yes", "yes"]
    assert stream_cls.closed and statuses == ["input overflow"]


def test_mic_stops_after_seconds(monkeypatch):
    _fake_sounddevice(monkeypatch, np.zeros(500, np.float32))
    rec = stream.StreamingRecognizer(_Recorder(), 1000, 50, 1000, _detector())
    assert mic.listen(rec, lambda d: None, seconds=0.3) == 0
    assert rec.samples_seen == 500


def test_mic_without_sounddevice_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes `import sounddevice` fail
    rec = stream.StreamingRecognizer(_Recorder(), 1000, 50, 1000, _detector())
    with pytest.raises(mic.MicrophoneError, match="pip install sounddevice"):
        mic.listen(rec, lambda d: None)
