"""kws.device.embedding: the shipped speech-embedding model (kws/pretrained/speech_embedding_head)
streamed hop by hop, on real speakers it never heard, and its bad inputs.

TF-free: CI also runs this file in the device venv (.ci/device_venv.sh). The front-end models come
from tools/install.sh (kws.device.embedding.FRONTEND_CACHE); missing, the tests fail and say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import numpy as np
import pytest

from kws import audio
from kws import pretrained
from kws.device import detect
from kws.device import embedding as emb
from kws.device import infer
from kws.device import loader
from kws.device import model as dm
from kws.device import stream
from kws.device import wav

from conftest import REPO_ROOT, assert_finds_spaced_words, spaced_words
from infer_command import INFER

NAME = "speech_embedding_head"
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
REAL = "speech_commands_test_v0.02_dev"


def _folder() -> pathlib.Path:
    return pathlib.Path(pretrained.model_dir(NAME))


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads((_folder() / "scorecard.json").read_text())


@pytest.fixture(scope="module")
def model() -> emb.EmbeddingKeywordModel:
    return loader.load_model(str(_folder()), "int8")


def _held_out_keyword_clips(shared_data, card: dict) -> list[tuple[str, str]]:
    low, high = card["held_out_real_speakers"]["held_out_hash_percent"]

    def held_out(speaker: str) -> bool:
        digest = hashlib.sha1(f"kws-real-voices:{speaker}".encode()).hexdigest()
        return low <= int(digest, 16) % 10000 / 100.0 < high

    return [(str(p), word) for word in KEYWORDS
            for p in sorted((shared_data / REAL / word).glob("*.wav"))
            if held_out(p.name.split("_nohash_")[0])]


def test_the_shipped_folder_is_complete_and_matches_its_scorecard(card, model):
    folder = _folder()
    names = {p.name for p in folder.iterdir()}
    assert {"labels.txt", "embedding.json", "head.tflite", "detector.json", "scorecard.json",
            "export_report.json"} <= names
    # the front end is not committed: tools/install.sh fetches it
    assert not {emb.MEL_FILE, emb.EMBEDDING_MODEL_FILE} & names
    assert model.labels == ("_unknown_", *KEYWORDS)
    assert card["bytes"]["head"] == (folder / "head.tflite").stat().st_size
    config, data = detect.load_detector_file(str(folder))
    assert data["fa_per_hour_budget"] == card["stream"]["calibrated"]["budget"]
    assert 0 < config.threshold < 1


def test_hop_by_hop_equals_one_call_over_the_whole_audio(shared_data, model):
    # A real clip in noise: every step's posteriors equal the head on the embeddings computed in
    # one go over the whole audio, taking the newest embedding whose audio has been seen.
    rate = model.sample_rate_hz
    rng = np.random.default_rng(1)
    audio = (0.01 * rng.standard_normal(5 * rate)).astype(np.float32)
    clip = wav.load_audio(str(sorted((shared_data / REAL / "yes").glob("*.wav"))[0]), rate).samples
    audio[2 * rate:2 * rate + len(clip)] += clip
    model.reset()
    steps = [model.step(audio[i:i + model.hop_samples])
             for i in range(0, len(audio) - model.hop_samples + 1, model.hop_samples)]
    model.reset()
    seen = model.hop_samples * np.arange(1, len(steps) + 1)
    scored = [i for i, p in enumerate(steps) if p is not None]
    assert scored and seen[scored[0]] >= model.clip_samples > seen[scored[0]] - model.hop_samples
    assert all(steps[i] is not None for i in range(scored[0], len(steps)))
    whole = model.posteriors_of(model.front.embeddings(model.front.mel(audio)))
    ends = emb.embedding_end_samples(len(whole) + model.steps - 1)[model.steps - 1:]
    for i in scored:
        newest = int(np.searchsorted(ends, seen[i], side="right")) - 1
        np.testing.assert_allclose(steps[i], whole[newest], atol=1e-4)


def test_held_out_real_speakers_are_recognised_as_the_scorecard_says(shared_data, card, model):
    every = _held_out_keyword_clips(shared_data, card)
    assert len(every) == card["held_out_real_speakers"]["keyword_clips"]
    clips = every[::3]  # a third of them, every word: the card's figure is on all
    answers = [infer.run_file(model, path, infer.InferOptions()).top[0][0] for path, _ in clips]
    accuracy = np.mean([a == word for a, (_, word) in zip(answers, clips)])
    assert accuracy >= card["held_out_real_speakers"]["keyword_clip_accuracy"] - 0.03, accuracy


def test_the_calibrated_detector_finds_real_keywords_in_a_long_recording(shared_data, card, model):
    # 24 held-out keyword clips, 3 s apart, in light noise, through the calibrated detector.json:
    # it finds about as many as the scorecard's calibrated recall on the 60-minute stream says
    # (two binomial standard deviations of slack), each with its word, never twice on one.
    every = _held_out_keyword_clips(shared_data, card)
    clips = every[5::len(every) // 24][:24]
    x = spaced_words([p for p, _ in clips], model.sample_rate_hz, 3)
    config, _ = detect.load_detector_file(str(_folder()))
    model.reset()
    found = stream.StreamingRecognizer.for_model(model, 80, detect.Detector(model.labels, config)
                                                 ).feed(x)
    assert_finds_spaced_words(found, [w for _, w in clips], 3,
                              card["stream"]["calibrated"]["miss_rate"])


def test_kws_infer_runs_the_shipped_embedding_model_by_name(shared_data, card, model):
    path, word = _held_out_keyword_clips(shared_data, card)[0]
    done = subprocess.run([*INFER, f"--pretrained={NAME}", path], capture_output=True, text=True,
                          check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = infer.run_file(model, path, infer.InferOptions()).top[0][0]
    assert expected in done.stdout.split(path)[1].split()[0], done.stdout
    both = subprocess.run([*INFER, f"--pretrained={NAME}", f"--model_dir={_folder()}", path],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert both.returncode == 1 and "not both" in both.stderr


def _copy(tmp_path) -> pathlib.Path:
    folder = tmp_path / "model"
    shutil.copytree(_folder(), folder)
    return folder


def test_a_missing_front_end_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(emb, "FRONTEND_CACHE", str(tmp_path / "empty"))
    with pytest.raises(dm.ModelFolderError, match="tools/install.sh"):
        loader.load_model(str(_copy(tmp_path)), "int8")


def test_a_front_end_that_is_not_the_expected_one_is_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / emb.MEL_FILE).write_bytes(b"not the mel model")
    with pytest.raises(dm.ModelFolderError, match="SHA-256"):
        loader.load_model(str(folder), "int8")


def test_labels_that_do_not_match_the_head_are_refused(tmp_path):
    folder = _copy(tmp_path)
    (folder / "labels.txt").write_text("_unknown_\nyes\nno\n")
    with pytest.raises(dm.ModelFolderError, match="labels"):
        loader.load_model(str(folder), "int8")


def test_a_broken_embedding_json_and_a_float_variant_are_refused(tmp_path):
    folder = _copy(tmp_path)
    with pytest.raises(dm.ModelFolderError, match="leave out --variant"):
        loader.load_model(str(folder), "float")
    (folder / emb.EMBEDDING_FILE).write_text('{"embeddings": 0}')
    with pytest.raises(dm.ModelFolderError, match="positive integer"):
        loader.load_model(str(folder), "int8")
    (folder / emb.EMBEDDING_FILE).write_text("{")
    with pytest.raises(dm.ModelFolderError, match="not valid JSON"):
        loader.load_model(str(folder), "int8")


def _wheel(path: pathlib.Path, tamper: bool = False) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name in emb.FRONTEND_SHA256:
            data = pathlib.Path(emb.frontend_path(str(path.parent), name)).read_bytes()
            archive.writestr(f"pyopen_wakeword/models/{name}", data + (b"x" if tamper else b""))
    return str(path)


def test_install_frontend_takes_the_models_out_of_the_wheel_and_checks_them(tmp_path):
    written = emb.install_frontend(_wheel(tmp_path / "good.whl"), str(tmp_path / "cache"))
    assert sorted(os.path.basename(p) for p in written) == sorted(emb.FRONTEND_SHA256)
    for path in written:
        assert emb.sha256_of(path) == emb.FRONTEND_SHA256[os.path.basename(path)]
    with pytest.raises(dm.ModelFolderError, match="SHA-256"):
        emb.install_frontend(_wheel(tmp_path / "bad.whl", tamper=True), str(tmp_path / "cache2"))


def test_a_file_a_little_longer_than_the_view_finds_the_word_at_its_start(shared_data, model,
                                                                           tmp_path):
    # A 2.4 s file (streamed: longer than the head's 1.98 s view) whose word ends at ~1.2 s: the
    # head answers 0-400 ms after a word ends, so without the file's lead padding no view would
    # be scored in time; the detection is reported in the file's own time.
    rate = model.sample_rate_hz
    clip = wav.load_audio(str(sorted((shared_data / REAL / "yes").glob("*.wav"))[0]), rate).samples
    x = (0.003 * np.random.default_rng(2).standard_normal(int(2.4 * rate))).astype(np.float32)
    x[int(0.2 * rate):int(0.2 * rate) + len(clip)] += clip
    path = tmp_path / "short.wav"
    audio.write_wav(str(path), x, rate)
    result = infer.run_file(model, str(path), infer.InferOptions())
    assert isinstance(result, infer.StreamResult)
    assert [d.label for d in result.detections] == ["yes"]
    assert 1000 <= result.detections[0].time_ms <= 2400
