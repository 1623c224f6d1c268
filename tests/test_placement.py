"""Stream placement of training windows (kws.data.placement), checked against numpy."""

import os

import numpy as np
import pytest
import tensorflow as tf

from kws.data import placement

N, BLOCK, RATE = 16000, 16, 16000
UNKNOWN, SILENCE, KEYWORD = 1, 0, 2


def test_shift_rows_matches_numpy():
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(5, N)).astype(np.float32)
    shifts = np.array([0, 3, -7, 1000, -1000])
    out = placement.shift_rows(tf.constant(audio), tf.constant(shifts), BLOCK).numpy()
    for row, s in zip(range(5), shifts):
        want = np.zeros(N, np.float32)
        d = s * BLOCK
        if d >= 0:
            want[d:] = audio[row, :N - d] if d < N else []
        else:
            want[:N + d] = audio[row, -d:]
        np.testing.assert_array_equal(out[row], want)


def _batch(rows=400):
    rng = np.random.default_rng(1)
    starts = rng.integers(0, 6000, rows)
    lengths = rng.integers(3000, 9000, rows)
    bounds = np.stack([starts, starts + lengths], 1).astype(np.int32)
    labels = np.array([KEYWORD, UNKNOWN, SILENCE, KEYWORD + 1] * (rows // 4), np.int32)
    audio = np.zeros((rows, N), np.float32)
    for i, (s, e) in enumerate(bounds):
        audio[i, s:e] = 1.0  # the word is where the ones are
    return audio, bounds, labels


def _place(config, seed=(3, 4)):
    audio, bounds, labels = _batch()
    keyword = labels >= KEYWORD
    placed, new_labels, new_bounds = placement.place_batch(
        tf.constant(audio), tf.constant(bounds), tf.constant(labels), tf.constant(keyword),
        UNKNOWN, config, RATE, BLOCK, tf.constant(seed, tf.int64))
    return audio, bounds, labels, placed.numpy(), new_labels.numpy(), new_bounds.numpy()


def test_keywords_end_in_the_last_part_of_the_window():
    config = placement.PlacementConfig(end_aligned=True, end_min_ms=20, end_max_ms=250)
    audio, bounds, labels, placed, new_labels, new_bounds = _place(config)
    keyword = labels >= KEYWORD
    np.testing.assert_array_equal(new_labels, labels)
    gap = N - new_bounds[keyword, 1]
    assert gap.min() >= 20 * 16 - BLOCK / 2 and gap.max() <= 250 * 16 + BLOCK / 2
    assert gap.std() > 1000  # jittered, not one offset
    # The samples moved with the bounds: the word's ones are now exactly at the new bounds.
    for i in np.flatnonzero(keyword)[:20]:
        s, e = new_bounds[i]
        assert placed[i, max(s, 0):e].min() == 1.0 and placed[i].sum() == min(e, N) - max(s, 0)


def test_partial_words_never_hold_the_whole_keyword_and_become_unknown():
    config = placement.PlacementConfig(end_aligned=True, partial_probability=0.5,
                                       partial_min=0.25, partial_max=0.65)
    audio, bounds, labels, placed, new_labels, new_bounds = _place(config)
    keyword = labels >= KEYWORD
    partial = keyword & (new_labels == UNKNOWN)
    assert 0.35 < partial.sum() / keyword.sum() < 0.65
    assert np.all(new_bounds[partial, 1] > N)  # the end is past the window: cut inside the word
    heard = (N - new_bounds[partial, 0]) / (bounds[partial, 1] - bounds[partial, 0])
    assert heard.min() > 0.25 - 0.01 and heard.max() <= 0.65
    for i in np.flatnonzero(partial):  # what is in the window is the onset only
        assert placed[i].sum() == N - new_bounds[i, 0] < bounds[i, 1] - bounds[i, 0]
    whole = keyword & ~partial
    assert np.all(new_bounds[whole, 1] <= N)


def test_negatives_anywhere_whole_and_silence_unmoved():
    config = placement.PlacementConfig(end_aligned=True)
    audio, bounds, labels, placed, new_labels, new_bounds = _place(config)
    unknown = labels == UNKNOWN
    assert np.all(new_bounds[unknown, 0] >= -BLOCK / 2) and np.all(new_bounds[unknown, 1] <= N + 8)
    assert new_bounds[unknown, 0].std() > 1000
    silence = labels == SILENCE
    np.testing.assert_array_equal(placed[silence], audio[silence])


def test_placement_is_deterministic_for_a_seed():
    config = placement.PlacementConfig(end_aligned=True, partial_probability=0.3)
    a = _place(config, (1, 2))[3]
    b = _place(config, (1, 2))[3]
    c = _place(config, (1, 3))[3]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kwargs", [dict(end_min_ms=300, end_max_ms=200),
                                    dict(end_aligned=False, partial_probability=0.2),
                                    dict(end_aligned=True, partial_max=1.0)])
