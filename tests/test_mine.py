"""Hard-negative mining (kws.training.mine) with a stand-in model whose firing is known."""

import csv
import json

import numpy as np
import pytest

from kws import audio
from kws.stream_eval import sources
from kws.training import mine

RATE, WINDOW, HOP = 16000, 16000, 640


class LoudnessModel:
    """'yes' = the peak |sample| of the last second; fires exactly on loud clips."""

    labels = ("_silence_", "_unknown_", "yes", "no")
    sample_rate_hz, clip_samples, hop_samples = RATE, WINDOW, HOP
    description = "loudness stand-in"

    def __init__(self, fail_after=None):
        self.calls, self.fail_after = 0, fail_after

    def posteriors(self, samples):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")
        ends = sources.window_ends(len(samples), WINDOW, HOP)
        peak = np.array([np.abs(samples[e - WINDOW:e]).max() / 32768.0 for e in ends])
        post = np.zeros((len(ends), 4), np.float32)
        post[:, 2] = peak
        post[:, 1] = 1 - peak
        return 1000.0 * ends / RATE, post


def _clips(tmp_path, levels):
    paths = []
    for k, level in enumerate(levels):
        x = np.zeros(RATE, np.float32)
        x[6000:7000] = level * np.sin(np.arange(1000) * 0.3)
        path = tmp_path / "neg" / f"spk{k}_nohash_0.wav"
        path.parent.mkdir(exist_ok=True)
        audio.write_wav(str(path), x, RATE)
        paths.append(str(path))
    return paths


def test_mining_writes_exactly_the_windows_that_fired(tmp_path):
    levels = [0.9, 0.1, 0.7, 0.2, 0.95, 0.3]
    clips = _clips(tmp_path, levels)
    out = tmp_path / "mined"
    written = mine.mine(clips, LoudnessModel(), str(out), mine.MineConfig(threshold=0.5,
                                                                          chunk_clips=2))
    fired = {c for c, lv in zip(clips, levels) if lv >= 0.5}
    assert {w["source"] for w in written} == fired
    assert [w["score"] for w in written] == sorted((w["score"] for w in written), reverse=True)
    for w in written:
        samples, rate = audio.read_wav(str(out / w["file"]))
        assert rate == RATE and len(samples) == WINDOW
        assert np.abs(samples).max() == pytest.approx(w["score"], abs=2e-4)  # the burst inside
        source_speaker = w["source"].split("/")[-1].split("_nohash_")[0]
        assert w["file"].startswith(source_speaker + "_nohash_mined")
    rows = list(csv.DictReader(open(out / mine.MANIFEST_FILE)))
    assert [r["file"] for r in rows] == [w["file"] for w in written]


def test_budget_keeps_the_highest_scoring_windows(tmp_path):
    clips = _clips(tmp_path, [0.6, 0.9, 0.7, 0.8])
    written = mine.mine(clips, LoudnessModel(), str(tmp_path / "m"),
                        mine.MineConfig(threshold=0.5, max_windows=2))
    assert [round(w["score"], 2) for w in written] == [0.9, 0.8]


def test_a_killed_run_resumes_without_rescoring(tmp_path):
    clips = _clips(tmp_path, [0.9, 0.1, 0.7, 0.2, 0.95, 0.3])
    out = tmp_path / "mined"
    config = mine.MineConfig(threshold=0.5, chunk_clips=2)
    with pytest.raises(KeyboardInterrupt):
        mine.mine(clips, LoudnessModel(fail_after=3), str(out), config)
    assert json.loads((out / mine.STATE_FILE).read_text())["done"] == 2
    model = LoudnessModel()
    resumed = mine.mine(clips, model, str(out), config)
    assert model.calls == 4  # only the clips not scored before the kill
    fresh = mine.mine(clips, LoudnessModel(), str(tmp_path / "fresh"), config)
    assert [(w["source"], w["score"]) for w in resumed] == [(w["source"], w["score"])
                                                           for w in fresh]
    with pytest.raises(mine.UserError, match="other settings"):
        mine.mine(clips, LoudnessModel(), str(out), mine.MineConfig(threshold=0.6))


def test_fired_window_and_bad_config():
    post = np.array([[0.9, 0.05, 0.05, 0.0], [0.1, 0.1, 0.6, 0.2]], np.float32)
    assert mine.fired_window(np.array([40.0, 80.0]), post, [2, 3], 0.5) == (1, pytest.approx(0.6),
                                                                             2)
    assert mine.fired_window(np.array([40.0, 80.0]), post, [2, 3], 0.7) is None
    with pytest.raises(ValueError):
        mine.MineConfig(threshold=0)
