"""The tf.data input pipeline: file lists -> decoded clips -> augmentation -> features, in batches.

Per example only what must be: read + decode WAV in graph, pad/trim to one clip, cached in memory when it
fits. Everything else runs on whole batches (time shift, gain, background noise, front end, SpecAugment),
which is several times faster than per-example work. Random draws are stateless TF ops seeded from
``tf.data.Dataset.random(seed)``, one seed per batch: the same seed gives the same batches.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from kws import audio
from kws import frontend
from kws.data import augment
from kws.data import speech_commands as sc


@dataclasses.dataclass(kw_only=True, frozen=True)
class PipelineConfig:
    """How batches are made."""

    batch_size: int = 100
    """Examples per batch."""
    seed: int = 0
    """Seed of shuffling and augmentation."""
    cache_max_bytes: int = 6 * 2**30
    """Decoded clips are cached in memory when they take at most this many bytes."""
    eval_silence_volume: float = 0.1
    """_silence_ examples of evaluation splits get fixed background noise up to this volume."""

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


def load_noise(index: sc.DatasetIndex, clip_samples: int, sample_rate_hz: int
               ) -> augment.NoiseBank | None:
    """The index's background noise recordings as a NoiseBank, or None when there are none."""
    if not index.noise_files:
        return None
    noises = []
    for path in index.noise_files:
        samples = audio.read_clip(path, sample_rate_hz)
        if len(samples) < clip_samples:
            raise sc.DatasetError(f"{path}: background noise of {len(samples)} samples is shorter "
                                  f"than one clip ({clip_samples}); remove it or use a longer one")
        noises.append(samples)
    return augment.NoiseBank(noises, clip_samples,
                             augment.shift_block_samples(sample_rate_hz, clip_samples))


def _decode(path: tf.Tensor, clip_samples: int) -> tf.Tensor:
    """Reads a 16-bit mono WAV (checked by the index) and pads/trims it to clip_samples float32.

    An empty path (a generated _silence_ example) gives zeros.
    """
    def read():
        wav, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
        return wav[:, 0]

    samples = tf.cond(tf.strings.length(path) > 0, read, lambda: tf.zeros([0], tf.float32))
    samples = samples[:clip_samples]
    samples = tf.pad(samples, [[0, clip_samples - tf.shape(samples)[0]]])
    return tf.ensure_shape(samples, [clip_samples])


def make_dataset(index: sc.DatasetIndex, split: str, features: frontend.FrontendConfig,
                 pipeline: PipelineConfig, augmentation: augment.AugmentConfig | None = None,
                 noise: augment.NoiseBank | None = None, epochs: tuple[int, int] = (0, 1)
                 ) -> tf.data.Dataset:
    """Batches of (features float32 [batch, frames, dim], labels int32 [batch]) for ``split``.

    Args:
      augmentation: training augmentation, or None for evaluation (no shuffling, no augmentation;
        generated _silence_ examples still get fixed noise so they are not all-zero).
      noise: background noise (load_noise); needed when augmentation mixes noise.
      epochs: training only: the batches of epochs [first, last), one after the other. Epoch e is
        shuffled and augmented from (pipeline.seed, e) alone, so a run resumed at epoch e sees exactly
        the batches an uninterrupted run would have seen.
    """
    if split not in sc.SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(sc.SPLITS)}")
    examples = index.splits[split]
    if not examples:
        raise sc.DatasetError(f"the {split} split is empty: the data folder has too few clips or "
                              "speakers for it; add data or change the split percentages")
    if augmentation is not None and augmentation.uses_noise and noise is None:
        raise sc.DatasetError(
            "background noise mixing is on but no noise files were found (no _background_noise_ "
            "folder); pass --background_noise_dir=<folder of long WAVs>, or turn mixing off with "
            "--background_frequency=0")
    clip = features.clip_samples
    paths = [e.path for e in examples]
    labels = np.array(index.label_ids(split), np.int32)
    silence_id = index.labels.index(sc.SILENCE_LABEL) if sc.SILENCE_LABEL in index.labels else -1
    generated_silence = np.array([p == "" for p in paths])

    ds = tf.data.Dataset.from_tensor_slices((paths, labels, generated_silence))
    ds = ds.map(lambda p, y, s: (_decode(p, clip), y, s), num_parallel_calls=tf.data.AUTOTUNE)
    cache_bytes = len(paths) * clip * 4
    if cache_bytes <= pipeline.cache_max_bytes:
        ds = ds.cache()
    else:
        logging.info("%s split: %.1f GB of decoded audio exceeds cache_max_bytes; decoding every "
                     "epoch", split, cache_bytes / 2**30)
    training = augmentation is not None
    if training:
        cached = ds
        batches_per_epoch = -(-len(paths) // pipeline.batch_size)

        def one_epoch(epoch: int) -> tf.data.Dataset:
            epoch_seed = pipeline.seed * 1_000_003 + epoch
            batches = cached.shuffle(len(paths), seed=epoch_seed, reshuffle_each_iteration=False)
            batches = batches.batch(pipeline.batch_size, drop_remainder=False)
            return tf.data.Dataset.zip((batches, tf.data.Dataset.random(seed=epoch_seed)))

        # One dataset per epoch with plain-int seeds, taken in turn (a flat graph, unlike chained
        # concatenations): epoch e's batches depend on (seed, e) only.
        per_epoch = [one_epoch(e) for e in range(epochs[0], epochs[1])]
        order = tf.data.Dataset.range(len(per_epoch)).flat_map(
            lambda i: tf.data.Dataset.from_tensors(i).repeat(batches_per_epoch))
        ds = tf.data.Dataset.choose_from_datasets(per_epoch, order)
    else:
        # Batch number as the seed: the same noise on every evaluation.
        ds = tf.data.Dataset.zip((ds.batch(pipeline.batch_size), tf.data.Dataset.range(1 << 62)))

    def batch_fn(batch, batch_seed):
        samples, y, is_generated = batch
        seed = tf.stack([tf.cast(batch_seed, tf.int64), tf.constant(pipeline.seed, tf.int64)])
        is_silence = is_generated | (y == silence_id)
        if training:
            return _train_batch(samples, is_silence, seed, features, augmentation, noise), y
        if noise is not None and pipeline.eval_silence_volume > 0:
            samples = augment.mix_noise(samples, is_generated, noise, 0.0,
                                        pipeline.eval_silence_volume, seed)
        return frontend.compute_features(samples, features), y

    ds = ds.map(batch_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def _train_batch(samples, is_silence, seed, features, config, noise):
    s_shift, s_gain, s_noise, s_spec = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    shift = int(round(features.sample_rate_hz * config.time_shift_ms / 1000))
    block = augment.shift_block_samples(features.sample_rate_hz, features.clip_samples)
    samples = augment.time_shift(samples, shift, block, s_shift)
    samples = augment.random_gain(samples, config.gain_db, s_gain)
    if config.uses_noise:
        samples = augment.mix_noise(samples, is_silence, noise, config.background_frequency,
                                    config.background_volume, s_noise)
    samples = tf.clip_by_value(samples, -1.0, 1.0)
    feats = frontend.compute_features(samples, features)
    return augment.spec_augment(feats, config, s_spec)
