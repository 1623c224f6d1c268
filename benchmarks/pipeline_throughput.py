"""Training-pipeline throughput: kws's tf.data pipeline vs a naive per-clip baseline, same run.

    python benchmarks/pipeline_throughput.py --data_dirs=../shared/data/speech_commands_v0.01_unknown_words

The baseline does what TF's speech_commands AudioProcessor does: for every clip, numpy picks the shift
and noise, and one graph call (a session run there, a tf.function here) decodes, shifts, mixes noise and
computes MFCCs. kws: cached decode, then augmentation and features on whole batches. Both use the same
augmentation settings (time shift, background noise, gain; kws adds SpecAugment) and front end.
Figures: examples/s after one warm-up epoch (which fills the cache), median of --epochs.

--recording_rows adds, per dataset, the kws pipeline with the recording-chain augmentations
(kws.data.recording, noise at an SNR) one at a time and together, next to the default pipeline:
the rows take turns epoch by epoch, and each row's fastest epoch is reported.
--compare_convolution times FFT convolution against a depthwise tf.nn convolution for per-example
room impulse responses on [--batch_size, 16000] clips.
"""

from __future__ import annotations

import os
import statistics
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
_EPOCHS = flags.DEFINE_integer("epochs", 3, "Measured epochs of the kws pipeline.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Batch size.")
_BASELINE_CLIPS = flags.DEFINE_integer("baseline_clips", 1000, "Clips run through the baseline.")
_RECORDING_ROWS = flags.DEFINE_bool("recording_rows", False, "Also measure the recording-chain "
                                    "augmentations (speed, reverb, EQ, SNR noise).")
_COMPARE_CONVOLUTION = flags.DEFINE_bool("compare_convolution", False, "Time FFT against direct "
                                         "(depthwise) convolution with per-example RIRs.")

RECORDING_ROWS = {
    "default augmentation": {},
    "+ noise at 0-20 dB SNR": {"background_level": "snr"},
    "+ speed 0.9-1.1 (p=1)": {"speed_probability": 1.0},
    "+ reverb (p=1)": {"reverb_probability": 1.0},
    "+ EQ (p=1)": {"eq_probability": 1.0},
    "+ reverb + EQ (p=1)": {"reverb_probability": 1.0, "eq_probability": 1.0},
    "+ all four (p=1)": {"background_level": "snr", "speed_probability": 1.0,
                         "reverb_probability": 1.0, "eq_probability": 1.0},
    "+ all four (p=0.5)": {"background_level": "snr", "speed_probability": 0.5,
                           "reverb_probability": 0.5, "eq_probability": 0.5},
}


def kws_pipeline_rate(index, features, noise, batch_size, epochs,
                      config: augment.AugmentConfig = augment.AugmentConfig()
                      ) -> tuple[float, int]:
    ds = pl.make_dataset(index, "train", features, pl.PipelineConfig(batch_size=batch_size),
                         config, noise)
    for _ in ds:  # warm-up epoch: traces the functions and fills the cache
        pass
    rates = []
    for _ in range(epochs):
        start, n = time.perf_counter(), 0
        for _, y in ds:
            n += int(y.shape[0])
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates), n


def baseline_rate(index, features, noise_clips, n_clips) -> float:
    """One graph call per clip, random choices in numpy (TF speech_commands' AudioProcessor style)."""
    rng = np.random.default_rng(0)
    clip = features.clip_samples
    max_shift = features.sample_rate_hz // 10

    @tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.int32),
                                  tf.TensorSpec([clip], tf.float32), tf.TensorSpec([], tf.float32),
                                  tf.TensorSpec([], tf.float32)])
    def one(path, shift, noise, volume, gain):
        wav, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=1)
        samples = wav[:clip, 0]
        samples = tf.pad(samples, [[0, clip - tf.shape(samples)[0]]])
        padded = tf.pad(samples, [[max_shift, max_shift]])
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
    for a in args[:50]:
        one(*a)
    start = time.perf_counter()
    for a in args[50:]:
        one(*a)
    return n_clips / (time.perf_counter() - start)


def recording_rates(index, features, noise, batch_size, epochs) -> dict[str, float]:
    """Examples/s of each RECORDING_ROWS pipeline: the rows take turns, one epoch each, ``epochs``
    times, and each row's fastest epoch is reported (the least disturbed on a shared machine)."""
    datasets = {row: pl.make_dataset(index, "train", features,
                                     pl.PipelineConfig(batch_size=batch_size),
                                     augment.AugmentConfig(**options), noise)
                for row, options in RECORDING_ROWS.items()}
    for ds in datasets.values():  # warm-up: traces and fills the cache
        for _ in ds:
            pass
    best = dict.fromkeys(datasets, 0.0)
    for _ in range(epochs):
        for row, ds in datasets.items():
            start, n = time.perf_counter(), 0
            for _, y in ds:
                n += int(y.shape[0])
            best[row] = max(best[row], n / (time.perf_counter() - start))
    return best


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
    print(f"cores: {os.cpu_count()}  tensorflow {tf.__version__}  front end: {features.feature_type} "
          f"{features.feature_shape}, batch {_BATCH_SIZE.value}")
    print(f"{'dataset':<40} {'train clips':>11} {'baseline ex/s':>14} {'kws ex/s':>10} {'speed-up':>9}")
    for data_dir in _DATA_DIRS.value:
        index = sc.index_dataset(sc.DataConfig(data_dir=data_dir, label_mode="all_words",
                                               background_noise_dir=_NOISE_DIR.value))
        noise = pl.load_noise(index, features.clip_samples, features.sample_rate_hz)
        if noise is None:
            raise sc.DatasetError(f"{data_dir}: no background noise; pass --background_noise_dir")
        noise_clips = [np.asarray(n) for n in
                       (audio.read_clip(p, features.sample_rate_hz) for p in index.noise_files)]
        base = baseline_rate(index, features, noise_clips, _BASELINE_CLIPS.value)
        rate, n = kws_pipeline_rate(index, features, noise, _BATCH_SIZE.value, _EPOCHS.value)
        name = os.path.basename(os.path.normpath(data_dir))
        print(f"{name:<40} {n:>11} {base:>14.0f} {rate:>10.0f} {rate / base:>8.1f}x", flush=True)
        if _RECORDING_ROWS.value:
            rates = recording_rates(index, features, noise, _BATCH_SIZE.value, _EPOCHS.value)
            for row, row_rate in rates.items():
                print(f"  {row:<38} {row_rate:>10.0f} ex/s  "
                      f"({row_rate / rates['default augmentation']:.2f}x)", flush=True)


if __name__ == "__main__":
    app.run(main)