def test_bad_configs_are_refused(kwargs):
    with pytest.raises(ValueError):
        placement.PlacementConfig(**kwargs)


def test_training_batches_of_the_pipeline_turn_partial_words_into_unknown(tmp_path):
    from kws import audio
    from kws import frontend
    from kws.data import augment
    from kws.data import pipeline as pl
    from kws.data import speech_commands as sc

    rng = np.random.default_rng(0)
    for word in ("yes", "no", "bed"):
        (tmp_path / word).mkdir()
        for k in range(10):
            x = rng.normal(0, 1e-3, N)
            x[5000:9000] += 0.3 * np.sin(np.arange(4000) * 0.1)
            audio.write_wav(str(tmp_path / word / f"s{k}_nohash_0.wav"), x.astype(np.float32), N)
    index = sc.index_dataset(sc.DataConfig(data_dir=str(tmp_path), wanted_words=("yes", "no"),
                                           validation_percentage=0, testing_percentage=0,
                                           unknown_percentage=50))
    unknown_id = index.labels.index(sc.UNKNOWN_LABEL)
    quiet = augment.AugmentConfig(background_frequency=0, gain_db=0, time_masks=0, freq_masks=0)
    pipe = pl.PipelineConfig(batch_size=64, bounds_cache=str(tmp_path / "bounds.json"))

    def labels(placing):
        ds = pl.make_dataset(index, "train", frontend.FrontendConfig(), pipe, quiet,
                             placing=placing)
        return np.concatenate([y.numpy() for _, y in ds])

    original = np.array(index.label_ids("train"))
    all_partial = placement.PlacementConfig(end_aligned=True, partial_probability=1.0)
    got = labels(all_partial)
    keywords_or_unknown = [unknown_id, index.labels.index("yes"), index.labels.index("no")]
    assert np.sum(got == unknown_id) == np.isin(original, keywords_or_unknown).sum() > 0
    assert np.sum(got == index.labels.index("yes")) == 0
    assert sorted(labels(placement.PlacementConfig(end_aligned=True))) == sorted(original)
    assert os.path.isfile(tmp_path / "bounds.json")  # every clip's bounds, cached


def test_reverse_keywords_flips_and_relabels_only_keyword_rows():
    rng = np.random.default_rng(3)
    audio = rng.normal(size=(400, N)).astype(np.float32)
    labels = np.array([KEYWORD, UNKNOWN, SILENCE, KEYWORD + 1] * 100, np.int32)
    keyword = labels >= KEYWORD
    out, new, flip = (t.numpy() for t in placement.reverse_keywords(
        tf.constant(audio), tf.constant(labels), tf.constant(keyword), UNKNOWN, 0.3,
        tf.constant([5, 6], tf.int64)))
    assert not flip[~keyword].any()
    assert 0.2 < flip[keyword].mean() < 0.4  # about the probability asked
    np.testing.assert_array_equal(out[flip], audio[flip][:, ::-1])
    np.testing.assert_array_equal(out[~flip], audio[~flip])
    np.testing.assert_array_equal(new, np.where(flip, UNKNOWN, labels))
    bounds = np.tile(np.array([[1000, 5000]], np.int32), (400, 1))
    mirrored = placement.mirror_bounds(tf.constant(bounds), tf.constant(flip), N).numpy()
    np.testing.assert_array_equal(mirrored[flip], np.tile([[N - 5000, N - 1000]], (flip.sum(), 1)))
    np.testing.assert_array_equal(mirrored[~flip], bounds[~flip])


@pytest.mark.parametrize("kw,message", [
    (dict(reversed_probability=1.5), "reversed_probability must be in"),
    (dict(end_aligned=True, partial_probability=0.6, reversed_probability=0.6), "must be <= 1")])
def test_reversed_probability_is_checked(kw, message):
    with pytest.raises(ValueError, match=message):
        placement.PlacementConfig(**kw)
