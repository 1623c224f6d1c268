r"""A speech-embedding keyword head trained on the time axis (issue 13's recipe on Google's frozen
speech_embedding): long generated training recordings, end-aligned per-step targets, partial words
as negatives, hard-negative mining rounds, the epoch chosen on a validation stream at the
false-accept budget, and a detector calibrated there. Writes a folder for
stream_side_by_side.py --embedding_heads (head.keras, head.json, detector.json).

    python benchmarks/real_voices.py --real_dir=../shared/data/speech_commands_test_v0.02_dev \
        --noise_dir=../shared/data/_background_noise_ --workdir=runs/rv_valu --real_repeat=6 \
        --real_validation_percentage=15 --prepare_only \
        --extra_real_dirs=../shared/data/speech_commands_v0.01_unknown_words --extra_real_repeat=2
    python benchmarks/embedding_stream_head.py --data_dir=runs/rv_valu/merged_data \
        --output_dir=runs/emb_stream_head
    python benchmarks/stream_side_by_side.py --data_dir=runs/rv_valu/merged_data \
        --embedding_heads=runs/emb_stream_head --output_dir=runs/stream_bench_emb_stream

Data: --train_streams recordings of --stream_minutes each (kws.stream_eval.recording, one seed
each) from the training split of --data_dir (real training speakers and synthetic voices), the
training speakers of --negative_dirs (by the speaker rule, as stream_side_by_side.py holds its test
speakers out) and every clip of --extra_negative_dirs (other speech no test stream holds), over
--noise_dirs at --snr_db. Each mining round adds --mining_streams recordings of other words only
(new seeds); the steps where the last round's head gave a keyword >= --mining_threshold weigh
--mining_weight; the round kept is the one with the fewest validation misses. The validation
stream: the validation split's real voices (--validation_voices=all: its synthetic ones too) and
the validation speakers of --negative_dirs. Targets: stream_labels.py.
Embeddings of every recording are cached under --workdir/streams; each round's head under
--output_dir/rounds, so a killed run continues.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import dataclasses
import hashlib
import json
import os
import sys
import time

import numpy as np
from absl import flags

import embedding_onnx as eo
import embedding_stream
import stream_labels as sl
from kws import cli
from kws.data import speech_commands as sc
from kws.device import detect
from kws.errors import UserError
from kws.stream_eval import calibrate
from kws.stream_eval import recording as rec
from kws.stream_eval import truth

_SHARED = os.environ.get("KWS_SHARED_DATA", os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "shared", "data"))
_DATA_DIR = flags.DEFINE_string("data_dir", "runs/rv_valu/merged_data", "A real_voices.py "
                                "merged tree (keyword folders and other words).")
_NEGATIVE_DIRS = flags.DEFINE_list("negative_dirs", [os.path.join(
    _SHARED, "arabic_speech_commands_negatives")], "Other speech split by speaker: training "
    "speakers train, validation speakers validate, test speakers are never read.")
_EXTRA_NEGATIVE_DIRS = flags.DEFINE_list("extra_negative_dirs", [os.path.join(
    _SHARED, "wake_words_picovoice")], "Other speech for training only (every clip).")
_NOISE_DIRS = flags.DEFINE_list("noise_dirs", [os.path.join(_SHARED, "_background_noise_"),
                                               os.path.join(_SHARED, "_background_noise_more")],
                                "Real background noise under the words.")
_VALIDATION_PERCENTAGE = flags.DEFINE_float("validation_percentage", 10.0, "Speaker split of "
                                            "--negative_dirs.")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 30.0, "Speaker split of "
                                         "--negative_dirs (stream_side_by_side.py's).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/emb_stream", "The wheel and the recordings' "
                               "embeddings (shared by runs).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/emb_stream_head", "The head's folder.")
_TRAIN_STREAMS = flags.DEFINE_integer("train_streams", 12, "Training recordings.")
_STREAM_MINUTES = flags.DEFINE_float("stream_minutes", 20.0, "Length of each recording.")
_VALIDATION_MINUTES = flags.DEFINE_float("validation_minutes", 60.0, "The validation stream.")
_VALIDATION_VOICES = flags.DEFINE_enum("validation_voices", "real", ["real", "all"], "real: the "
                                       "validation stream leaves the tree's synthetic voices out "
                                       "(they rank epochs and thresholds unlike real speakers).")
_UNKNOWN_SHARE = flags.DEFINE_float("unknown_share", 0.5, "Share of other words in training.")
_SNR_DB = flags.DEFINE_list("snr_db", ["0", "5", "10", "15", "20", "30"], "Training SNRs.")
_MEAN_GAP_S = flags.DEFINE_float("mean_gap_s", 2.0, "Mean gap between training words.")
_POSITIVE_TAIL_MS = flags.DEFINE_float("positive_tail_ms", 400.0, "stream_labels.py.")
_CUT_WORDS = flags.DEFINE_enum("cut_words", "negative", list(sl.CUT_WORDS), "Cut-off keywords.")
_NEGATIVE_WEIGHT = flags.DEFINE_float("negative_weight", 0.3, "Loss weight of negative steps "
                                      "(positives weigh 1; chosen on the validation stream).")
_MINING_ROUNDS = flags.DEFINE_integer("mining_rounds", 1, "Rounds of hard-negative mining.")
_MINING_STREAMS = flags.DEFINE_integer("mining_streams", 4, "Other-word recordings per round.")
_MINING_THRESHOLD = flags.DEFINE_float("mining_threshold", 0.5, "A step fires at this.")
_MINING_WEIGHT = flags.DEFINE_float("mining_weight", 5.0, "Loss weight of a mined step.")
_EPOCHS = flags.DEFINE_integer("epochs", 30, "Epochs per round.")
_HIDDEN = flags.DEFINE_integer("hidden", 128, "Width of the head.")
_FA_PER_HOUR = flags.DEFINE_float("fa_per_hour", 2.0, "Budget of epoch choice and calibration.")
_THRESHOLDS = flags.DEFINE_enum("thresholds", "shared", ["shared", "per_keyword"], "Calibrated "
                                 "detector: one threshold for all keywords (measured to hold its "
                                 "budget on unseen speakers) or one per keyword.")
_THREADS = flags.DEFINE_integer("threads", 2, "CPU threads of the embedding model.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the recordings and the head.")

VIEW = eo.HEAD_EMBEDDINGS
CHUNK_STEPS = 128
RATE = eo.SAMPLE_RATE_HZ
THRESHOLDS = calibrate.DEFAULT_THRESHOLDS + (0.999, 0.9995, 0.9999)
WINDOWS_MS = (250.0, 400.0, 600.0)


@dataclasses.dataclass(frozen=True)
class Stream:
    """A recording's embeddings [n, 96] float16, their end times [n] (s) and its events."""
    embeddings: np.ndarray
    end_s: np.ndarray
    events: tuple
    duration_s: float


