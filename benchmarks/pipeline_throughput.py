"""Training-pipeline throughput: kws's tf.data pipeline next to two baselines, all in the same run.

    python benchmarks/pipeline_throughput.py \
        --data_dirs=../shared/data/speech_commands_test_v0.02_dev --validation_percentage=0 \
        --testing_percentage=0 --background_noise_dir=../shared/data/_background_noise_ \
        [--output=pipeline.json]

Rows per dataset (examples/s over the training split; batch --batch_size):
  * per-clip baseline: what TF's speech_commands AudioProcessor does: for every clip numpy picks the
    shift and noise, and one graph call (a session run there, a tf.function here) decodes the file,
    shifts, mixes noise and computes the features;
  * plain cached tf.data: decode -> cache -> shuffle -> per-example map (shift, gain, noise;
    stateless TF randomness) -> batch -> front end on the batch -> prefetch, one iterator;
  * kws: ``kws.data.pipeline.make_dataset`` read as training reads it: one dataset of all epochs
    (``epochs=(0, n)``) and ONE iterator over them (Keras' fit with steps_per_epoch keeps it); the
    first epoch (iterator set-up, tracing) is reported apart, then --warmup_epochs, then --epochs;
  * kws, new iterator per epoch: the same dataset made for one epoch and iterated afresh each epoch
    (what this benchmark did before; each new iterator costs its set-up);
  * kws + the whole recording chain: speed, reverberation, EQ (each p=1) and noise at 0-20 dB SNR;
  * front end alone: ``kws.frontend.compute_features`` on one [batch_size, clip] batch, in a
    tf.function.
The kws rows add SpecAugment, which the baselines lack. "set-up s" is make_dataset's time (index to
tensors, decoding every clip into the cache). Each of --repeats rounds runs every row once, in turn
(so load on a shared machine falls on all rows alike); the table gives the min / median / max of
the rounds' steady-state rates, and "x per-clip" / "x plain" the median over rounds of the ratio to
that baseline within the round. The machine's load average is printed before and after.

--recording_rows adds the recording-chain augmentations one at a time (same method).
--compare_convolution times FFT convolution against a depthwise tf.nn convolution for per-example
room impulse responses on [--batch_size, 16000] clips.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from kws import audio
from kws import frontend
from kws.data import augment
from kws.data import pipeline as pl
from kws.data import recording
from kws.data import speech_commands as sc

_DATA_DIRS = flags.DEFINE_list("data_dirs", None, "Datasets to measure (folder-per-word trees).",
                               required=True)
_NOISE_DIR = flags.DEFINE_string("background_noise_dir", "",
                                 "Noise folder for datasets without _background_noise_.")
_LABEL_MODE = flags.DEFINE_enum("label_mode", "all_words", list(sc.LABEL_MODES),
                                "How folders become labels (keywords: + _silence_, _unknown_).")
_VALIDATION_PERCENTAGE = flags.DEFINE_float(
    "validation_percentage", 10.0, "Share of speakers in validation (no lists); 0 with "
    "--testing_percentage=0 puts every clip in train.")
_TESTING_PERCENTAGE = flags.DEFINE_float("testing_percentage", 10.0,
                                         "Share of speakers in test (no lists).")
_EPOCHS = flags.DEFINE_integer("epochs", 5, "Measured epochs per round, after the warm-up.")
_WARMUP_EPOCHS = flags.DEFINE_integer("warmup_epochs", 1, "Epochs after the first, not measured.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Rounds of every row; min/median/max over them.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Batch size.")
_BASELINE_CLIPS = flags.DEFINE_integer("baseline_clips", 1000,
                                       "Clips per round through the per-clip baseline.")
_FRONTEND_CALLS = flags.DEFINE_integer("frontend_calls", 50, "Front-end batches per round.")
_RECORDING_ROWS = flags.DEFINE_bool("recording_rows", False, "Also measure the recording-chain "
                                    "augmentations one at a time (speed, reverb, EQ, SNR noise).")
_COMPARE_CONVOLUTION = flags.DEFINE_bool("compare_convolution", False, "Time FFT against direct "
                                         "(depthwise) convolution with per-example RIRs.")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the report as JSON here.")

WHOLE_CHAIN = {"background_level": "snr", "speed_probability": 1.0, "reverb_probability": 1.0,
               "eq_probability": 1.0}
"""The whole recording chain, every part on every clip."""
RECORDING_ROWS = {
    "kws + noise at 0-20 dB SNR": {"background_level": "snr"},
    "kws + speed 0.9-1.1 (p=1)": {"speed_probability": 1.0},
    "kws + reverb (p=1)": {"reverb_probability": 1.0},
    "kws + EQ (p=1)": {"eq_probability": 1.0},
    "kws + all four (p=0.5)": {"background_level": "snr", "speed_probability": 0.5,
                               "reverb_probability": 0.5, "eq_probability": 0.5},
}
PER_CLIP, PLAIN, KWS = "per-clip baseline (AudioProcessor-style)", "plain cached tf.data", "kws"
NEW_ITERATOR, CHAIN, FRONTEND = ("kws, new iterator per epoch", "kws + whole recording chain (p=1)",
                                 "front end alone")


def _epoch(iterator, steps: int) -> tuple[int, float]:
    """(examples, seconds) of the next ``steps`` batches of ``iterator``."""
    start, n = time.perf_counter(), 0
    for _ in range(steps):
        _, y = next(iterator)
        n += int(y.shape[0])
    return n, time.perf_counter() - start


def _steady(iterator, steps: int, warmup_epochs: int, epochs: int) -> float:
    """Examples/s over ``epochs`` epochs after ``warmup_epochs`` unmeasured ones."""
    for _ in range(warmup_epochs):
        _epoch(iterator, steps)
    n, seconds = zip(*(_epoch(iterator, steps) for _ in range(epochs)))
    return sum(n) / sum(seconds)


def kws_rate(index, features, noise, config: augment.AugmentConfig, batch_size: int,
             warmup_epochs: int, epochs: int) -> dict[str, float]:
    """kws's pipeline read as training reads it: one dataset of every epoch, one iterator."""
    start = time.perf_counter()
    ds = pl.make_dataset(index, "train", features, pl.PipelineConfig(batch_size=batch_size), config,
                         noise, epochs=(0, 1 + warmup_epochs + epochs))
    setup_s = time.perf_counter() - start
    steps = math.ceil(len(index.splits["train"]) / batch_size)
    start = time.perf_counter()
    iterator = iter(ds)  # its set-up belongs to the first epoch
    n, seconds = _epoch(iterator, steps)
    first = n / (time.perf_counter() - start)
    return {"ex_s": _steady(iterator, steps, warmup_epochs, epochs), "first_epoch_ex_s": first,
            "setup_s": setup_s}


