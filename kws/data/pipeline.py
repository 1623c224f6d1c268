"""The tf.data input pipeline: file lists -> decoded clips -> augmentation -> features, in batches.

Every clip is decoded once (WAV in graph, padded/trimmed to one clip) into an int16 table in memory, when
it fits. A batch is then one gather of shuffled row indices, and everything else runs on whole batches
(speed, time shift, gain, background noise, room and microphone, front end, SpecAugment): no per-example work is left, which is what
makes tf.data slow. Random draws are stateless TF ops seeded from (seed, epoch, batch): the same seed
gives the same batches, and epoch e's batches depend on nothing else.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from kws import frontend
from kws.data import augment
from kws.data import boundaries
from kws.data import decode
from kws.data import recording
from kws.data import placement
from kws.data import speech_commands as sc


@dataclasses.dataclass(kw_only=True, frozen=True)
class PipelineConfig:
    """How batches are made."""

    batch_size: int = 100
    """Examples per batch."""
    seed: int = 0
    """Seed of shuffling and augmentation."""
    cache_max_bytes: int = 6 * 2**30
    """Decoded clips (int16) are held in memory when they take at most this many bytes."""
    eval_silence_volume: float = 0.1
    """_silence_ examples of evaluation splits get fixed background noise up to this volume."""
    unknown_resample: bool = False
    """Training draws its _unknown_ examples afresh each epoch from every other-word clip of the split
    (DatasetIndex.unknown_pool; negatives with their own share from DatasetIndex.negative_pool), as
    many as the split's fixed sample holds, instead of reusing that one sample every epoch. Epoch
    sizes and class shares stay the same."""
    bounds_cache: str = ""
    """JSON file of cached word bounds (kws.data.boundaries); '' means
    ~/.cache/kws/word_bounds.json. Bounds are found for clips longer than the window (to cut the
    window around the word) and, when stream placement is on, for every clip."""

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
        samples = decode.decode_audio(path, sample_rate_hz, backend="soundfile")
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
                 noise: augment.NoiseBank | None = None, epochs: tuple[int, int] = (0, 1),
                 waveforms: bool = False,
                 placing: placement.PlacementConfig = placement.PlacementConfig(),
                 row_targets=None) -> tf.data.Dataset:
    """Batches of (features float32 [batch, frames, dim], labels int32 [batch]) for ``split``.

    Args:
      augmentation: training augmentation, or None for evaluation (no shuffling, no augmentation;
        generated _silence_ examples still get fixed noise so they are not all-zero).
      noise: background noise (load_noise); needed when augmentation mixes noise.
      epochs: training only: the batches of epochs [first, last), one after the other. Epoch e is
        shuffled and augmented from (pipeline.seed, e) alone, so a run resumed at epoch e sees exactly
        the batches an uninterrupted run would have seen.
      waveforms: evaluation only: yield the waveforms float32 [batch, clip_samples] the features
        would be computed from, instead of the features (the waveform-in exported models take them).
      placing: training only: stream placement of the words (kws.data.placement); partial words
        change their labels to _unknown_.
      row_targets: training only: (paths, label ids, label names) -> float32 [rows, classes], a fixed
        target per example (kws.training.distill.row_targets); the labels are then these targets
        instead of ids, but a row whose label the batch changes (reversed, cut) gets its one-hot.
    """
    if waveforms and augmentation is not None:
        raise ValueError("waveforms=True is for evaluation batches (no augmentation)")
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
    training = augmentation is not None
    paths = [e.path for e in examples]
    labels = np.array(index.label_ids(split), np.int32)
    n = len(paths)  # examples per epoch
    resample = training and pipeline.unknown_resample
    draws: list[tuple[int, int, int]] = []  # (first row, end row, examples drawn) per pool
    if resample:  # rows: the examples that are not _unknown_, then each whole pool
        if sc.UNKNOWN_LABEL not in index.labels:
            raise sc.DatasetError("unknown_resample draws _unknown_ examples, but these labels "
                                  f"have none ({', '.join(index.labels)}): use label_mode keywords")
        unknown_id = index.labels.index(sc.UNKNOWN_LABEL)
        kept = labels != unknown_id
        n_kept = int(kept.sum())
        paths, labels = [p for p, k in zip(paths, kept) if k], labels[kept]
        negatives = index.negative_pool.get(split, ())
        drawn = [e for e, k in zip(examples, kept) if not k]
        negative_set = set(negatives)
        n_negative = sum(1 for e in drawn if e.path in negative_set)
        for pool, n_drawn in ((index.unknown_pool.get(split, ()), len(drawn) - n_negative),
                              (negatives, n_negative)):
            if len(pool) < n_drawn:
                raise ValueError(f"the {split} split has {n_drawn} _unknown_ examples of a pool "
                                 f"of {len(pool)} clips: an index not made by index_dataset")
            draws.append((len(paths), len(paths) + len(pool), n_drawn))
            paths += list(pool)
            labels = np.concatenate([labels, np.full(len(pool), unknown_id, np.int32)])
    silence_id = index.labels.index(sc.SILENCE_LABEL) if sc.SILENCE_LABEL in index.labels else -1
    generated_silence = np.array([p == "" for p in paths])

    rows = len(paths)
    cache_bytes = rows * clip * 2
    placing_on = training and placing.end_aligned
    if placing_on and sc.UNKNOWN_LABEL not in index.labels:
        raise sc.DatasetError("stream placement (end_aligned) needs the _unknown_ label for "
                              "partial words and negatives: use label_mode keywords")
    bounds_table = None
    if cache_bytes <= pipeline.cache_max_bytes:
        # An eager constant captured by the batch function (not a tf.Variable: under
        # MultiWorkerMirroredStrategy a new variable's value is broadcast, which int16 cannot be).
        decoded, bounds = decode_table(paths, clip, features.sample_rate_hz,
                                       pipeline.bounds_cache, all_bounds=placing_on)
        table = tf.constant(decoded)
        bounds_table = tf.constant(bounds)
        load = lambda idx: tf.cast(tf.gather(table, idx), tf.float32) / 32768.0  # noqa: E731
    else:
        logging.info("%s split: %.1f GB of decoded audio exceeds cache_max_bytes; decoding every "
                     "epoch", split, cache_bytes / 2**30)
        if placing_on:
            raise sc.DatasetError("stream placement needs every clip decoded in memory; raise "
                                  "cache_max_bytes or use fewer clips")
        odd = [p for p in paths if p and not p.lower().endswith(".wav")]
        if odd:
            raise sc.DatasetError(f"{odd[0]}: only WAV clips can be decoded every epoch (the "
                                  "decoded table exceeds cache_max_bytes); raise it or convert "
                                  "the clips with `kws prepare`")
        path_table = tf.constant(paths)
        load = lambda idx: tf.map_fn(  # noqa: E731
            lambda i: _decode(path_table[i], clip), idx, fn_output_signature=tf.float32)
    label_table, generated_table = tf.constant(labels), tf.constant(generated_silence)
    target_table = None
    if row_targets is not None:
        if not training:
            raise ValueError("row_targets are training targets (augmentation is None)")
        target_table = tf.constant(row_targets(paths, labels, list(index.labels)))

    if training:
        def epoch_batches(epoch):
            epoch_seed = tf.stack([tf.constant(pipeline.seed, tf.int64), epoch])
            order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                             seed=epoch_seed)
            if resample:  # this epoch's draw from each pool, from (seed, epoch) alone
                picked = [tf.range(n_kept, dtype=tf.int64)]
                for k, (first, end, n_drawn) in enumerate(draws):
                    pool_seed = tf.random.experimental.stateless_fold_in(epoch_seed, 1 + k)
                    picked.append(tf.random.experimental.stateless_shuffle(
                        tf.range(first, end, dtype=tf.int64), seed=pool_seed)[:n_drawn])
                order = tf.gather(tf.concat(picked, 0), order)
            batches = tf.data.Dataset.from_tensor_slices(order).batch(pipeline.batch_size)
            seeds = tf.data.Dataset.range(1 << 40).map(lambda b: epoch * 1_000_003 + b)
            return tf.data.Dataset.zip((batches, seeds))

        ds = tf.data.Dataset.range(epochs[0], epochs[1]).flat_map(epoch_batches)
    else:
        # Batch number as the seed: the same noise on every evaluation.
        ds = tf.data.Dataset.zip((tf.data.Dataset.range(n).batch(pipeline.batch_size),
                                  tf.data.Dataset.range(1 << 40)))

    reversing = training and placing.reversed_probability > 0
    if reversing and sc.UNKNOWN_LABEL not in index.labels:
        raise sc.DatasetError("reversed keywords are _unknown_ examples: they need the _unknown_ "
                              "label (label_mode keywords)")
    if placing_on:  # placement decides where words are; no further shift
        augmentation = dataclasses.replace(augmentation, time_shift_ms=0.0)
    if placing_on or reversing:
        unknown_id = index.labels.index(sc.UNKNOWN_LABEL)
        keyword_table = tf.constant(np.array([index.labels[i] not in (sc.SILENCE_LABEL,
                                                                      sc.UNKNOWN_LABEL)
                                              for i in labels]))

    def batch_fn(idx, batch_seed):
        samples = load(idx)
        y, is_generated = tf.gather(label_table, idx), tf.gather(generated_table, idx)
        seed = tf.stack([batch_seed, tf.constant(pipeline.seed, tf.int64)])
        is_silence = is_generated | (y == silence_id)
        if placing_on or reversing:
            keyword = tf.gather(keyword_table, idx)
        if reversing:  # before placement: a reversed word is placed as a negative is
            samples, y, flip = placement.reverse_keywords(
                samples, y, keyword, unknown_id, placing.reversed_probability,
                tf.random.experimental.stateless_fold_in(seed, 5))
            keyword = keyword & ~flip
        if placing_on:
            bounds = tf.gather(bounds_table, idx)
            if reversing:
                bounds = placement.mirror_bounds(bounds, flip, clip)
            samples, y, _ = placement.place_batch(
                samples, bounds, y, keyword,
                unknown_id, placing, features.sample_rate_hz,
                augment.shift_block_samples(features.sample_rate_hz, clip),
                tf.random.experimental.stateless_fold_in(seed, 4))
        if training:
            x = _train_batch(samples, is_silence, seed, features, augmentation, noise)
            if target_table is None:
                return x, y
            kept = tf.equal(y, tf.gather(label_table, idx))[:, None]
            return x, tf.where(kept, tf.gather(target_table, idx),
                               tf.one_hot(y, len(index.labels)))
        if noise is not None and pipeline.eval_silence_volume > 0:
            samples = augment.mix_noise(samples, is_generated, noise, 0.0,
                                        pipeline.eval_silence_volume, seed)
        return (samples if waveforms else frontend.compute_features(samples, features)), y

    ds = ds.map(batch_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def default_bounds_cache() -> str:
    """~/.cache/kws/word_bounds.json (XDG_CACHE_HOME respected)."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "kws", "word_bounds.json")


