"""What `kws head` trains on: recordings generated from a folder-per-word tree, one head per seed,
and the mean of several heads calibrated as one detector.

The tree's speakers are split as kws-train splits them (the hash of the name before ``_nohash_``):
``train_splits`` voices (train and test by default: the head is checked on a stream, not on test
clips) make ``train_streams`` training recordings of ``train_minutes`` over the noise of
``noise_dirs``, half of their words other words (``unknown_share``); the validation voices make one
validation recording on which the epoch, the mining round and the detector are chosen for the
false-accept budget. ``negative_dirs`` (other speech, split by speaker the same way) add the other
words of their training speakers to training and of their validation speakers to validation (their
test speakers are never heard: score false accepts on them); ``extra_negative_dirs`` (every clip
but those in a folder named like a wanted word or _background_noise_) add other words to training
only; ``validation_leave_out`` words train but are left out of the validation recording
(near-homophones of a keyword would set its threshold where ordinary speech would not). Each mining
round adds ``mining_streams`` recordings of other words only. Everything is cached under
``cache_dir`` and each round's head under its folder, so a killed run continues.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Callable, Sequence

import numpy as np

from kws.data import speech_commands as sc
from kws.device import detect
from kws.errors import UserError
from kws.export import embedding_head
from kws.head import streams as hs
from kws.head import trainer as sh
from kws.stream_eval import calibrate
from kws.stream_eval import recording as rec

GAPS = {"mean_gap_s": 2.0, "min_gap_s": 0.5}  # every recording: ~20 words a minute
ENSEMBLE_VALIDATION_SEED = 999
"""The ensemble's validation recording: its arrangement is none of its heads' (1000 + seed)."""
ENSEMBLE_FILE = "ensemble.json"


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeadData:
    """The clips and noise of the recordings (module docstring)."""
    data_dir: str
    words: tuple[str, ...]
    noise_dirs: tuple[str, ...] = ()
    """Default: the tree's _background_noise_ folder."""
    negative_dirs: tuple[str, ...] = ()
    extra_negative_dirs: tuple[str, ...] = ()
    validation_percentage: float = 10.0
    testing_percentage: float = 10.0
    train_splits: tuple[str, ...] = ("train", "test")
    validation_leave_out: tuple[str, ...] = ()

    def __post_init__(self):
        if not os.path.isdir(self.data_dir):
            raise UserError(f"--data_dir {self.data_dir} does not exist; give a folder with a "
                            "folder of clips per word (`kws synth` writes one)")
        if not self.words:
            raise UserError("no words to detect: pass --wanted_words")
        bad = [s for s in self.train_splits if s not in ("train", "test")]
        if bad or not self.train_splits:
            raise UserError(f"--train_splits: {', '.join(bad) or 'none'}; choose from train, test "
                            "(the validation voices choose the head)")

    @property
    def noise(self) -> tuple[str, ...]:
        folders = self.noise_dirs or (os.path.join(self.data_dir, sc.BACKGROUND_NOISE_DIR),)
        for folder in folders:
            if not os.path.isdir(folder):
                raise UserError(f"noise folder {folder} does not exist; pass --noise_dirs=<folders "
                                "of background noise recordings>")
        return folders

    def config(self) -> sc.DataConfig:
        return sc.DataConfig(data_dir=self.data_dir, label_mode="all_words",
                             validation_percentage=self.validation_percentage,
                             testing_percentage=self.testing_percentage)

    @functools.cached_property
    def training_pools(self) -> rec.ClipPools:
        """The keyword and other-word clips of the training voices, of the training speakers of
        negative_dirs and of every extra_negative_dirs clip (indexed once)."""
        config = self.config()
        parts = [rec.clip_pools(config, s, self.words) for s in self.train_splits]
        pools = rec.ClipPools(keywords={w: tuple(p for part in parts for p in part.keywords[w])
                                        for w in self.words},
                              unknown=tuple(p for part in parts for p in part.unknown))
        pools = rec.with_negatives(pools, config, "train", self.negative_dirs)
        leave = set(self.words) | {sc.BACKGROUND_NOISE_DIR}
        extra = tuple(p for d in self.extra_negative_dirs for p in hs.audio_files(d)
                      if not leave & set(os.path.relpath(p, d).split(os.sep)[:-1]))
        return dataclasses.replace(pools, unknown=pools.unknown + extra)

    @functools.cached_property
    def validation_pools(self) -> rec.ClipPools:
        """The validation voices' clips and negative_dirs' validation speakers, less the
        validation_leave_out words (indexed once)."""
        config = self.config()
        pools = rec.with_negatives(rec.clip_pools(config, "validation", self.words), config,
                                   "validation", self.negative_dirs)
        leave = set(self.validation_leave_out)
        unknown = tuple(p for p in pools.unknown
                        if os.path.basename(os.path.dirname(p)) not in leave)
        if not unknown:
            raise UserError(f"{self.data_dir}: its validation voices say no other words; add "
                            "other words to the tree (`kws synth --words=...`) or --negative_dirs")
        return dataclasses.replace(pools, unknown=unknown)


@dataclasses.dataclass(frozen=True, kw_only=True)
class StreamPlan:
    """How many recordings, how long, how loud the noise, how many mining rounds."""
    train_streams: int = 12
    train_minutes: float = 20.0
    validation_minutes: float = 60.0
    unknown_share: float = 0.5
    snr_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0, 30.0)
    mining_rounds: int = 1
    mining_streams: int = 4


