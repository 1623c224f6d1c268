"""Windows longer than 1 s (`kws-train --clip_duration_ms`, or a `kws synth` set's own clip length):
the model sees the whole window, and its streaming form still equals it on every window."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kws import frontend
from kws.models import STREAM_FRAMES, ModelConfig, build_model
from kws.models import streaming
from kws.synth import dataset as synth

from conftest import REPO_ROOT, STREAM_PARITY_ATOL, make_tone_dataset, trained_like


def test_a_1500_ms_window_has_74_frames_and_streams_exactly():
    features = frontend.FrontendConfig(clip_duration_ms=1500)
    frames = features.num_frames
    assert frames == 1 + (24000 - 480) // 320 == 74
    config = ModelConfig(name="ds_cnn", size="s", num_classes=4, streamable=True)
    rng = np.random.default_rng(3)
    window = trained_like(build_model(config, (frames, 10)), 10, rng, frames)
    stream = streaming.to_streaming(window, config, (frames, 10))
    step = STREAM_FRAMES[config.name](config)
    calls = frames // step + 6
    sequence = rng.normal(3.0, 2.0, (calls * step, 10)).astype(np.float32)
    states = streaming.initial_states(stream)
    compared = 0
    for c in range(calls):
        outputs = stream([sequence[None, c * step:(c + 1) * step]] + states, training=False)
        states = [np.asarray(o) for o in outputs[1:]]
        end = (c + 1) * step
        if end >= frames:
            expected = window(sequence[None, end - frames:end], training=False).numpy()[0]
            np.testing.assert_allclose(np.asarray(outputs[0])[0], expected, atol=STREAM_PARITY_ATOL)
            compared += 1
    assert compared >= 5


def _train(data_dir, workdir, *flags):
    return subprocess.run(
        [sys.executable, "-m", "kws.train", f"--data_dir={data_dir}", f"--workdir={workdir}",
         "--wanted_words=alpha,beta", "--epochs=1", "--steps=1", "--batch_size=8", *flags],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False)


def _trained_window(workdir) -> int:
    with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
        return json.load(f)["features"]["clip_duration_ms"]


@pytest.mark.slow  # real training runs (kws-train in a subprocess), as in test_train.py
def test_kws_train_takes_the_window_from_the_synth_manifest_or_the_flag(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", speakers=12)
    with open(data / synth.MANIFEST_NAME, "w", encoding="utf-8") as f:
        json.dump({"config": {"clip_duration_ms": 1500}}, f)
    done = _train(data, tmp_path / "a")
    assert done.returncode == 0, done.stderr
    assert _trained_window(tmp_path / "a") == 1500
    done = _train(data, tmp_path / "b", "--clip_duration_ms=1200")
    assert done.returncode == 0, done.stderr
    assert _trained_window(tmp_path / "b") == 1200

    (data / synth.MANIFEST_NAME).write_text('{"config": {"clip_duration_ms": "long"}}')
    done = _train(data, tmp_path / "c")
    assert done.returncode == 1 and "gives clip_duration_ms='long'; pass --clip_duration_ms" in \
        done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_dataset_without_manifest_keeps_one_second(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", speakers=12)
    done = _train(data, tmp_path / "w")
    assert done.returncode == 0, done.stderr
    assert _trained_window(tmp_path / "w") == 1000
