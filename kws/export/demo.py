"""A tiny keyword task made of tones, trained and exported in about a minute: for tests, CI and a
first try without any data (`python export/make_demo.py --workdir=W --output_dir=OUT`).

Each "word" is a two-tone pattern (a first tone for 0.2 s, a second for 0.25 s); each "speaker"
shifts pitch and timing. The task is keywords mode: the words of DEMO_KEYWORDS, ``_unknown_`` (the
other words) and ``_silence_`` (background noise). The synthesis below is numpy only, so TF-free
code (the device tests) can make audio the demo model knows; training imports TensorFlow when
called.
"""

from __future__ import annotations

import os

import numpy as np

from kws import audio

DEMO_KEYWORDS = ("alpha", "beta", "gamma")
DEMO_OTHER_WORDS = ("delta",)
SAMPLE_RATE_HZ = 16000
WORD_DURATION_S = 0.45
"""Both tones of a word together."""


def tone_word(word: str, rng: np.random.Generator, start_s: float = 0.2, pitch: float = 1.0,
              level: float = 0.3) -> np.ndarray:
    """One 1 s clip float32 [16000] of ``word`` starting at ``start_s``, with light noise."""
    words = DEMO_KEYWORDS + DEMO_OTHER_WORDS
    if word not in words:
        raise ValueError(f"unknown demo word {word!r}; valid: {', '.join(words)}")
    w = words.index(word)
    t = np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ
    f1, f2 = (300 + 250 * w) * pitch, (900 + 400 * w) * pitch
    first = (t >= start_s) & (t < start_s + 0.2)
    second = (t >= start_s + 0.2) & (t < start_s + WORD_DURATION_S)
    clip = level * (first * np.sin(2 * np.pi * f1 * t) + second * np.sin(2 * np.pi * f2 * t))
    clip += 0.01 * rng.standard_normal(len(t))
    return clip.astype(np.float32)


def write_tone_dataset(root: str, speakers: int = 60, seed: int = 7) -> str:
    """Writes ``root``/<word>/<speaker>_nohash_0.wav for every word, and a noise file."""
    rng = np.random.default_rng(seed)
    for w, word in enumerate(DEMO_KEYWORDS + DEMO_OTHER_WORDS):
        for s in range(speakers):
            clip = tone_word(word, rng, start_s=rng.uniform(0.1, 0.45),
                             pitch=1 + 0.04 * rng.standard_normal(), level=rng.uniform(0.15, 0.5))
            audio.write_wav(os.path.join(root, word, f"{s:04x}{w:04x}_nohash_0.wav"), clip,
                            SAMPLE_RATE_HZ)
    noise = 0.2 * rng.standard_normal(10 * SAMPLE_RATE_HZ)
    audio.write_wav(os.path.join(root, "_background_noise_", "noise.wav"), noise, SAMPLE_RATE_HZ)
    return root


DEMO_MODELS = ("ds_cnn", "tiny_conv")


def demo_train_config(data_dir: str, epochs: int = 12, model: str = "ds_cnn"):
    """The TrainConfig of the demo: a streamable DS-CNN-S on MFCCs, whose export has stateful
    streaming models too, or tiny_conv (window only)."""
    if model not in DEMO_MODELS:
        raise ValueError(f"unknown demo model {model!r}; valid: {', '.join(DEMO_MODELS)}")
    # pylint: disable=import-outside-toplevel
    from kws.data import pipeline as pl
    from kws.data import speech_commands as sc
    from kws.models.config import ModelConfig
    from kws.training import config as tc

    return tc.TrainConfig(
        data=sc.DataConfig(data_dir=data_dir, label_mode="keywords", wanted_words=DEMO_KEYWORDS,
                           validation_percentage=20, testing_percentage=20,
                           silence_percentage=25, unknown_percentage=25),
        pipeline=pl.PipelineConfig(batch_size=16, seed=1),
        model=ModelConfig(name=model, num_classes=len(DEMO_KEYWORDS) + 2,
                          streamable=model == "ds_cnn"),
        epochs=epochs, learning_rate=5e-3)


def make_demo_export(workdir: str, output_dir: str, epochs: int = 12, speakers: int = 60,
                     calibration_clips: int = 200, latency_runs: int = 50,
                     model: str = "ds_cnn") -> dict:
    """Generates the tone data under ``workdir``/data, trains in ``workdir``/run, exports to
    ``output_dir``; returns the export report. Reruns reuse the data and the finished run."""
    # pylint: disable=import-outside-toplevel
    from kws.export import exporter
    from kws.training import trainer

    data_dir = os.path.join(workdir, "data")
    if not os.path.isdir(data_dir):
        write_tone_dataset(data_dir, speakers=speakers)
    run_dir = os.path.join(workdir, "run")
    trainer.train_and_evaluate(demo_train_config(data_dir, epochs, model), run_dir, verbose=0)
    return exporter.export(exporter.ExportConfig(
        workdir=run_dir, output_dir=output_dir, calibration_clips=calibration_clips,
        latency_runs=latency_runs), log=lambda *_: None)