def validation_stream(cache: hs.Embeddings, data: HeadData, plan: StreamPlan,
                      seed: int) -> hs.Stream:
    return cache.stream("validation", data.validation_pools, rec.RecordingConfig(
        duration_s=60 * plan.validation_minutes, seed=seed, unknown_share=0.5, **GAPS))


def train_head(pools: rec.ClipPools, validation: hs.Stream, plan: StreamPlan,
               recipe: sh.HeadRecipe, out: str, cache: hs.Embeddings, frontend: dict,
               note: dict | None = None) -> dict:
    """Trains, mines and calibrates one head on recordings of ``pools`` into ``out`` (head.keras,
    head.json, detector.json, train_report.json with ``note``); a head already there is kept.
    Returns its train report."""
    report_path = os.path.join(out, "train_report.json")
    if os.path.isfile(report_path):
        with open(report_path, encoding="utf-8") as f:
            return json.load(f)
    print(f"{out}: {sum(map(len, pools.keywords.values()))} keyword clips, "
          f"{len(pools.unknown)} other", flush=True)
    snr = tuple(plan.snr_db)
    streams = [(f"train{i}", cache.stream(f"train{i}", pools, rec.RecordingConfig(
        duration_s=60 * plan.train_minutes, seed=10_000 * (1 + recipe.seed) + i, snr_db=snr,
        unknown_share=plan.unknown_share, **GAPS))) for i in range(plan.train_streams)]
    negatives = dataclasses.replace(pools, keywords={w: v[:1] for w, v in pools.keywords.items()})

    def mining_stream(r: int, i: int):
        name = f"mine{r}_{i}"
        return name, cache.stream(name, negatives, rec.RecordingConfig(
            duration_s=60 * plan.train_minutes, seed=20_000 * (1 + recipe.seed) + 100 * r + i,
            snr_db=snr, unknown_share=1.0, **GAPS))
    seq, win, report = sh.train_with_mining(streams, mining_stream, validation, out, recipe,
                                            plan.mining_rounds, plan.mining_streams)
    report["calibrated"] = sh.save_head(seq, win, validation, out, recipe, frontend)
    report.update(note or {})
    with open(report_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)
    os.replace(report_path + ".tmp", report_path)
    return report


def mean_posteriors(heads: Sequence[str], embeddings: np.ndarray) -> tuple[tuple[str, ...],
                                                                          np.ndarray]:
    """(labels, float32 [n - VIEW + 1, labels]): the mean of the heads' posteriors, by the model
    kws-export makes of an ensemble (the heads must agree on labels and view)."""
    labels, steps, model = embedding_head.heads_model(heads)
    return tuple(labels), sh.head_posteriors(model, embeddings, steps)


def calibrate_ensemble(heads: Sequence[str], validation: hs.Stream, out: str,
                       fa_per_hour: float) -> dict:
    """Writes ``out``/ensemble.json (the heads) and the detector of their mean posterior,
    calibrated on ``validation`` as each head's own is; returns the calibration summary."""
    labels, post = mean_posteriors(heads, validation.embeddings.astype(np.float32))
    try:
        chosen = calibrate.calibrate(
            labels, 1000.0 * validation.end_s[sh.VIEW - 1:], post, validation.events,
            validation.duration_s, fa_per_hour, average_windows_ms=sh.WINDOWS_MS,
            thresholds=sh.THRESHOLDS, shared_threshold=True)
    except ValueError as e:
        raise UserError(f"calibrating the mean of the heads on the validation stream failed: "
                        f"{e}") from e
    os.makedirs(out, exist_ok=True)
    detect.save_detector_file(out, chosen.detector, chosen.summary())
    with open(os.path.join(out, ENSEMBLE_FILE), "w", encoding="utf-8") as f:
        json.dump({"heads": [os.path.abspath(h) for h in heads], "labels": list(labels)}, f,
                  indent=2)
    m = chosen.metrics
    print(f"the mean of {len(heads)} heads, calibrated for {fa_per_hour:g} FA/h on its validation "
          f"stream: misses {100 * m.miss_rate:.1f} % at {m.fa_per_hour:.1f} FA/h; wrote {out}")
    return chosen.summary()


def train(data: HeadData, plan: StreamPlan, recipes: Sequence[sh.HeadRecipe], out: str,
          cache_dir: str, make_embedder: Callable[[], object], frontend: dict) -> dict:
    """One head in ``out`` (one recipe), or a head per recipe (seed) in ``out``/seed_<s> and their
    mean calibrated in ``out``. Returns {"heads": [...], "calibrated": summary}."""
    cache = hs.Embeddings(cache_dir, make_embedder, data.noise)
    heads = [out] if len(recipes) == 1 else [os.path.join(out, f"seed_{r.seed}") for r in recipes]
    reports = [train_head(data.training_pools, validation_stream(cache, data, plan,
                                                                 1000 + recipe.seed),
                          plan, recipe, head, cache, frontend)
               for recipe, head in zip(recipes, heads)]
    if len(recipes) == 1:
        return {"heads": heads, "calibrated": reports[0]["calibrated"]}
    validation = validation_stream(cache, data, plan, ENSEMBLE_VALIDATION_SEED)
    return {"heads": heads, "calibrated": calibrate_ensemble(heads, validation, out,
                                                             recipes[0].fa_per_hour)}