def _audio_files(folder: str) -> tuple[str, ...]:
    found = tuple(os.path.join(d, n) for d, _, names in sorted(os.walk(folder))
                  for n in sorted(names) if n.lower().endswith(sc.AUDIO_EXTENSIONS))
    if not found:
        raise UserError(f"{folder}: no audio files; pass a folder of clips")
    return found


def pools(split: str, negatives_only: bool = False) -> rec.ClipPools:
    data = sc.DataConfig(data_dir=_DATA_DIR.value, label_mode="all_words",
                         validation_percentage=_VALIDATION_PERCENTAGE.value,
                         testing_percentage=_TESTING_PERCENTAGE.value)
    merged = rec.with_negatives(rec.clip_pools(data, split, sc.SPEECH_COMMANDS_KEYWORDS), data,
                                split, _NEGATIVE_DIRS.value)
    if split == "train":
        extra = tuple(p for d in _EXTRA_NEGATIVE_DIRS.value for p in _audio_files(d))
        merged = dataclasses.replace(merged, unknown=merged.unknown + extra)
    if split == "validation" and _VALIDATION_VOICES.value == "real":
        merged = real_only(merged, synthetic_dir())
    return merged


def synthetic_dir() -> str:
    """The synthetic dataset of the merged tree --data_dir (real_voices_split.json)."""
    path = os.path.join(_DATA_DIR.value, "real_voices_split.json")
    if not os.path.isfile(path):
        raise UserError(f"{_DATA_DIR.value} is not a real_voices.py merged tree (no "
                        "real_voices_split.json), so its real voices are unknown; pass "
                        "--validation_voices=all")
    with open(path, encoding="utf-8") as f:
        return os.path.realpath(json.load(f)["synth_dir"]) + os.sep