def new_iterator_rate(index, features, noise, batch_size: int, warmup_epochs: int,
                      epochs: int) -> dict[str, float]:
    """The same pipeline made for one epoch and iterated afresh every epoch."""
    ds = pl.make_dataset(index, "train", features, pl.PipelineConfig(batch_size=batch_size),
                         augment.AugmentConfig(), noise)
    rates = []
    for e in range(1 + warmup_epochs + epochs):
        start, n = time.perf_counter(), 0
        for _, y in ds:
            n += int(y.shape[0])
        rates.append(n / (time.perf_counter() - start))
    return {"ex_s": statistics.fmean(rates[1 + warmup_epochs:]), "first_epoch_ex_s": rates[0]}


def _decode_file(path, clip: int):
    wav, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
    samples = wav[:clip, 0]
    return tf.pad(samples, [[0, clip - tf.shape(samples)[0]]])


def _shift_gain_noise(samples, seed, noise_all, clip: int, max_shift: int):
    """One clip: shift in [-max_shift, max_shift], gain +-6 dB, noise at U(0, 0.1) on 80 %."""
    s = tf.random.experimental.stateless_split(seed, 5)
    shift = tf.random.stateless_uniform([], s[0], -max_shift, max_shift + 1, tf.int32)
    padded = tf.pad(samples, [[max_shift, max_shift]])
    shifted = tf.slice(padded, [max_shift - shift], [clip])
    gain = 10.0 ** (tf.random.stateless_uniform([], s[1], -6.0, 6.0) / 20.0)
    offset = tf.random.stateless_uniform([], s[2], 0, tf.shape(noise_all)[0] - clip, tf.int32)
    volume = tf.where(tf.random.stateless_uniform([], s[3]) < 0.8,
                      tf.random.stateless_uniform([], s[4], 0.0, 0.1), 0.0)
    noise = tf.slice(noise_all, [offset], [clip])
    return tf.clip_by_value(shifted * gain + noise * volume, -1.0, 1.0)


