"""Stream placement: where the word sits in a training window, for detectors that run on a stream.

A detector run every hop over the last second of a stream sees each word at every offset: entering
the window, whole, and leaving it. A classifier trained on centred clips has never been told what to
say about a word's first half, so it fires on it ("of-" of "off"); nor does it know when to fire.
With ``PlacementConfig.end_aligned`` the training batches are placed as a stream shows them
(microWakeWord and openWakeWord train the same way):

* keyword examples are shifted so the whole word ENDS ``end_min_ms``-``end_max_ms`` before the
  window's end: the model learns to fire just after a keyword ends;
* with ``partial_probability`` a keyword example instead becomes a partial word: the window ends
  inside the word (``partial_min``-``partial_max`` of it heard), labelled ``_unknown_``: the model
  learns not to fire on a keyword's onset;
* ``_unknown_`` examples are placed at a uniform random offset with the whole word inside;
* ``_silence_`` examples are left where they are.

Independently of end alignment, ``reversed_probability`` turns a share of the keyword examples into
``_unknown_`` ones by playing them backwards: each frame's spectrum is kept (the same speaker, room,
microphone), only the word's order in time is lost, so the model cannot learn "a real recording is a
keyword" from data whose real recordings are nearly all keywords.

Shifts are whole 1 ms blocks (``augment.shift_block_samples``), drawn from stateless seeds, and
need the word bounds of every row (kws.data.boundaries), which the pipeline finds once per clip.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(kw_only=True, frozen=True)
class PlacementConfig:
    """Where words are put in training windows (module docstring). Off by default."""

    end_aligned: bool = False
    """Place keyword ends near the window end (and partial words, and negatives anywhere)."""
    end_min_ms: float = 20.0
    """Shortest time from a keyword's end to the window's end."""
    end_max_ms: float = 250.0
    """Longest time from a keyword's end to the window's end."""
    partial_probability: float = 0.0
    """Share of keyword examples that become partial-word _unknown_ examples."""
    partial_min: float = 0.25
    """Least share of the word a partial example holds."""
    partial_max: float = 0.65
    """Largest share of the word a partial example holds (< 1: never the whole word)."""
    reversed_probability: float = 0.0
    """Share of keyword examples played backwards and labelled _unknown_ (with or without
    end_aligned): the same voices, rooms and microphones as the keywords, but not a keyword, so
    that "sounds like a real recording" stops predicting "is a keyword"."""

    def __post_init__(self):
        if not 0 <= self.end_min_ms <= self.end_max_ms:
            raise ValueError("need 0 <= end_min_ms <= end_max_ms")
        if not 0 <= self.partial_probability <= 1:
            raise ValueError("partial_probability must be in [0, 1]")
        if not 0 < self.partial_min <= self.partial_max < 1:
            raise ValueError("need 0 < partial_min <= partial_max < 1")
        if self.partial_probability and not self.end_aligned:
            raise ValueError("partial_probability needs end_aligned")
        if not 0 <= self.reversed_probability <= 1:
            raise ValueError("reversed_probability must be in [0, 1]")
        if self.partial_probability + self.reversed_probability > 1:
            raise ValueError("partial_probability + reversed_probability must be <= 1")


def shift_rows(audio: tf.Tensor, shift_blocks: tf.Tensor, block_samples: int) -> tf.Tensor:
    """Row b of [batch, samples] moved later by shift_blocks[b] blocks (earlier when negative),
    zeros shifted in; shifts beyond the clip give all zeros. samples % block_samples == 0."""
    samples = audio.shape[1]
    blocks = samples // block_samples
    batch = tf.shape(audio)[0]
    shift = tf.clip_by_value(tf.cast(shift_blocks, tf.int32), -blocks, blocks)
    padded = tf.reshape(tf.pad(audio, [[0, 0], [samples, samples]]), [batch, 3 * blocks,
                                                                      block_samples])
    index = tf.range(blocks)[None, :] + blocks - shift[:, None]
    return tf.reshape(tf.gather(padded, index, batch_dims=1), [batch, samples])


def place_batch(samples: tf.Tensor, bounds: tf.Tensor, labels: tf.Tensor, keyword: tf.Tensor,
                unknown_id: int, config: PlacementConfig, sample_rate_hz: int,
                block_samples: int, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Places a batch as the module docstring says.

    Args:
      samples: float32 [batch, samples] clips.
      bounds: int32 [batch, 2] (start, end) of each clip's word in samples.
      labels: int32 [batch].
      keyword: bool [batch], the rows whose label is a keyword.
      unknown_id: the label id partial words get.

    Returns:
      (placed samples, labels with partial words as unknown_id, int32 [batch, 2] word bounds in
      the placed window, which may lie outside [0, samples)).
    """
    n = samples.shape[1]
    batch = tf.shape(samples)[0]
    s_end, s_partial, s_fraction, s_anywhere = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    start = tf.cast(bounds[:, 0], tf.float32)
    end = tf.cast(bounds[:, 1], tf.float32)
    length = tf.maximum(end - start, 1.0)
    ms = sample_rate_hz / 1000.0
    gap = tf.random.stateless_uniform([batch], s_end, config.end_min_ms * ms,
                                      config.end_max_ms * ms)
    keyword_shift = (n - gap) - end
    partial = keyword & (tf.random.stateless_uniform([batch], s_partial)
                         < config.partial_probability)
    heard = tf.random.stateless_uniform([batch], s_fraction, config.partial_min, config.partial_max)
    partial_shift = n - (start + heard * length)
    unknown = tf.equal(labels, unknown_id)
    anywhere_end = tf.minimum(length, float(n)) + tf.random.stateless_uniform(
        [batch], s_anywhere) * tf.maximum(n - length, 0.0)
    unknown_shift = anywhere_end - end
    shift = tf.where(partial, partial_shift,
                     tf.where(keyword, keyword_shift, tf.where(unknown, unknown_shift, 0.0)))
    # A partial word is cut inside the word: round towards fewer blocks heard (a shift one block
    # later), so rounding never lets its end back into the window.
    shift_blocks = tf.where(partial, tf.math.ceil(shift / block_samples),
                            tf.round(shift / block_samples))
    placed = shift_rows(samples, shift_blocks, block_samples)
    moved = tf.cast(shift_blocks, tf.int32) * block_samples
    new_labels = tf.where(partial, tf.cast(unknown_id, labels.dtype), labels)
    return placed, new_labels, bounds + moved[:, None]


def reverse_keywords(samples: tf.Tensor, labels: tf.Tensor, keyword: tf.Tensor, unknown_id: int,
                     probability: float, seed: tf.Tensor
                     ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(samples with a ``probability`` share of the keyword rows time-reversed, labels with those
    rows as ``unknown_id``, bool [batch]: the reversed rows). ``keyword``: bool [batch], the rows
    that hold a keyword."""
    flip = keyword & (tf.random.stateless_uniform(tf.shape(labels), seed) < probability)
    flipped = tf.where(flip[:, None], tf.reverse(samples, axis=[1]), samples)
    return flipped, tf.where(flip, tf.cast(unknown_id, labels.dtype), labels), flip


def mirror_bounds(bounds: tf.Tensor, flip: tf.Tensor, clip_samples: int) -> tf.Tensor:
    """Word bounds int32 [batch, 2] of the rows after ``reverse_keywords``."""
    mirrored = clip_samples - tf.reverse(bounds, axis=[1])
    return tf.where(flip[:, None], mirrored, bounds)