def real_only(clip_pools: rec.ClipPools, synth_dir: str) -> rec.ClipPools:
    """The pools without the clips under ``synth_dir``."""

    def real(paths):
        return tuple(p for p in paths if not os.path.realpath(p).startswith(synth_dir))
    keywords = {k: real(v) for k, v in clip_pools.keywords.items()}
    empty = [k for k, v in keywords.items() if not v]
    if empty:
        raise UserError(f"{_DATA_DIR.value}: no real validation clips of {', '.join(empty)}; "
                        "pass --validation_voices=all")
    return dataclasses.replace(clip_pools, keywords=keywords, unknown=real(clip_pools.unknown))


def stream(name: str, clip_pools: rec.ClipPools, config: rec.RecordingConfig,
           embedder_box: list) -> Stream:
    """The embeddings of one generated recording, cached by its recipe."""
    recipe = json.dumps([dataclasses.asdict(config), clip_pools.unknown, sorted(
        clip_pools.keywords.items()), _NOISE_DIRS.value], default=str)
    key = hashlib.sha1(recipe.encode()).hexdigest()[:16]
    path = os.path.join(_WORKDIR.value, "streams", f"{name}_{key}.npz")
    if not os.path.isfile(path):
        noise = tuple(p for d in _NOISE_DIRS.value for p in _audio_files(d))
        recording = rec.make_recording(clip_pools, noise, RATE, config)
        if not embedder_box:
            embedder_box.append(eo.Embedder(eo.resources(_WORKDIR.value), _THREADS.value))
        started = time.monotonic()
        emb, ends = embedding_stream.embeddings_of_recording(embedder_box[0], recording.samples)
        print(f"  {name}: {recording.duration_s / 60:.0f} min, {len(recording.events)} words, "
              f"embedded in {time.monotonic() - started:.0f} s", flush=True)
        events = json.dumps([dataclasses.asdict(e) for e in recording.events])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.savez(path + ".tmp.npz", embeddings=emb.astype(np.float16), end_s=ends / RATE,
                 events=np.array(events), duration_s=recording.duration_s)
        os.replace(path + ".tmp.npz", path)
    with np.load(path) as f:
        events = tuple(truth.Event(**e) for e in json.loads(str(f["events"])))
        return Stream(f["embeddings"], f["end_s"], events, float(f["duration_s"]))


def build_head(num_classes: int):
    """(sequence model [b, t, 96] -> [b, t - VIEW + 1, classes], window model [b, VIEW, 96] ->
    [b, classes]) sharing one set of layers: per-embedding dense, a dense over the VIEW
    embeddings (a valid convolution), dense, softmax."""
    import keras  # pylint: disable=import-outside-toplevel
    layers = [keras.layers.Conv1D(_HIDDEN.value, 1, activation="relu"),
              keras.layers.Conv1D(_HIDDEN.value, VIEW, activation="relu"),
              keras.layers.Dropout(0.3),
              keras.layers.Conv1D(_HIDDEN.value, 1, activation="relu"),
              keras.layers.Dropout(0.3),
              keras.layers.Conv1D(num_classes, 1, activation="softmax")]

    def apply(x):
        for layer in layers:
            x = layer(x)
        return x
    seq_in = keras.Input((None, eo.EMBEDDING_DIM))
    win_in = keras.Input((VIEW, eo.EMBEDDING_DIM))
    return (keras.Model(seq_in, apply(seq_in)),
            keras.Model(win_in, keras.layers.Reshape((num_classes,))(apply(win_in))))


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


def labelling() -> sl.StepLabelConfig:
    return sl.StepLabelConfig(positive_tail_ms=_POSITIVE_TAIL_MS.value, cut_words=_CUT_WORDS.value)


def training_set(streams, mined: dict, offset: int, config: sl.StepLabelConfig):
    xs, ys, ws = [], [], []
    for name, s in streams:
        classes, kind = sl.step_labels(s.end_s, s.events, sc.SPEECH_COMMANDS_KEYWORDS, config,
                                       first_step=VIEW - 1)
        weights = sl.step_weights(kind, _NEGATIVE_WEIGHT.value)
        if name in mined:
            weights[mined[name]] *= _MINING_WEIGHT.value
        x, y, w = sl.chunks(s.embeddings, classes, weights, VIEW, CHUNK_STEPS, offset)
        xs.append(x), ys.append(y), ws.append(w)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


