"""kws.stream_eval.recording / truth: long recordings from tone clips, checked from the outside.

Placement, levels and SNR are measured independently of the generator: each inserted clip is read
again from its file, its gain is fitted by least squares on the recording, and what is left is the
noise under it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from kws import audio
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.stream_eval import recording as rec
from kws.stream_eval import truth

from conftest import make_tone_dataset

RATE = 16000
LABELS = ("_silence_", "_unknown_", "alpha", "beta")
CONFIG = rec.RecordingConfig(duration_s=60.0, seed=3, snr_db=(5.0, 10.0, 20.0), mean_gap_s=2.5,
                             unknown_share=0.3)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_tone_dataset(tmp_path_factory.mktemp("stream") / "tones", speakers=12)


@pytest.fixture(scope="module")
def pools(data_dir):
    return rec.clip_pools(sc.DataConfig(data_dir=str(data_dir)), "all", ("alpha", "beta"))


@pytest.fixture(scope="module")
def made(pools):
    return rec.make_recording(pools, pools.noise, RATE, CONFIG)


def _clip_and_start(event):
    """The event's clip float64, read again from its file, and its stated start sample."""
    return (audio.read_clip(event.source, RATE).astype(np.float64),
            int(round(event.clip_start_s * RATE)))


def _residual(samples, clip, at):
    """(gain, residual): the least-squares gain of ``clip`` at sample ``at``, and what is left."""
    segment = samples[at:at + len(clip)].astype(np.float64) / 32768.0
    gain = segment @ clip / (clip @ clip)
    return gain, segment - gain * clip


def _db(power):
    return 10 * np.log10(power)


def test_pools_split_keywords_and_other_words(pools, data_dir):
    assert sorted(pools.keywords) == ["alpha", "beta"]
    assert all(len(p) == 12 for p in pools.keywords.values())
    assert len(pools.unknown) == 12 and all("/gamma/" in p for p in pools.unknown)
    assert len(pools.noise) == 1
    with pytest.raises(UserError, match="no clips of the model's keyword"):
        rec.clip_pools(sc.DataConfig(data_dir=str(data_dir)), "all", ("alpha", "delta"))


def test_same_seed_same_bytes(pools, made, tmp_path):
    again = rec.make_recording(pools, pools.noise, RATE, CONFIG)
    for name, r in (("a", made), ("b", again)):
        rec.write_recording(r, str(tmp_path / f"{name}.wav"), str(tmp_path / f"{name}.csv"))
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    other = rec.make_recording(pools, pools.noise, RATE, dataclasses.replace(CONFIG, seed=4))
    assert not np.array_equal(other.samples, made.samples)


def test_events_do_not_overlap_and_fit_the_recording(made):
    events = made.events
    assert len(made.samples) == 60 * RATE and made.samples.dtype == np.int16
    assert len(events) >= 8
    assert {e.label for e in events} == {"alpha", "beta", "_unknown_"}
    assert events[0].clip_start_s >= CONFIG.lead_in_s
    assert events[-1].clip_end_s <= CONFIG.duration_s - CONFIG.tail_s
    for a, b in zip(events, events[1:]):
        assert b.clip_start_s - a.clip_end_s >= CONFIG.min_gap_s - 1 / RATE
    for e in events:
        assert e.clip_start_s <= e.start_s < e.end_s <= e.clip_end_s
        assert e.snr_db in CONFIG.snr_db
        assert ("/gamma/" in e.source) == (e.label == "_unknown_")
        if e.label != "_unknown_":
            assert f"/{e.label}/" in e.source


