"""`kws head`: a head on the speech-embedding front end trained on recordings of a folder-per-word
tree (here the tone dataset) exports and runs like any other; a killed run continues without
making its recordings or finished rounds again; several seeds give their mean's detector; bad
trees, words, flags and a missing front end end in one line before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kws.device import embedding as emb
from kws.head import recipe as hr
from kws.head import streams as hs
from kws.head import trainer as sh

TINY = ["--train_streams=2", "--train_minutes=1", "--validation_minutes=2", "--epochs=3",
        "--mining_streams=1", "--fa_per_hour=1000", "--validation_confusables=0", "--hidden=16"]


def _kws_head(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kws.cli", "head", *args], capture_output=True,
                          text=True, check=False, timeout=600, env=env)


def test_two_seeds_train_export_and_run_on_the_device(tmp_path, tone_dataset):
    out = tmp_path / "head"
    done = _kws_head(f"--data_dir={tone_dataset}", "--wanted_words=alpha", f"--output_dir={out}",
                     "--seeds=0,1", *TINY)
    assert done.returncode == 0, done.stderr
    heads = [out / "seed_0", out / "seed_1"]
    with open(out / "ensemble.json", encoding="utf-8") as f:
        assert json.load(f)["heads"] == [str(h) for h in heads]
    for head in heads:
        with open(head / "head.json", encoding="utf-8") as f:
            meta = json.load(f)
        assert meta["labels"] == ["_unknown_", "alpha"] and meta["embeddings"] == sh.VIEW
        assert meta["frontend"] == emb.FRONTEND_WHEEL and "workdir" not in meta
        with open(head / "train_report.json", encoding="utf-8") as f:
            report = json.load(f)
        assert len(report["rounds"]) == 2  # round 0 and one mining round
        # Tones are easy: at 1000 FA/h the head finds most `alpha`s of the validation voices.
        assert report["calibrated"]["calibration_stream"]["miss_rate"] <= 0.5, report["calibrated"]
    assert (out / "detector.json").is_file()

    from kws.export import embedding_head  # pylint: disable=import-outside-toplevel
    exported = embedding_head.export(str(out), str(tmp_path / "export"))
    assert exported["heads"] == [str(h) for h in heads]
    assert exported["parity"]["max_abs_posterior_difference"] < 0.05
    model = emb.EmbeddingKeywordModel(str(tmp_path / "export"))
    assert model.labels == ("_unknown_", "alpha")
    clip = np.zeros(16000, np.float32)
    assert model.predict(clip).shape == (2,)

    again = _kws_head(f"--data_dir={tone_dataset}", "--wanted_words=alpha",
                      f"--output_dir={out}", "--seeds=0,1", *TINY)
    assert again.returncode == 0, again.stderr
    assert "embedded in" not in again.stdout and "epoch 1:" not in again.stdout

    other = _kws_head(f"--data_dir={tone_dataset}", "--wanted_words=alpha", f"--output_dir={out}",
                      "--seeds=0,1", *TINY, "--epochs=4")
    assert other.returncode == 1
    assert "--epochs" in other.stderr and "another --output_dir" in other.stderr


def test_a_killed_run_continues_from_its_recordings_and_rounds(tmp_path, tone_dataset):
    data = hr.HeadData(data_dir=str(tone_dataset), words=("alpha",))
    plan = hr.StreamPlan(train_streams=1, train_minutes=1.0, validation_minutes=2.0,
                         mining_rounds=1, mining_streams=1)
    recipe = sh.HeadRecipe(keywords=("alpha",), hidden=8, epochs=2, fa_per_hour=1000.0)
    out, cache = tmp_path / "head", tmp_path / "cache"

    def run():
        return hr.train(data, plan, [recipe], str(out), str(cache),
                        lambda: hs.DeviceEmbedder(threads=1), {"frontend": "test"})
    run()
    recordings = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    round0 = (out / "rounds" / "0" / "head.weights.h5").stat().st_mtime_ns
    for name in ("train_report.json", "head.keras", "detector.json"):  # killed in round 1
        os.remove(out / name)
    for name in os.listdir(out / "rounds" / "1"):
        os.remove(out / "rounds" / "1" / name)
    done = run()
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == recordings
    assert (out / "rounds" / "0" / "head.weights.h5").stat().st_mtime_ns == round0
    assert (out / "rounds" / "1" / "head.weights.h5").is_file()
    assert done["heads"] == [str(out)] and (out / "detector.json").is_file()


@pytest.mark.parametrize("case", ["no_tree", "unknown_word", "no_noise", "bad_seeds",
                                  "no_frontend", "extra_missing"])
def test_bad_input_ends_in_one_line_before_anything_is_written(tmp_path, tone_dataset, case):
    out = tmp_path / "head"
    args = {"data_dir": str(tone_dataset), "wanted_words": "alpha", "output_dir": str(out)}
    env = dict(os.environ)
    if case == "no_tree":
        args["data_dir"] = str(tmp_path / "missing")
    elif case == "unknown_word":
        args["wanted_words"] = "alpha,omega"
    elif case == "no_noise":
        args["noise_dirs"] = str(tmp_path / "no_noise")
    elif case == "bad_seeds":
        args["seeds"] = "0,x"
    elif case == "no_frontend":
        env["KWS_SPEECH_EMBEDDING_DIR"] = str(tmp_path / "empty")
    elif case == "extra_missing":
        args["extra_negative_dirs"] = str(tmp_path / "nowhere")
    done = _kws_head(*[f"--{k}={v}" for k, v in args.items()], env=env)
    expected = {"no_tree": "does not exist", "unknown_word": "omega", "no_noise": "no_noise",
                "bad_seeds": "--seeds", "no_frontend": "speech-embedding front end",
                "extra_missing": "nowhere"}[case]
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kws head: error:") and expected in lines[0]
    assert not os.path.exists(out / "recipe.json")
