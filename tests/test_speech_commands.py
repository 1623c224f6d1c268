"""Dataset layout, splits, label modes and bad input (kws.data.speech_commands)."""

from __future__ import annotations

import math
import os
import wave

import numpy as np
import pytest

from kws import audio
from kws.data import speech_commands as sc


def _write(path, samples=None, rate=16000, channels=1, width=2):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if samples is None:
        samples = (0.1 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        ints = np.round(np.repeat(samples[:, None], channels, 1) * (2 ** (8 * width - 1) - 1))
        w.writeframes(ints.astype(f"<i{width}").tobytes() if width != 3 else
                      b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.ravel()))


def _tree(root, words=("yes", "no", "cat", "dog"), speakers=12, noise=True):
    for w in words:
        for s in range(speakers):
            _write(root / w / f"{s:08x}_nohash_0.wav")
    if noise:
        _write(root / "_background_noise_" / "white.wav",
               np.random.default_rng(0).uniform(-0.1, 0.1, 40000).astype(np.float32))
    return root


def test_v001_sample_follows_official_lists(shared_data):
    root = shared_data / "speech_commands_v0.01_sample"
    index = sc.index_dataset(sc.DataConfig(data_dir=str(root), label_mode="all_words"))
    listed = {}
    for split, name in (("validation", "validation_list.txt"), ("test", "testing_list.txt")):
        listed[split] = set((root / name).read_text().split())
    for split in sc.SPLITS:
        for e in index.splits[split]:
            rel = os.path.relpath(e.path, root).replace(os.sep, "/")
            want = ("validation" if rel in listed["validation"] else
                    "test" if rel in listed["test"] else "train")
            assert want == split, rel
    assert sum(len(v) for v in index.splits.values()) == 300
    assert len(index.labels) == 30


def test_canonical_test_set_hashes_to_test(shared_data):
    """The canonical v0.02 test clips were chosen by the speaker-hash rule at 10 % / 10 %:
    every keyword and unknown clip must land in 'test' under our implementation of that rule."""
    index = sc.index_dataset(sc.DataConfig(data_dir=str(shared_data / "speech_commands_test_v0.02_dev")))
    counts = index.counts()
    for label in index.labels:
        if label != sc.SILENCE_LABEL:
            assert counts["train"][label] == counts["validation"][label] == 0, label
            assert counts["test"][label] > 190
    assert counts["test"][sc.UNKNOWN_LABEL] == len(os.listdir(
        shared_data / "speech_commands_test_v0.02_dev" / "_unknown_"))


def test_speakers_never_cross_splits(shared_data):
    root = shared_data / "speech_commands_v0.01_unknown_words"
    index = sc.index_dataset(sc.DataConfig(data_dir=str(root), label_mode="all_words",
                                           validation_percentage=20, testing_percentage=20))
    owner = {}
    for split in sc.SPLITS:
        for e in index.splits[split]:
            assert owner.setdefault(sc.speaker_id(e.path), split) == split
    sizes = [len(index.splits[s]) for s in sc.SPLITS]
    total = sum(sizes)
    assert abs(sizes[1] / total - 0.2) < 0.05 and abs(sizes[2] / total - 0.2) < 0.05


def test_speaker_id_forms():
    assert sc.speaker_id("yes/0a7c2a8d_nohash_1.wav") == "0a7c2a8d"
    assert sc.speaker_id("_unknown_/backward_0c540988_nohash_0.wav") == "0c540988"
    assert sc.speaker_id("hey_kiwi/abc12345_nohash_3.wav") == "abc12345"


def test_keyword_mode_shares(tmp_path):
    root = _tree(tmp_path, words=("yes", "no", "cat", "dog", "bird"), speakers=40)
    cfg = sc.DataConfig(data_dir=str(root), wanted_words=("yes", "no"), silence_percentage=10,
                        unknown_percentage=25)
    index = sc.index_dataset(cfg)
    assert index.labels == ("_silence_", "_unknown_", "yes", "no")
    for split in sc.SPLITS:
        counts = index.counts()[split]
        keywords = counts["yes"] + counts["no"]
        assert counts["_unknown_"] == math.ceil(keywords * 0.25)
        assert counts["_silence_"] == math.ceil(keywords * 0.10)
        silence = [e for e in index.splits[split] if e.label == "_silence_"]
        assert all(e.path == "" for e in silence)
        unknown_words = {os.path.basename(os.path.dirname(e.path))
                         for e in index.splits[split] if e.label == "_unknown_"}
        assert unknown_words <= {"cat", "dog", "bird"}
    assert len(index.noise_files) == 1
    assert "total" in sc.format_table(index)
    other = sorted(str(p) for w in ("cat", "dog", "bird") for p in (root / w).glob("*.wav"))
    assert sorted(p for s in sc.SPLITS for p in index.unknown_pool[s]) == other
    for split in sc.SPLITS:
        drawn = {e.path for e in index.splits[split] if e.label == "_unknown_"}
        assert drawn <= set(index.unknown_pool[split])
    pool_line = [line for line in sc.format_table(index).splitlines() if "(other words)" in line]
    assert pool_line[0].split()[2:5] == [str(len(index.unknown_pool[s])) for s in sc.SPLITS]