def test_clips_are_where_the_ground_truth_says(made):
    for e in made.events:
        clip, at = _clip_and_start(e)
        # The clip, unscaled, cancels at the stated offset better than at any other nearby.
        gain, _ = _residual(made.samples, clip, at)
        assert gain == pytest.approx(1.0, abs=0.02), e
        shifts = np.arange(-10, 11)
        left = [np.mean(_residual(made.samples, clip, at + k)[1] ** 2) for k in shifts]
        assert shifts[np.argmin(left)] == 0, e
        # The word's span: where the tones are (|x| > 0.1; the clip's own noise is 0.01 RMS), to
        # within one 10 ms analysis frame.
        loud = np.nonzero(np.abs(clip) > 0.1)[0]
        onset, offset = (at + loud[0]) / RATE, (at + loud[-1] + 1) / RATE
        assert onset - 0.0101 <= e.start_s <= onset, (e, onset)
        assert offset <= e.end_s <= offset + 0.0101, (e, offset)


def test_snr_is_what_was_asked(made):
    for e in made.events:
        clip, at = _clip_and_start(e)
        gain, residual = _residual(made.samples, clip, at)
        lo, hi = int(round(e.start_s * RATE)) - at, int(round(e.end_s * RATE)) - at
        snr = _db(np.mean((gain * clip[lo:hi]) ** 2) / np.mean(residual[lo:hi] ** 2))
        assert snr == pytest.approx(e.snr_db, abs=0.5), e