def train_round(streams, mined, labels, validation: Stream, round_dir: str):
    """Trains a head from scratch; keeps the epoch with the fewest validation misses at the budget.
    Returns (sequence model, window model, log)."""
    import keras  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(_SEED.value)
    seq, win = build_head(len(labels))
    weights_path = os.path.join(round_dir, "head.weights.h5")
    if os.path.isfile(weights_path):
        seq.load_weights(weights_path)
        with open(os.path.join(round_dir, "log.json"), encoding="utf-8") as f:
            return seq, win, json.load(f)
    x, _, _ = training_set(streams, mined, 0, labelling())
    steps = _EPOCHS.value * int(np.ceil(len(x) / 32))
    seq.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                "sparse_categorical_crossentropy")
    rng = np.random.default_rng(_SEED.value)
    log, best, best_weights = [], (2.0, None), None
    for epoch in range(_EPOCHS.value):
        x, y, w = training_set(streams, mined, int(rng.integers(CHUNK_STEPS)), labelling())
        loss = seq.fit(x, y, sample_weight=w, batch_size=32, epochs=1, verbose=0,
                       shuffle=True).history["loss"][-1]
        miss, detector = best_at_budget(labels, *stream_posteriors(seq, validation), validation,
                                        _FA_PER_HOUR.value)
        log.append({"epoch": epoch + 1, "loss": loss, "validation_miss_rate": miss,
                    "detector": detector})
        print(f"  epoch {epoch + 1}: loss {loss:.4f}, validation misses {100 * miss:.1f} % at "
              f"<= {_FA_PER_HOUR.value:g} FA/h {detector}", flush=True)
        if miss < best[0]:
            best, best_weights = (miss, epoch + 1), seq.get_weights()
    seq.set_weights(best_weights)
    os.makedirs(round_dir, exist_ok=True)
    result = {"epochs": log, "chosen_epoch": best[1], "validation_miss_rate": best[0]}
    with open(os.path.join(round_dir, "log.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    seq.save_weights(weights_path)
    return seq, win, result


RECIPE_FLAGS = ("data_dir", "negative_dirs", "extra_negative_dirs", "noise_dirs",
                "validation_percentage", "testing_percentage", "train_streams", "stream_minutes",
                "validation_minutes", "validation_voices", "unknown_share", "snr_db", "mean_gap_s",
                "positive_tail_ms", "cut_words", "negative_weight", "mining_streams",
                "mining_threshold", "mining_weight", "epochs", "hidden", "fa_per_hour", "seed")
"""The flags a trained round depends on: a rerun into the same --output_dir must give them all
the same values (--mining_rounds may grow: the finished rounds are kept)."""


def check_recipe(path: str) -> None:
    """Writes the recipe flags to ``path``, or refuses a rerun whose flags differ from them."""
    recipe = {name: flags.FLAGS[name].value for name in RECIPE_FLAGS}
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


def main(argv):
    del argv
    labels = (sc.UNKNOWN_LABEL,) + tuple(sc.SPEECH_COMMANDS_KEYWORDS)
    snr = tuple(float(v) for v in _SNR_DB.value)
    if not os.path.isdir(_DATA_DIR.value):
        raise UserError(f"--data_dir {_DATA_DIR.value} does not exist; build it with "
                        "real_voices.py --prepare_only (this file's docstring)")
    if _VALIDATION_VOICES.value == "real":
        synthetic_dir()  # checked before any slow work
    check_recipe(os.path.join(_OUTPUT_DIR.value, "recipe.json"))
    train_pools, val_pools = pools("train"), pools("validation")
    negative_pools = dataclasses.replace(train_pools, keywords={k: v[:1] for k, v in
                                                                train_pools.keywords.items()})
    print(f"training pools: {sum(map(len, train_pools.keywords.values()))} keyword clips, "
          f"{len(train_pools.unknown)} other; validation: "
          f"{sum(map(len, val_pools.keywords.values()))} / {len(val_pools.unknown)}", flush=True)
    box: list = []
    validation = stream("validation", val_pools, rec.RecordingConfig(
        duration_s=60 * _VALIDATION_MINUTES.value, seed=1000 + _SEED.value, unknown_share=0.45),
        box)
    streams = [(f"train{i}", stream(f"train{i}", train_pools, rec.RecordingConfig(
        duration_s=60 * _STREAM_MINUTES.value, seed=10_000 * (1 + _SEED.value) + i, snr_db=snr,
        mean_gap_s=_MEAN_GAP_S.value, min_gap_s=min(0.5, _MEAN_GAP_S.value),
        unknown_share=_UNKNOWN_SHARE.value), box)) for i in range(_TRAIN_STREAMS.value)]
    mined: dict = {}
    report = {"rounds": []}
    best = None  # (validation misses, round, window model weights)
    for r in range(_MINING_ROUNDS.value + 1):
        print(f"round {r}: {len(streams)} recordings, {sum(len(v) for v in mined.values())} "
              "mined steps", flush=True)
        seq, win, log = train_round(streams, mined, labels, validation,
                                    os.path.join(_OUTPUT_DIR.value, "rounds", str(r)))
        report["rounds"].append({"recordings": len(streams), "mined_steps": sum(
            len(v) for v in mined.values()), "chosen_epoch": log["chosen_epoch"],
            "validation_miss_rate": log["validation_miss_rate"]})
        if best is None or log["validation_miss_rate"] < best[0]:
            best = (log["validation_miss_rate"], r, seq.get_weights())
        if r == _MINING_ROUNDS.value:
            break
        for name, s in streams:  # the negatives of the recordings trained on so far
            _, kind = sl.step_labels(s.end_s, s.events, sc.SPEECH_COMMANDS_KEYWORDS,
                                     labelling(), first_step=VIEW - 1)
            fired = sl.fired_steps(stream_posteriors(seq, s)[1], _MINING_THRESHOLD.value
                                   ) + VIEW - 1
            fired = fired[np.isin(kind[fired], (sl.KIND_NEGATIVE, sl.KIND_PARTIAL))]
            mined[name] = np.union1d(mined.get(name, np.zeros(0, np.int64)), fired)
        for i in range(_MINING_STREAMS.value):  # and new other words only: every firing is false
            name = f"mine{r}_{i}"
            s = stream(name, negative_pools, rec.RecordingConfig(
                duration_s=60 * _STREAM_MINUTES.value, seed=20_000 * (1 + _SEED.value) + 100 * r
                + i, snr_db=snr, mean_gap_s=_MEAN_GAP_S.value, min_gap_s=min(
                    0.5, _MEAN_GAP_S.value), unknown_share=1.0), box)
            mined[name] = sl.fired_steps(stream_posteriors(seq, s)[1], _MINING_THRESHOLD.value
                                         ) + VIEW - 1
            streams.append((name, s))
    seq.set_weights(best[2])  # the round with the fewest validation misses at the budget
    report["chosen_round"] = best[1]
    print(f"chose round {best[1]} ({100 * best[0]:.1f} % validation misses)", flush=True)
    times, post = stream_posteriors(seq, validation)
    try:
        chosen = calibrate.calibrate(labels, times, post, validation.events,
                                     validation.duration_s, _FA_PER_HOUR.value,
                                     average_windows_ms=WINDOWS_MS, thresholds=THRESHOLDS,
                                     shared_threshold=_THRESHOLDS.value == "shared")
    except ValueError as e:
        raise UserError(f"calibration on the validation stream failed: {e}") from e
    out = _OUTPUT_DIR.value
    win.save(os.path.join(out, "head.keras"))
    with open(os.path.join(out, "head.json"), "w", encoding="utf-8") as f:
        json.dump({"labels": list(labels), "embeddings": VIEW, "wheel": eo.WHEEL,
                   "workdir": os.path.abspath(_WORKDIR.value), "stream_trained": True}, f,
                  indent=2)
    detect.save_detector_file(out, chosen.detector, chosen.summary())
    report["calibrated"] = chosen.summary()
    report["flags"] = {f.name: f.value for f in flags.FLAGS.get_key_flags_for_module(
        sys.modules[__name__])}
    with open(os.path.join(out, "train_report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, default=str)
    m = chosen.metrics
    print(f"calibrated for {_FA_PER_HOUR.value:g} FA/h on the validation stream: misses "
          f"{100 * m.miss_rate:.1f} % at {m.fa_per_hour:.1f} FA/h; wrote {out}")


if __name__ == "__main__":
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