def test_unknown_sampling_is_seeded(tmp_path):
    root = _tree(tmp_path, words=("yes", "cat", "dog"), speakers=30)
    pick = lambda seed: [e.path for e in sc.index_dataset(sc.DataConfig(  # noqa: E731
        data_dir=str(root), wanted_words=("yes",), seed=seed)).splits["train"]]
    assert pick(1) == pick(1)
    assert pick(1) != pick(2)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("not audio at all, just text"), "not a WAV file"),
    (lambda p: _write(p, rate=8000), r"8000 Hz \(need 16000 Hz\)"),
    (lambda p: _write(p, channels=2), r"2 channels \(need mono\)"),
    (lambda p: _write(p, width=3), "24-bit samples"),
    (lambda p: (_write(p), p.write_bytes(p.read_bytes()[:-100])), "truncated WAV"),
    (lambda p: p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt "), "corrupt"),
])
def test_bad_clip_named_with_fix(tmp_path, make, message):
    root = _tree(tmp_path)
    bad = root / "yes" / "bad_nohash_0.wav"
    make(bad)
    with pytest.raises(sc.DatasetError, match=message) as err:
        sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes", "no")))
    assert str(bad) in str(err.value)
    assert "--skip_bad_files" in str(err.value)
    index = sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes", "no"),
                                           skip_bad_files=True))
    assert len(index.skipped) == 1 and str(bad) in index.skipped[0]
    assert "skipped 1 unusable file(s)" in sc.format_table(index)
    assert all(e.path != str(bad) for s in sc.SPLITS for e in index.splits[s])


def test_missing_data_dir(tmp_path):
    with pytest.raises(sc.DatasetError, match="does not exist.*kws synth"):
        sc.index_dataset(sc.DataConfig(data_dir=str(tmp_path / "nope")))


def test_wanted_word_without_folder(tmp_path):
    root = _tree(tmp_path)
    with pytest.raises(sc.DatasetError, match=r"\['stop'\] have no folder.*words there: cat, dog"):
        sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes", "stop")))


def test_empty_label_folder(tmp_path):
    root = _tree(tmp_path)
    (root / "empty").mkdir()
    with pytest.raises(sc.DatasetError, match="empty holds no usable WAV clips"):
        sc.index_dataset(sc.DataConfig(data_dir=str(root), label_mode="all_words"))


def test_no_label_folders(tmp_path):
    with pytest.raises(sc.DatasetError, match="no label folders"):
        sc.index_dataset(sc.DataConfig(data_dir=str(tmp_path)))


def test_missing_noise_folder_is_empty_bank_but_named_folder_must_exist(tmp_path):
    root = _tree(tmp_path, noise=False)
    index = sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes",)))
    assert index.noise_files == ()
    with pytest.raises(sc.DatasetError, match="background noise folder .* does not exist"):
        sc.index_dataset(sc.DataConfig(data_dir=str(root), wanted_words=("yes",),
                                       background_noise_dir=str(tmp_path / "noise")))


@pytest.mark.parametrize("kwargs, match", [
    (dict(label_mode="words"), "unknown label mode 'words'; valid: keywords, all_words"),
    (dict(wanted_words=()), "at least one wanted word"),
    (dict(wanted_words=("yes", "yes")), "repeat"),
    (dict(validation_percentage=60, testing_percentage=40), "must be < 100"),
    (dict(unknown_percentage=-1), "unknown_percentage must be >= 0"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sc.DataConfig(data_dir="x", **kwargs)


def test_written_clip_passes_training_check(tmp_path):
    path = str(tmp_path / "a.wav")
    audio.write_wav(path, np.linspace(-1, 1, 1600), 16000)
    info = audio.check_training_wav(path, 16000)
    assert info.num_frames == 1600 and info.bits_per_sample == 16
    samples = audio.read_clip(path, 16000)
    np.testing.assert_allclose(samples, np.linspace(-1, 1, 1600), atol=1 / 32768 + 1e-6)
