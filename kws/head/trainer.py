"""A head over frozen speech embeddings trained on the time axis, for any words: the flag-free
core of `kws head` and of the benchmarks embedding_stream_head.py (the ten Speech Commands
keywords), wake_word_head.py and custom_word_head.py (words from synthetic speech).

Generated recordings (kws.head.streams) are embedded once and cached; the head (per
embedding dense, a dense over the last VIEW embeddings as a valid convolution, dense, softmax)
trains on CHUNK_STEPS-step chunks with per-step targets and weights (kws.head.labels); the epoch
kept is the one with the fewest misses on a validation stream at the false-accept budget (or the
last); hard-negative mining rounds weigh the steps that fired on negatives; the round kept is the
one with the fewest validation misses; the detector is calibrated on the validation stream.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import numpy as np

from kws.data import speech_commands as sc
from kws.device import detect
from kws.device import embedding as emb
from kws.errors import UserError
from kws.head import labels as sl
from kws.head.streams import Stream
from kws.stream_eval import calibrate

VIEW = 16
"""Embeddings a head reads: ~2 s of audio (15 hops of 80 ms and one embedding's 0.78 s)."""
CHUNK_STEPS = 128
THRESHOLDS = calibrate.DEFAULT_THRESHOLDS + (0.999, 0.9995, 0.9999)
WINDOWS_MS = (250.0, 400.0, 600.0)
EPOCH_CHOICES = ("validation", "last")


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeadRecipe:
    """What a head is trained on and how (module docstring)."""
    keywords: tuple[str, ...]
    hidden: int = 128
    epochs: int = 30
    negative_weight: float = 0.3
    mining_weight: float = 5.0
    mining_threshold: float = 0.5
    fa_per_hour: float = 2.0
    seed: int = 0
    labelling: sl.StepLabelConfig = sl.StepLabelConfig()
    epoch_choice: str = "validation"

    def __post_init__(self):
        if self.epoch_choice not in EPOCH_CHOICES:
            raise ValueError(f"epoch_choice must be one of {', '.join(EPOCH_CHOICES)}")

    @property
    def labels(self) -> tuple[str, ...]:
        return (sc.UNKNOWN_LABEL,) + tuple(self.keywords)


def build_head(num_classes: int, hidden: int):
    """(sequence model [b, t, 96] -> [b, t - VIEW + 1, classes], window model [b, VIEW, 96] ->
    [b, classes]) sharing one set of layers: per-embedding dense, a dense over the VIEW
    embeddings (a valid convolution), dense, softmax."""
    import keras  # pylint: disable=import-outside-toplevel
    layers = [keras.layers.Conv1D(hidden, 1, activation="relu"),
              keras.layers.Conv1D(hidden, VIEW, activation="relu"),
              keras.layers.Dropout(0.3),
              keras.layers.Conv1D(hidden, 1, activation="relu"),
              keras.layers.Dropout(0.3),
              keras.layers.Conv1D(num_classes, 1, activation="softmax")]

    def apply(x):
        for layer in layers:
            x = layer(x)
        return x
    seq_in = keras.Input((None, emb.EMBEDDING_DIM))
    win_in = keras.Input((VIEW, emb.EMBEDDING_DIM))
    return (keras.Model(seq_in, apply(seq_in)),
            keras.Model(win_in, keras.layers.Reshape((num_classes,))(apply(win_in))))


def head_posteriors(head, embeddings: np.ndarray, steps: int, batch: int = 2048) -> np.ndarray:
    """float32 [n - steps + 1, labels]: the window head on every ``steps`` consecutive rows of
    ``embeddings`` [n, 96]. The head is called, not predict(): predict's per-call set-up cost more
    than the head itself on a clip of a few seconds."""
    views = np.lib.stride_tricks.sliding_window_view(embeddings, steps, axis=0)
    views = np.moveaxis(views, -1, 1)  # [n - steps + 1, steps, 96]
    return np.concatenate([np.asarray(head(views[i:i + batch], training=False))
                           for i in range(0, len(views), batch)]).astype(np.float32)


def stream_posteriors(model, s: Stream) -> tuple[np.ndarray, np.ndarray]:
    """(times ms [n - VIEW + 1], posteriors) of the sequence model over a whole stream."""
    post = model.predict(s.embeddings[None].astype(np.float32), verbose=0)[0]
    return 1000.0 * s.end_s[VIEW - 1:], post


def best_at_budget(labels, times, post, s: Stream, budget: float) -> tuple[float, tuple | None]:
    """Fewest misses at <= budget FA/h with one threshold for all keywords (the shared
    calibration over WINDOWS_MS x THRESHOLDS), and that detector as (window ms, threshold, FA/h);
    (1.0, None) when no detector meets the budget."""
    try:
        c = calibrate.calibrate(labels, times, post, s.events, s.duration_s, budget,
                                average_windows_ms=WINDOWS_MS, thresholds=THRESHOLDS,
                                shared_threshold=True)
    except ValueError:  # no window and threshold keep false accepts within the budget
        return 1.0, None
    return c.metrics.miss_rate, (c.detector.average_window_ms, c.detector.threshold,
                                 c.metrics.fa_per_hour)


def training_set(streams, mined: dict, offset: int, recipe: HeadRecipe):
    """(x, y, w) chunks of every (name, Stream), mined steps weighing recipe.mining_weight."""
    xs, ys, ws = [], [], []
    for name, s in streams:
        classes, kind = sl.step_labels(s.end_s, s.events, recipe.keywords, recipe.labelling,
                                       first_step=VIEW - 1)
        weights = sl.step_weights(kind, recipe.negative_weight)
        if name in mined:
            weights[mined[name]] *= recipe.mining_weight
        x, y, w = sl.chunks(s.embeddings, classes, weights, VIEW, CHUNK_STEPS, offset)
        xs.append(x), ys.append(y), ws.append(w)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def train_round(streams, mined, validation: Stream, round_dir: str, recipe: HeadRecipe):
    """Trains a head from scratch; keeps the epoch with the fewest validation misses at the budget
    (or the last). Returns (sequence model, window model, log); a finished round is loaded."""
    import keras  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(recipe.seed)
    seq, win = build_head(len(recipe.labels), recipe.hidden)
    weights_path = os.path.join(round_dir, "head.weights.h5")
    if os.path.isfile(weights_path):
        seq.load_weights(weights_path)
        with open(os.path.join(round_dir, "log.json"), encoding="utf-8") as f:
            return seq, win, json.load(f)
    x, _, _ = training_set(streams, mined, 0, recipe)
    steps = recipe.epochs * int(np.ceil(len(x) / 32))
    seq.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                "sparse_categorical_crossentropy")
    rng = np.random.default_rng(recipe.seed)
    log, best, best_weights = [], (2.0, None), None
    for epoch in range(recipe.epochs):
        x, y, w = training_set(streams, mined, int(rng.integers(CHUNK_STEPS)), recipe)
        loss = seq.fit(x, y, sample_weight=w, batch_size=32, epochs=1, verbose=0,
                       shuffle=True).history["loss"][-1]
        miss, detector = best_at_budget(recipe.labels, *stream_posteriors(seq, validation),
                                        validation, recipe.fa_per_hour)
        log.append({"epoch": epoch + 1, "loss": loss, "validation_miss_rate": miss,
                    "detector": detector})
        print(f"  epoch {epoch + 1}: loss {loss:.4f}, validation misses {100 * miss:.1f} % at "
              f"<= {recipe.fa_per_hour:g} FA/h {detector}", flush=True)
        if miss < best[0] or (recipe.epoch_choice == "last" and epoch + 1 == recipe.epochs):
            best, best_weights = (miss, epoch + 1), seq.get_weights()
    seq.set_weights(best_weights)
    os.makedirs(round_dir, exist_ok=True)
    result = {"epochs": log, "chosen_epoch": best[1], "validation_miss_rate": best[0]}
    with open(os.path.join(round_dir, "log.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    seq.save_weights(weights_path)
    return seq, win, result


def train_with_mining(streams: list, mining_stream: Callable[[int, int], tuple[str, Stream]],
                      validation: Stream, output_dir: str, recipe: HeadRecipe, rounds: int,
                      mining_streams: int):
    """Round 0 trains on ``streams`` [(name, Stream)]; each later round first mines the
    negatives of the recordings trained on so far, then adds ``mining_streams`` recordings of
    other words only (``mining_stream(round, i)``), where every firing step is false; mined
    steps weigh recipe.mining_weight. Returns (sequence model, window model, report) of the round
    with the fewest validation misses (each round's head under output_dir/rounds: resumable)."""
    streams, mined, report, best = list(streams), {}, {"rounds": []}, None
    for r in range(rounds + 1):
        print(f"round {r}: {len(streams)} recordings, {sum(len(v) for v in mined.values())} "
              "mined steps", flush=True)
        seq, win, log = train_round(streams, mined, validation,
                                    os.path.join(output_dir, "rounds", str(r)), recipe)
        report["rounds"].append({"recordings": len(streams), "mined_steps": sum(
            len(v) for v in mined.values()), "chosen_epoch": log["chosen_epoch"],
            "validation_miss_rate": log["validation_miss_rate"]})
        if best is None or log["validation_miss_rate"] < best[0]:
            best = (log["validation_miss_rate"], r, seq.get_weights())
        if r == rounds:
            break
        for name, s in streams:  # the negatives of the recordings trained on so far
            _, kind = sl.step_labels(s.end_s, s.events, recipe.keywords, recipe.labelling,
                                     first_step=VIEW - 1)
            fired = sl.fired_steps(stream_posteriors(seq, s)[1], recipe.mining_threshold
                                   ) + VIEW - 1
            fired = fired[np.isin(kind[fired], (sl.KIND_NEGATIVE, sl.KIND_PARTIAL))]
            mined[name] = np.union1d(mined.get(name, np.zeros(0, np.int64)), fired)
        for i in range(mining_streams):
            name, s = mining_stream(r, i)
            mined[name] = sl.fired_steps(stream_posteriors(seq, s)[1], recipe.mining_threshold
                                         ) + VIEW - 1
            streams.append((name, s))
    seq.set_weights(best[2])
    report["chosen_round"] = best[1]
    print(f"chose round {best[1]} ({100 * best[0]:.1f} % validation misses)", flush=True)
    return seq, win, report


def save_head(seq, win, validation: Stream, out: str, recipe: HeadRecipe, frontend: dict,
              shared_threshold: bool = True) -> dict:
    """Calibrates the detector on the validation stream and writes head.keras, head.json (with
    ``frontend``: what made the embeddings) and detector.json to ``out``; returns the calibration
    summary."""
    times, post = stream_posteriors(seq, validation)
    try:
        chosen = calibrate.calibrate(recipe.labels, times, post, validation.events,
                                     validation.duration_s, recipe.fa_per_hour,
                                     average_windows_ms=WINDOWS_MS, thresholds=THRESHOLDS,
                                     shared_threshold=shared_threshold)
    except ValueError as e:
        raise UserError(f"calibration on the validation stream failed: {e}") from e
    win.save(os.path.join(out, "head.keras"))
    with open(os.path.join(out, "head.json"), "w", encoding="utf-8") as f:
        json.dump({"labels": list(recipe.labels), "embeddings": VIEW, **frontend,
                   "stream_trained": True}, f, indent=2)
    detect.save_detector_file(out, chosen.detector, chosen.summary())
    m = chosen.metrics
    print(f"calibrated for {recipe.fa_per_hour:g} FA/h on the validation stream: misses "
          f"{100 * m.miss_rate:.1f} % at {m.fa_per_hour:.1f} FA/h; wrote {out}")
    return chosen.summary()


def check_recipe(path: str, recipe: dict) -> None:
    """Writes ``recipe`` (flag name -> value) to ``path``, or refuses a rerun whose values
    differ."""
    recipe = json.loads(json.dumps(recipe))
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            before = json.load(f)
        differ = sorted(k for k in set(recipe) | set(before) if recipe.get(k) != before.get(k))
        if differ:
            raise UserError(f"{os.path.dirname(path)} holds a head trained with other "
                            f"{', '.join('--' + k for k in differ)}; give another --output_dir "
                            "or the same flags (to continue it)")
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(recipe, f, indent=2)
