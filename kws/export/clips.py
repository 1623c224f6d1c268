"""Waveforms of a split, exactly as the evaluation pipeline makes them before its front end.

kws.data.pipeline.make_dataset yields features; the waveform-in models need the waveforms those
features came from. ``waveform_batches`` repeats the evaluation path of make_dataset up to the
front end (decode, pad/trim to one clip, batch, fixed noise in generated _silence_ examples seeded
by batch number): compute_features of its batches equals make_dataset's features, which the
exporter measures on every export (feature parity), so a pipeline change that breaks it shows.

Calibration clips for quantization come from the training split only.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import tensorflow as tf

from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import speech_commands as sc


def _decode(path: tf.Tensor, clip_samples: int) -> tf.Tensor:
    def read():
        wav, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
        return wav[:, 0]

    samples = tf.cond(tf.strings.length(path) > 0, read, lambda: tf.zeros([0], tf.float32))
    samples = samples[:clip_samples]
    return tf.ensure_shape(tf.pad(samples, [[0, clip_samples - tf.shape(samples)[0]]]),
                           [clip_samples])


def waveform_batches(index: sc.DatasetIndex, split: str, features: frontend.FrontendConfig,
                     pipeline: pl.PipelineConfig, noise: augment.NoiseBank | None
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(waveforms float32 [batch, clip_samples], labels int32 [batch]) of ``split``, in index order,
    batched like make_dataset(index, split, features, pipeline, noise=noise)."""
    examples = index.splits[split]
    if not examples:
        raise sc.DatasetError(f"the {split} split is empty: the data folder has too few clips or "
                              "speakers for it; add data or change the split percentages")
    clip = features.clip_samples
    paths = [e.path for e in examples]
    labels = np.array(index.label_ids(split), np.int32)
    generated = np.array([p == "" for p in paths])
    ds = tf.data.Dataset.from_tensor_slices((paths, labels, generated))
    ds = ds.map(lambda p, y, s: (_decode(p, clip), y, s), num_parallel_calls=tf.data.AUTOTUNE)
    ds = tf.data.Dataset.zip((ds.batch(pipeline.batch_size), tf.data.Dataset.range(1 << 62)))

    def with_noise(batch, batch_seed):
        samples, y, is_generated = batch
        if noise is not None and pipeline.eval_silence_volume > 0:
            seed = tf.stack([tf.cast(batch_seed, tf.int64), tf.constant(pipeline.seed, tf.int64)])
            samples = augment.mix_noise(samples, is_generated, noise, 0.0,
                                        pipeline.eval_silence_volume, seed)
        return samples, y

    ds = ds.map(with_noise, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    for samples, y in ds.prefetch(tf.data.AUTOTUNE):
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