def test_noise_level_follows_the_events(made):
    """Flat under each clip (at the level its SNR needs), moving from one level to the next in
    the gaps; measured on the recording minus the clips."""
    x = made.samples.astype(np.float64) / 32768.0
    levels, spans = [], []
    for e in made.events:
        clip, at = _clip_and_start(e)
        _, residual = _residual(made.samples, clip, at)
        lo, hi = int(round(e.start_s * RATE)) - at, int(round(e.end_s * RATE)) - at
        levels.append(_db(np.mean(residual ** 2)))
        assert _db(np.mean(residual[lo:hi] ** 2)) == pytest.approx(levels[-1], abs=1.0), e
        spans.append((at, at + len(clip)))
    edge = RATE // 20  # 50 ms
    assert _db(np.mean(x[:edge] ** 2)) == pytest.approx(levels[0], abs=1.0)
    assert _db(np.mean(x[-edge:] ** 2)) == pytest.approx(levels[-1], abs=1.0)
    for (_, end), (start, _), before, after in zip(spans, spans[1:], levels, levels[1:]):
        assert _db(np.mean(x[end:end + edge] ** 2)) == pytest.approx(before, abs=1.0)
        assert _db(np.mean(x[start - edge:start] ** 2)) == pytest.approx(after, abs=1.0)
        middle = _db(np.mean(x[(end + start) // 2 - edge:(end + start) // 2 + edge] ** 2))
        assert min(before, after) - 1.0 <= middle <= max(before, after) + 1.0


def test_a_mix_that_would_clip_is_clipped_at_full_scale_not_scaled(pools):
    loud = rec.make_recording(pools, pools.noise, RATE, dataclasses.replace(CONFIG, snr_db=(-5.0,)))
    pcm = loud.samples.astype(np.int64)
    at_full_scale = int(np.count_nonzero((pcm == 32767) | (pcm == -32768)))
    assert loud.clipped_samples > 0 and at_full_scale >= loud.clipped_samples
    for e in loud.events[:3]:
        clip, at = _clip_and_start(e)
        gain, residual = _residual(loud.samples, clip, at)
        assert 20 * np.log10(gain) == pytest.approx(0.0, abs=0.6)  # own level; fit in clipped noise
        lo, hi = int(round(e.start_s * RATE)) - at, int(round(e.end_s * RATE)) - at
        snr = _db(np.mean((gain * clip[lo:hi]) ** 2) / np.mean(residual[lo:hi] ** 2))
        assert snr == pytest.approx(-5.0, abs=0.5)
    assert rec.make_recording(pools, pools.noise, RATE, CONFIG).clipped_samples == 0


def test_write_and_read_back(made, tmp_path):
    wav, csv_path = str(tmp_path / "r.wav"), str(tmp_path / "r.csv")
    rec.write_recording(made, wav, csv_path)
    back = rec.read_recording(wav, csv_path, LABELS, RATE)
    np.testing.assert_array_equal(back.samples, made.samples)
    assert len(back.events) == len(made.events)
    for a, b in zip(back.events, made.events):
        assert (a.label, a.source, a.snr_db) == (b.label, b.source, b.snr_db)
        for name in ("start_s", "end_s", "clip_start_s", "clip_end_s"):
            assert getattr(a, name) == pytest.approx(getattr(b, name), abs=1e-7)


def test_active_span():
    x = np.zeros(8000, np.float32)
    x[1234:4321] = 0.5
    lo, hi = rec.active_span(x, RATE)
    assert (lo, hi) == (1120, 4480)  # the 10 ms (160-sample) frames holding the burst
    assert rec.active_span(np.ones(50, np.float32), RATE) == (0, 50)


def test_refusals(pools, tmp_path):
    with pytest.raises(UserError, match="no room for a clip"):
        rec.make_recording(pools, pools.noise, RATE, dataclasses.replace(CONFIG, duration_s=3.5))
    with pytest.raises(UserError, match="unknown_share=0"):
        rec.make_recording(dataclasses.replace(pools, unknown=()), pools.noise, RATE, CONFIG)
    with pytest.raises(UserError, match="noise_dir"):
        rec.make_recording(pools, (), RATE, CONFIG)
    with pytest.raises(ValueError, match="duration_s"):
        rec.RecordingConfig(duration_s=2.0)


def _csv(tmp_path, text):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, message", [
    ("start_s,label\n1,alpha\n", "missing column\\(s\\) end_s"),
    ("", "empty file"),
    ("start_s,end_s,label\n1,x,alpha\n", "line 2: end_s 'x' is not a number"),
    ("start_s,end_s,label\n1,2,alpha\n0.5,0.8,beta\n", "line 3: starts at 0.5 s, before"),
    ("start_s,end_s,label\n1,2,alpha\n1.5,2.5,beta\n", "line 3: 1.5-2.5 s overlaps"),
    ("start_s,end_s,label\n1,2,hello\n", "line 2: label 'hello' is not a label of the model"),
    ("start_s,end_s,label\n2,1,alpha\n", "line 2: end_s 1 is not after start_s 2"),
    ("start_s,end_s,label\n-1,1,alpha\n", "line 2: start_s -1 is negative"),
    ("start_s,end_s,label\n1,2,alpha\n50,61,beta\n", "line 3: ends at 61 s, after the end"),
    ("start_s,end_s,label\n1,2\n", "line 2: 2 fields"),
])
def test_labels_csv_is_checked(tmp_path, text, message):
    path = _csv(tmp_path, text)
    with pytest.raises(UserError, match=message) as error:
        truth.read_csv(path, LABELS, duration_s=60.0)
    assert path in str(error.value)


def test_labels_csv_accepts_extra_columns_and_unknown(tmp_path):
    path = _csv(tmp_path, "label,start_s,end_s,note\nalpha,1,2,x\n_unknown_,3,4,\n\n")
    events = truth.read_csv(path, ("_silence_", "alpha"), duration_s=10.0)
    assert events == (truth.Event(start_s=1.0, end_s=2.0, label="alpha"),
                      truth.Event(start_s=3.0, end_s=4.0, label="_unknown_"))
    with pytest.raises(UserError, match="no such labels file"):
        truth.read_csv(str(tmp_path / "missing.csv"), LABELS)


def test_recording_wav_is_checked(tmp_path):
    csv_path = _csv(tmp_path, "start_s,end_s,label\n")
    wav = str(tmp_path / "r.wav")
    audio.write_wav(wav, np.zeros(3 * 8000, np.float32), 8000)
    with pytest.raises(UserError, match="8000 Hz \\(need 16000 Hz\\)"):
        rec.read_recording(wav, csv_path, LABELS, RATE)
    audio.write_wav(wav, np.zeros(8000, np.float32), RATE)
    with pytest.raises(UserError, match="shorter than one model window"):
        rec.read_recording(wav, csv_path, LABELS, RATE, min_samples=RATE)
    with pytest.raises(UserError, match="no such recording"):
        rec.read_recording(str(tmp_path / "none.wav"), csv_path, LABELS, RATE)