def plain_rate(index, features, noise_clips, batch_size: int, warmup_epochs: int,
               epochs: int) -> dict[str, float]:
    """A plain cached tf.data pipeline (per-example augmentation), one iterator over epochs."""
    clip, max_shift = features.clip_samples, features.sample_rate_hz // 10
    entries = [(e.path, y) for e, y in zip(index.splits["train"], index.label_ids("train"))
               if e.path]
    paths, labels = zip(*entries)
    noise_all = tf.constant(np.concatenate(noise_clips).astype(np.float32))
    auto = tf.data.AUTOTUNE

    def decode(path, label):
        return _decode_file(path, clip), label

    def augment_one(example, i):
        seed = tf.stack([i, tf.constant(0, tf.int64)])
        return _shift_gain_noise(example[0], seed, noise_all, clip, max_shift), example[1]

    def featurize(batch, labels):
        return frontend.compute_features(batch, features), labels

    ds = (tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
          .map(decode, num_parallel_calls=auto).cache()
          .shuffle(len(paths), seed=0, reshuffle_each_iteration=True).repeat())
    ds = (tf.data.Dataset.zip((ds, tf.data.Dataset.counter()))
          .map(augment_one, num_parallel_calls=auto).batch(batch_size)
          .map(featurize, num_parallel_calls=auto).prefetch(auto))
    steps = math.ceil(len(paths) / batch_size)
    start = time.perf_counter()
    iterator = iter(ds)
    n, _ = _epoch(iterator, steps)  # fills the cache
    first = n / (time.perf_counter() - start)
    return {"ex_s": _steady(iterator, steps, warmup_epochs, epochs), "first_epoch_ex_s": first,
            "clips": len(paths)}


def per_clip_rate(index, features, noise_clips, n_clips: int, seed: int) -> dict[str, float]:
    """One graph call per clip, random choices in numpy (TF speech_commands' AudioProcessor)."""
    rng = np.random.default_rng(seed)
    clip = features.clip_samples
    max_shift = features.sample_rate_hz // 10

    @tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([clip], tf.float32), tf.TensorSpec([], tf.float32),
                                  tf.TensorSpec([], tf.float32)])
    def one(path, shift, noise, volume, gain):
        padded = tf.pad(_decode_file(path, clip), [[max_shift, max_shift]])
        shifted = tf.slice(padded, [max_shift - shift], [clip])
        mixed = tf.clip_by_value(shifted * gain + noise * volume, -1.0, 1.0)
        return frontend.compute_features(mixed, features)

    paths = [e.path for e in index.splits["train"] if e.path]
    args = []
    for i in range(n_clips + 50):
        noise = noise_clips[rng.integers(len(noise_clips))]
        offset = rng.integers(len(noise) - clip)
        args.append((paths[i % len(paths)], np.int32(rng.integers(-max_shift, max_shift + 1)),
                     noise[offset:offset + clip].astype(np.float32),
                     np.float32(rng.uniform(0, 0.1) if rng.uniform() < 0.8 else 0.0),
                     np.float32(10 ** (rng.uniform(-6, 6) / 20))))
    for a in args[:50]:  # warm-up: traces, fills the OS file cache
        one(*a)
    start = time.perf_counter()
    for a in args[50:]:
        one(*a)
    return {"ex_s": n_clips / (time.perf_counter() - start)}


def frontend_rate(features, batch_size: int, calls: int) -> dict[str, float]:
    """The front end alone on one [batch_size, clip] batch, ``calls`` times after a warm-up."""
    x = tf.random.stateless_uniform([batch_size, features.clip_samples], [1, 2], -0.5, 0.5)

    @tf.function
    def fn(batch):
        return frontend.compute_features(batch, features)

    for _ in range(3):
        fn(x).numpy()
    start = time.perf_counter()
    for _ in range(calls):
        fn(x).numpy()
    return {"ex_s": calls * batch_size / (time.perf_counter() - start)}


