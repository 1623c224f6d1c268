"""Word boundaries (kws.data.boundaries): generated clips whose word position is known."""

import json

import numpy as np
import pytest

from kws.data import boundaries

RATE = 16000


def _clip(n, start, end, seed=0, level=0.3, noise=1e-3):
    """Low noise with a 'word' (a tone with a syllable-like envelope) in [start, end)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, noise, n)
    t = np.arange(end - start) / RATE
    envelope = np.sin(np.pi * np.arange(end - start) / (end - start)) ** 0.3
    x[start:end] += level * envelope * np.sin(2 * np.pi * 300 * t)
    return x.astype(np.float32)


@pytest.mark.parametrize("start,end", [(3000, 9000), (100, 4000), (12000, 15900), (6000, 6800)])
def test_word_bounds_find_a_known_word(start, end):
    found = boundaries.word_bounds(_clip(RATE, start, end), RATE)
    # Within one 10 ms frame plus the 20 ms padding on each side.
    tolerance = 160 + 320 + 1
    assert abs(found[0] - start) <= tolerance
    assert abs(found[1] - end) <= tolerance
    assert found[0] <= start and found[1] >= end


def test_a_gap_inside_a_word_is_bridged_but_a_far_second_word_is_not():
    x = _clip(RATE, 2000, 5000)
    x[6000:8000] += _clip(2000, 0, 2000, seed=1)  # 62 ms closure, then more of the same word
    start, end = boundaries.word_bounds(x, RATE)
    assert start <= 2000 and end >= 8000
    far = _clip(2 * RATE, 2000, 5000, level=0.3)
    far[25000:27000] += _clip(2000, 0, 2000, level=0.05)  # quieter, 1.25 s later
    start, end = boundaries.word_bounds(far, RATE)
    assert start <= 2000 and 5000 <= end < 25000


def test_silence_or_steady_noise_gives_the_whole_clip():
    assert boundaries.word_bounds(np.zeros(RATE, np.float32), RATE) == (0, RATE)
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    assert boundaries.word_bounds(noise, RATE) == (0, RATE)


def test_crop_around_centres_a_short_word_and_keeps_the_end_of_a_long_one():
    x = np.arange(3 * RATE, dtype=np.float32)
    cut, (s, e) = boundaries.crop_around(x, (30000, 34000), RATE)
    assert len(cut) == RATE and cut[s] == 30000 and cut[e - 1] == 33999
    assert abs((s + e) / 2 - RATE / 2) <= 1
    cut, (s, e) = boundaries.crop_around(x, (5000, 30000), RATE)
    assert cut[-1] == 29999 and e == RATE and s == 0
    cut, (s, e) = boundaries.crop_around(x, (100, 2000), RATE)  # near the start: clamped
    assert cut[0] == 0 and (s, e) == (100, 2000)
    short = np.ones(8000, np.float32)
    cut, bounds = boundaries.crop_around(short, (10, 20), RATE)
    assert cut is short and bounds == (10, 20)


def test_cache_round_trip_and_staleness(tmp_path):
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"x" * 10)
    path = str(tmp_path / "cache.json")
    cache = boundaries.BoundaryCache(path)
    assert cache.get(str(clip)) is None
    cache.put(str(clip), 5, 9, 16000)
    cache.save()
    again = boundaries.BoundaryCache(path)
    assert again.get(str(clip)) == (5, 9, 16000)
    clip.write_bytes(b"y" * 11)  # another size: the old bounds no longer apply
    assert again.get(str(clip)) is None
    other = boundaries.BoundaryCache(path, boundaries.BoundsConfig(floor_db=20))
    assert len(other) == 0  # bounds of another analysis are not reused


def test_cache_file_that_is_not_a_cache_is_an_error(tmp_path):
    bad = tmp_path / "cache.json"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="delete it"):
        boundaries.BoundaryCache(str(bad))
    bad.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError, match="version"):
        boundaries.BoundaryCache(str(bad))


def test_empty_clip_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        boundaries.word_bounds(np.zeros(0, np.float32), RATE)