def decode_table(paths: list[str], clip_samples: int, sample_rate_hz: int, cache_path: str = "",
                 all_bounds: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every clip decoded once into (int16 [clips, clip_samples], int32 [clips, 2] word bounds).

    Any format the index accepts (WAV, FLAC, OGG; resampled when its rate differs). A clip longer
    than the window is cut around its word (boundaries.crop_around) instead of keeping its first
    second; a shorter one is zero-padded at the end. Word bounds are found for the long clips and,
    with ``all_bounds``, for every clip (cached in ``cache_path``, default
    default_bounds_cache()); rows without bounds get (0, clip_samples). An empty path (a
    generated _silence_ example) gives zeros and bounds (0, 0).
    """
    cache = boundaries.BoundaryCache(cache_path or default_bounds_cache())
    table = np.zeros((len(paths), clip_samples), np.int16)
    bounds = np.tile(np.array([0, clip_samples], np.int32), (len(paths), 1))
    found: dict[int, tuple[int, int, int]] = {}  # row -> bounds analysed now, for the cache

    def load(i: int) -> None:
        path = paths[i]
        if not path:
            bounds[i] = (0, 0)
            return
        samples = decode.decode_audio(path, sample_rate_hz, backend="soundfile")
        word = (0, min(len(samples), clip_samples))
        if all_bounds or len(samples) > clip_samples:
            cached = cache.get(path)
            if cached is not None and cached[2] == len(samples):
                word = cached[:2]
            else:
                word = boundaries.word_bounds(samples, sample_rate_hz)
                found[i] = (*word, len(samples))
            samples, word = boundaries.crop_around(samples, word, clip_samples)
        table[i, :len(samples)] = np.clip(np.round(samples * 32768.0), -32768, 32767)
        bounds[i] = word

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(load, range(len(paths))))
    for i, (start, end, n) in found.items():
        cache.put(paths[i], start, end, n)
    cache.save()
    return table, bounds


def _train_batch(samples, is_silence, seed, features, config, noise):
    """Speed -> time shift -> gain -> noise -> room and microphone (one FFT, noise included: it is
    in the room and goes through the microphone too) -> clipping -> features (frequency-warped when
    VTLP is on) -> SpecAugment -> feature noise."""
    s_shift, s_gain, s_noise, s_spec = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    # The recording-chain ops, warping and feature noise draw from seeds of their own, so the four
    # above (and the batches of runs without those ops) are what they were before the ops existed.
    s_speed, s_room = tf.unstack(tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(seed, 1), 2))
    s_feature = tf.random.experimental.stateless_fold_in(seed, 2)
    s_warp = tf.random.experimental.stateless_fold_in(seed, 3)
    samples = recording.random_speed(samples, config.speed_probability, config.speed_min,
                                     config.speed_max, s_speed)
    shift = int(round(features.sample_rate_hz * config.time_shift_ms / 1000))
    block = augment.shift_block_samples(features.sample_rate_hz, features.clip_samples)
    samples = augment.time_shift(samples, shift, block, s_shift)
    samples = augment.random_gain(samples, config.gain_db, s_gain)
    if config.uses_noise:
        samples = augment.mix_noise(samples, is_silence, noise, config.background_frequency,
                                    config.background_volume, s_noise, config.snr_range_db)
    samples = recording.reverb_and_eq(samples, config, features.sample_rate_hz, s_room)
    samples = tf.clip_by_value(samples, -1.0, 1.0)
    warp = augment.warp_factors(tf.shape(samples)[0], config.vtlp_probability, config.vtlp_min,
                                config.vtlp_max, s_warp)
    feats = frontend.compute_features(samples, features, warp)
    feats = augment.spec_augment(feats, config, s_spec)
    return augment.feature_noise(feats, config.feature_noise, s_feature)