def convolution_ms(batch: int, rir_length: int, rounds: int) -> tuple[float, float, float]:
    """(FFT ms, depthwise-convolution ms, max |difference|) per [batch, 16000] batch, each clip with
    its own impulse response of ``rir_length`` samples; the lowest of ``rounds``."""
    clip = 16000
    audio = tf.random.stateless_normal([batch, clip], [1, 2]) * 0.1
    rirs = recording.room_impulse_responses(tf.fill([batch], 0.5), tf.zeros([batch]), rir_length,
                                            16000, tf.constant([3, 4], tf.int64))

    @tf.function
    def direct(x, h):
        # batch as channels: a depthwise convolution of [1, 1, time, batch] with [1, L, batch, 1]
        padded = tf.transpose(tf.pad(x, [[0, 0], [rir_length - 1, 0]]))[None, None]
        kernel = tf.transpose(tf.reverse(h, [1]))[None, :, :, None]
        return tf.transpose(tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0, 0])

    fft = tf.function(recording.filter_clips)
    times = {}
    for name, fn in (("fft", fft), ("direct", direct)):
        out = fn(audio, rirs)  # trace
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            fn(audio, rirs).numpy()
            best = min(best, time.perf_counter() - start)
        times[name] = (best * 1000, out.numpy())
    diff = float(np.abs(times["fft"][1] - times["direct"][1]).max())
    return times["fft"][0], times["direct"][0], diff


def _rows(index, features, noise, noise_clips, round_: int) -> dict[str, callable]:
    """Row name -> a call measuring it once."""
    b, w, e = _BATCH_SIZE.value, _WARMUP_EPOCHS.value, _EPOCHS.value
    chain = augment.AugmentConfig(**WHOLE_CHAIN)
    rows = {
        PER_CLIP: lambda: per_clip_rate(index, features, noise_clips, _BASELINE_CLIPS.value,
                                        round_),
        PLAIN: lambda: plain_rate(index, features, noise_clips, b, w, e),
        KWS: lambda: kws_rate(index, features, noise, augment.AugmentConfig(), b, w, e),
        NEW_ITERATOR: lambda: new_iterator_rate(index, features, noise, b, w, e),
        CHAIN: lambda: kws_rate(index, features, noise, chain, b, w, e),
        FRONTEND: lambda: frontend_rate(features, b, _FRONTEND_CALLS.value),
    }
    if _RECORDING_ROWS.value:
        for name, options in RECORDING_ROWS.items():
            rows[name] = (lambda o: lambda: kws_rate(index, features, noise,
                                                     augment.AugmentConfig(**o), b, w, e))(options)
    return rows


def summarize(rounds: list[dict[str, dict[str, float]]]) -> list[dict]:
    """Per row: min / median / max examples/s over the rounds, the medians of the rest, and the
    median over rounds of the row's rate divided by each baseline's rate in the same round."""
    out = []
    for row in rounds[0]:
        rates = [r[row]["ex_s"] for r in rounds]
        entry = {"row": row, "ex_s_min": min(rates), "ex_s_median": statistics.median(rates),
                 "ex_s_max": max(rates), "rounds_ex_s": rates}
        for key in ("first_epoch_ex_s", "setup_s"):
            if key in rounds[0][row]:
                entry[key] = statistics.median(r[row][key] for r in rounds)
        out.append(entry)
    by_row = {e["row"]: e["rounds_ex_s"] for e in out}
    for entry in out:  # ratios within a round (same load), then their median
        for key, base in (("x_per_clip", PER_CLIP), ("x_plain", PLAIN)):
            entry[key] = statistics.median(
                x / b for x, b in zip(entry["rounds_ex_s"], by_row[base]))
    return out


