"""Checkpoint selection on a validation stream: the epoch that misses fewest keywords at a budget.

Clip accuracy of the validation split chooses badly for a detector (the best-by-accuracy epoch of
a stream-trained model is often not the best on a stream), so with
``StreamSelectConfig.fa_per_hour`` (kws.training.config) set, training also keeps
``checkpoints/stream_best.keras``: after each epoch from ``from_epoch`` on,
the model runs over one long recording made once from the **validation** split (its keywords and
other words, the validation speakers of ``--negative_dirs``, the dataset's noise;
kws.stream_eval.recording), the detector is calibrated for the budget on it
(kws.stream_eval.calibrate: averaging window and per-keyword thresholds), and the epoch whose
calibrated detector misses the fewest keywords (ties: fewer false accepts, then the earlier epoch)
is kept. ``stream_best.json`` beside it says which epoch, what it measured and the detector.
``kws-export --checkpoint=stream_best`` exports it.

The selector runs before the epoch's checkpoint is written: a run killed in between redoes that
epoch and its evaluation, so a resumed run keeps what an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np

from kws.data import speech_commands as sc
from kws.training import checkpoint as ckpt
from kws.training.config import StreamSelectConfig

BEST_FILE = "stream_best.keras"
SUMMARY_FILE = "stream_best.json"


def validation_pools(data: sc.DataConfig, labels: tuple[str, ...]):
    """The clips of the validation stream (kws.stream_eval.recording.ClipPools): the validation
    split's keywords and other words, and the validation speakers of data.negative_dirs."""
    from kws.stream_eval import recording as rec  # pylint: disable=import-outside-toplevel

    keywords = [label for label in labels if label not in (sc.SILENCE_LABEL, sc.UNKNOWN_LABEL)]
    return rec.with_negatives(rec.clip_pools(data, "validation", keywords), data, "validation",
                              data.negative_dirs)


def validation_recording(data: sc.DataConfig, labels: tuple[str, ...], config: StreamSelectConfig):
    """The validation stream of ``data`` (kws.stream_eval.recording.Recording); a UserError when
    the validation split lacks a keyword."""
    from kws.stream_eval import recording as rec  # pylint: disable=import-outside-toplevel

    pools = validation_pools(data, labels)
    return rec.make_recording(pools, pools.noise, data.sample_rate_hz, rec.RecordingConfig(
        duration_s=60.0 * config.minutes, seed=config.seed, unknown_share=config.unknown_share))


def measure(body: keras.Model, labels: tuple[str, ...], features, recording,
            config: StreamSelectConfig) -> dict:
    """{'miss_rate', 'fa_per_hour', 'detector'} of ``body``'s calibrated detector on the
    recording; miss_rate 1.0 (and no detector) when no detector meets the budget."""
    # pylint: disable=import-outside-toplevel
    from kws.stream_eval import calibrate
    from kws.stream_eval import sources

    source = sources.KerasSource.of_model(body, labels, features, config.hop_ms, "training model")
    times_ms, posteriors = source.posteriors(recording.samples)
    try:
        chosen = calibrate.calibrate(labels, times_ms, posteriors, recording.events,
                                     recording.duration_s, config.fa_per_hour)
    except ValueError:  # no window and thresholds meet the budget on this stream
        return {"miss_rate": 1.0, "fa_per_hour": None, "detector": None}
    return {"miss_rate": float(chosen.metrics.miss_rate), "fa_per_hour": chosen.metrics.fa_per_hour,
            "detector": dataclasses.asdict(chosen.detector)}


def read_summary(folder: str) -> dict | None:
    path = os.path.join(folder, SUMMARY_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class StreamSelector(keras.callbacks.Callback):
    """Keeps checkpoints/stream_best.keras (module docstring). ``evaluate(model) -> dict`` with
    'miss_rate' and 'fa_per_hour' is called at each epoch end from ``from_epoch``."""

    def __init__(self, folder: str, config: StreamSelectConfig, evaluate):
        super().__init__()
        self.folder, self.config, self.evaluate = folder, config, evaluate
        self.best = read_summary(folder)

    @staticmethod
    def _key(summary: dict) -> tuple:
        return (summary["miss_rate"], summary["fa_per_hour"] if summary["fa_per_hour"] is not None
                else np.inf, summary["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.config.from_epoch:
            return
        result = dict(self.evaluate(self.model), epoch=epoch + 1,
                      fa_per_hour_budget=self.config.fa_per_hour)
        fa = result["fa_per_hour"]
        print(f"  stream selection, epoch {epoch + 1}: misses {result['miss_rate']:.1%} at "
              + (f"{fa:.1f} FA/h" if fa is not None else "no detector within the budget"),
              flush=True)
        if self.best is not None and self.best["epoch"] >= epoch + 1:
            self.best = None  # a resumed run redoing this epoch: that record is of the lost one
        if self.best is None or self._key(result) < self._key(self.best):
            ckpt.save_model_atomic(self.model, os.path.join(self.folder, BEST_FILE))
            ckpt.write_atomic(os.path.join(self.folder, SUMMARY_FILE),
                              json.dumps(result, indent=2, sort_keys=True))
            self.best = result
