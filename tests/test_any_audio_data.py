"""The data layer on any audio: FLAC and long clips, negative folders, bounds, and bad files."""

import os

import numpy as np
import pytest
import soundfile

from kws import audio
from kws.data import pipeline as pl
from kws.data import speech_commands as sc

RATE = 16000


def _word(n, start, end, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1e-3, n)
    x[start:end] += 0.4 * np.sin(2 * np.pi * 250 * np.arange(end - start) / RATE)
    return x.astype(np.float32)


def _tree(tmp_path, flac_rate=RATE):
    root = tmp_path / "data"
    for word in ("yes", "no", "bed"):
        (root / word).mkdir(parents=True)
        for k in range(6):
            audio.write_wav(str(root / word / f"spk{k}_nohash_0.wav"), _word(RATE, 4000, 9000, k),
                            RATE)
    negatives = tmp_path / "neg"
    (negatives / "ar_one" / "deeper").mkdir(parents=True)
    for k in range(8):
        # 2.5 s FLAC clips, the word late in the clip (a long recording with the word inside).
        soundfile.write(str(negatives / "ar_one" / "deeper" / f"s{k}_nohash_0.flac"),
                        _word(int(2.5 * flac_rate), int(1.6 * flac_rate), int(2.0 * flac_rate), k),
                        flac_rate, subtype="PCM_16")
    return root, negatives


def test_negative_dirs_join_the_unknown_pool_by_speaker(tmp_path):
    root, negatives = _tree(tmp_path)
    config = sc.DataConfig(data_dir=str(root), wanted_words=("yes", "no"),
                           negative_dirs=(str(negatives),), validation_percentage=30,
                           testing_percentage=30)
    index = sc.index_dataset(config)
    flacs = [p for s in sc.SPLITS for p in index.unknown_pool[s] if p.endswith(".flac")]
    assert len(flacs) == 8
    for split in sc.SPLITS:
        for path in index.unknown_pool[split]:
            if path.endswith(".flac"):
                rel = os.path.relpath(path, negatives)
                assert sc.split_of(rel, 30, 30) == split


def test_decode_table_reads_flac_and_cuts_long_clips_around_the_word(tmp_path):
    root, negatives = _tree(tmp_path)
    flac = str(negatives / "ar_one" / "deeper" / "s0_nohash_0.flac")
    wav = str(root / "yes" / "spk0_nohash_0.wav")
    cache = str(tmp_path / "bounds.json")
    table, bounds = pl.decode_table([flac, wav, ""], RATE, RATE, cache)
    want, _ = soundfile.read(flac, dtype="int16")
    start, end = bounds[0]
    # The word (1.6-2.0 s of the file) is inside the 1 s window, and the window is the file's.
    assert 0 <= start < end <= RATE and end - start >= 0.4 * RATE
    offset = int(np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(
        want, 64)[:, :] == table[0, :64], axis=1))[0])
    np.testing.assert_array_equal(table[0], want[offset:offset + RATE])
    assert offset <= int(1.6 * RATE) and offset + RATE >= int(2.0 * RATE)
    wav_int16, _ = soundfile.read(wav, dtype="int16")
    np.testing.assert_array_equal(table[1], wav_int16)  # a 1 s WAV is the same as ever
    assert tuple(bounds[1]) == (0, RATE)  # no bounds asked for short clips
    assert not table[2].any() and tuple(bounds[2]) == (0, 0)
    # all_bounds: every clip analysed, and cached for the next run.
    _, again = pl.decode_table([flac, wav], RATE, RATE, cache, all_bounds=True)
    assert 3500 <= again[1][0] <= 4000 and 9000 <= again[1][1] <= 9500
    from kws.data import boundaries
    assert boundaries.BoundaryCache(cache).get(wav)[:2] == tuple(again[1])


def test_other_rates_need_resample_on_load(tmp_path):
    root, negatives = _tree(tmp_path, flac_rate=22050)
    config = sc.DataConfig(data_dir=str(root), wanted_words=("yes", "no"),
                           negative_dirs=(str(negatives),))
    with pytest.raises(sc.DatasetError, match="22050 Hz.*--resample_on_load"):
        sc.index_dataset(config)
    index = sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes", "no"),
                                           negative_dirs=(str(negatives),),
                                           resample_on_load=True))
    flac = [p for s in sc.SPLITS for p in index.unknown_pool[s] if p.endswith(".flac")][0]
    table, _ = pl.decode_table([flac], RATE, RATE, str(tmp_path / "b.json"))
    assert np.abs(table[0]).max() > 0.3 * 32768  # resampled word, not silence


def test_bad_negative_files_are_clear_errors_or_counted_skips(tmp_path):
    root, negatives = _tree(tmp_path)
    bad = negatives / "ar_one" / "corrupt.flac"
    bad.write_bytes(b"fLaC" + os.urandom(200))
    empty = negatives / "ar_one" / "empty.flac"
    soundfile.write(str(empty), np.zeros(0, np.float32), RATE, subtype="PCM_16")
    config = dict(data_dir=str(root), wanted_words=("yes", "no"), negative_dirs=(str(negatives),))
    with pytest.raises(sc.DatasetError, match="corrupt.flac|empty.flac"):
        sc.index_dataset(sc.DataConfig(**config))
    index = sc.index_dataset(sc.DataConfig(**config, skip_bad_files=True))
    assert len(index.skipped) == 2
    assert any("corrupt.flac" in m for m in index.skipped)
    assert any("empty.flac" in m and ("no samples" in m or "empty" in m) for m in index.skipped)


def test_missing_or_empty_negative_folder(tmp_path):
    root, _ = _tree(tmp_path)
    with pytest.raises(sc.DatasetError, match="does not exist"):
        sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes",),
                                       negative_dirs=(str(tmp_path / "nope"),)))
    (tmp_path / "void").mkdir()
    with pytest.raises(sc.DatasetError, match="no usable audio"):
        sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes",),
                                       negative_dirs=(str(tmp_path / "void"),)))


def test_noise_file_shorter_than_a_window_is_an_error(tmp_path):
    root, _ = _tree(tmp_path)
    noise = root / sc.BACKGROUND_NOISE_DIR
    noise.mkdir()
    soundfile.write(str(noise / "short.flac"), np.zeros(RATE // 2, np.float32), RATE,
                    subtype="PCM_16")
    index = sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes",)))
    assert index.noise_files == (str(noise / "short.flac"),)  # FLAC noise is read too
    with pytest.raises(sc.DatasetError, match="shorter than one clip"):
        pl.load_noise(index, RATE, RATE)