def _print_table(rows: list[dict]) -> None:
    print(f"  {'row':<42} {'min':>7} {'median':>7} {'max':>7} {'1st epoch':>9} {'set-up s':>8} "
          f"{'x per-clip':>10} {'x plain':>7}")
    for r in rows:
        first = f"{r['first_epoch_ex_s']:>9.0f}" if "first_epoch_ex_s" in r else f"{'':>9}"
        setup = f"{r['setup_s']:>8.2f}" if "setup_s" in r else f"{'':>8}"
        print(f"  {r['row']:<42} {r['ex_s_min']:>7.0f} {r['ex_s_median']:>7.0f} "
              f"{r['ex_s_max']:>7.0f} {first} {setup} {r['x_per_clip']:>9.1f}x "
              f"{r['x_plain']:>6.2f}x", flush=True)


def main(argv):
    del argv
    if _COMPARE_CONVOLUTION.value:
        print(f"per-example RIR convolution of [{_BATCH_SIZE.value}, 16000] clips (lowest of 3):")
        print(f"{'RIR samples':>11} {'FFT ms':>8} {'depthwise conv ms':>18} {'max |diff|':>11}")
        for length in (800, 4000, 12800):
            fft_ms, direct_ms, diff = convolution_ms(_BATCH_SIZE.value, length,
                                                     3 if length < 10000 else 1)
            print(f"{length:>11} {fft_ms:>8.1f} {direct_ms:>18.1f} {diff:>11.1e}", flush=True)
    features = frontend.FrontendConfig()
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": sys.argv,
              "machine": {"cores": os.cpu_count(), "platform": platform.platform(),
                          "python": platform.python_version(), "tensorflow": tf.__version__,
                          "loadavg_start": list(os.getloadavg())},
              "settings": {"feature_type": features.feature_type,
                           "feature_shape": list(features.feature_shape),
                           "batch_size": _BATCH_SIZE.value, "repeats": _REPEATS.value,
                           "warmup_epochs": _WARMUP_EPOCHS.value, "epochs": _EPOCHS.value,
                           "label_mode": _LABEL_MODE.value,
                           "validation_percentage": _VALIDATION_PERCENTAGE.value,
                           "testing_percentage": _TESTING_PERCENTAGE.value},
              "datasets": []}
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{report['date']}  cores: {os.cpu_count()}  load average (1/5/15 min): {load}  "
          f"tensorflow {tf.__version__}\nfront end: {features.feature_type} "
          f"{features.feature_shape}, batch {_BATCH_SIZE.value}; {_REPEATS.value} rounds of: first "
          f"epoch, {_WARMUP_EPOCHS.value} warm-up, {_EPOCHS.value} measured (examples/s)")
    for data_dir in _DATA_DIRS.value:
        index = sc.index_dataset(sc.DataConfig(
            data_dir=data_dir, label_mode=_LABEL_MODE.value, background_noise_dir=_NOISE_DIR.value,
            validation_percentage=_VALIDATION_PERCENTAGE.value,
            testing_percentage=_TESTING_PERCENTAGE.value))
        splits = {s: len(x) for s, x in index.splits.items()}
        if not splits["train"]:
            raise sc.DatasetError(
                f"{data_dir}: the training split is empty ({splits}); lower "
                "--validation_percentage / --testing_percentage (0 and 0 put every clip in train)")
        noise = pl.load_noise(index, features.clip_samples, features.sample_rate_hz)
        if noise is None:
            raise sc.DatasetError(f"{data_dir}: no background noise; pass --background_noise_dir")
        noise_clips = [np.asarray(n) for n in
                       (audio.read_clip(p, features.sample_rate_hz) for p in index.noise_files)]
        rounds, start = [], time.perf_counter()
        for round_ in range(_REPEATS.value):
            rounds.append({row: measure() for row, measure in
                           _rows(index, features, noise, noise_clips, round_).items()})
            print(f"round {round_ + 1}/{_REPEATS.value} done after "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        rows = summarize(rounds)
        name = os.path.basename(os.path.normpath(data_dir))
        print(f"{name}: train {splits['train']} examples "
              f"({rounds[0][PLAIN]['clips']} with a file), "
              f"validation {splits['validation']}, test {splits['test']}")
        _print_table(rows)
        report["datasets"].append({"data_dir": data_dir, "name": name, "splits": splits,
                                   "rows": rows})
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    print("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    app.run(main)
