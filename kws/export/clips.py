"""Waveforms of a split, exactly as the evaluation pipeline makes them before its front end.

kws.data.pipeline.make_dataset yields features; the waveform-in models need the waveforms those
features came from: ``waveform_batches`` takes them from the same evaluation pipeline
(make_dataset(..., waveforms=True)), so compute_features of its batches is make_dataset's features;
the exporter still measures that parity on every export.

Calibration clips for quantization come from the training split only.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import speech_commands as sc


def waveform_batches(index: sc.DatasetIndex, split: str, features: frontend.FrontendConfig,
                     pipeline: pl.PipelineConfig, noise: augment.NoiseBank | None
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(waveforms float32 [batch, clip_samples], labels int32 [batch]) of ``split``, in index order,
    batched like make_dataset(index, split, features, pipeline, noise=noise)."""
    ds = pl.make_dataset(index, split, features, pipeline, noise=noise, waveforms=True)
    for samples, y in ds:
        yield samples.numpy(), y.numpy()


def calibration_index(index: sc.DatasetIndex, num_clips: int, seed: int) -> sc.DatasetIndex:
    """An index whose 'train' split is ``num_clips`` examples drawn from the training split only."""
    train = index.splits["train"]
    if not train:
        raise sc.DatasetError("the training split is empty: no clips to calibrate quantization on")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(train), size=min(num_clips, len(train)), replace=False))
    return dataclasses.replace(index, splits={"train": tuple(train[i] for i in chosen),
                                              "validation": (), "test": ()})


def calibration_waveforms(index: sc.DatasetIndex, num_clips: int, seed: int,
                          features: frontend.FrontendConfig, pipeline: pl.PipelineConfig,
                          noise: augment.NoiseBank | None) -> np.ndarray:
    """float32 [n, clip_samples]: up to ``num_clips`` training clips, without augmentation
    (generated silence with the evaluation's noise)."""
    picked = calibration_index(index, num_clips, seed)
    return np.concatenate([w for w, _ in waveform_batches(picked, "train", features, pipeline,
                                                          noise)])
