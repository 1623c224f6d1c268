r"""Where the features-in int8 model loses accuracy, and what normalising its input gains.

    python benchmarks/int8_input.py --workdirs=runs/cv_real_unknown_reversed_f0,... [--checkpoint=best]

For each kws-train run: its test split (for a `--real_folds` run, the held-out real speakers)
scored by the Keras model (float), and by the features-in int8 model two ways, each calibrated on
the same 400 training clips (kws-export's draw):
* "in-graph norm": the network with its feature_norm inside, raw features quantized with one int8
  scale (what kws-export wrote before features_input.json);
* "normalised input": (features - mean) / std per dimension first, then int8 (kws-export today).
Also the float model on raw features rounded to the first model's int8 input grid: the share of the
disagreement that input rounding alone causes. Prints per run and pooled: accuracy, int8 drop
(points) and top-1 agreement with float.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow

import numpy as np
from absl import app
from absl import flags
from absl import logging

from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.export import clips
from kws.export import exporter
from kws.export import runner
from kws.export import tflite

_WORKDIRS = flags.DEFINE_list("workdirs", None, "kws-train working directories.", required=True)
_CHECKPOINT = flags.DEFINE_string("checkpoint", "best", "Checkpoint of each run.")
_CALIBRATION_CLIPS = flags.DEFINE_integer("calibration_clips", 400, "Training clips calibrated on.")


def measure(workdir: str) -> dict:
    config, _, body = exporter.load_run(workdir, _CHECKPOINT.value)
    index = sc.index_dataset(config.data)
    features = config.features
    noise = pl.load_noise(index, features.clip_samples, config.data.sample_rate_hz)
    calibration = tflite.compute_features_batched(clips.calibration_waveforms(
        index, _CALIBRATION_CLIPS.value, 0, features, config.pipeline, noise), features)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in pl.make_dataset(
        index, "test", features, config.pipeline, noise=noise)])
    x, y = np.concatenate(xs), np.concatenate(ys)
    float_top = np.argmax(body.predict(x, batch_size=500, verbose=0), -1)
    norm = tflite.InputNormalization.of(body)
    old = tflite.convert_features_int8(tflite.features_model(body, normalised_input=False),
                                      calibration)
    new = tflite.convert_features_int8(tflite.features_model(body), norm.apply(calibration))
    old_runner = runner.TfliteClassifier(old)
    scale, zero_point = old_runner.input["quantization"]
    rounded = runner.dequantize(runner.quantize(x, scale, zero_point), scale, zero_point)
    tops = {"float": float_top,
            "float, int8-rounded input": np.argmax(body.predict(rounded.astype(np.float32),
                                                                batch_size=500, verbose=0), -1),
            "int8, in-graph norm": np.argmax(old_runner.predict(x), -1),
            "int8, normalised input": np.argmax(runner.TfliteClassifier(new).predict(
                norm.apply(x)), -1)}
    std = x.reshape(-1, x.shape[-1]).std(0)
    return {"y": y, "tops": tops, "input_scale": float(scale),
            "levels_per_std": (std / scale).round(1).tolist(), "bytes": (len(old), len(new))}


def _line(name: str, y: np.ndarray, tops: dict) -> str:
    acc = {k: float(np.mean(t == y)) for k, t in tops.items()}
    cells = [f"{acc['float']:.2%}"]
    for key in list(tops)[1:]:
        cells.append(f"{acc[key]:.2%} ({100 * (acc['float'] - acc[key]):+.2f} pt, "
                     f"agree {np.mean(tops[key] == tops['float']):.1%})")
    return f"| {name} | {len(y)} | " + " | ".join(cells) + " |"


def main(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's converter logs at INFO under absl
    results = {}
    for workdir in _WORKDIRS.value:
        results[workdir] = measure(workdir)
        r = results[workdir]
        print(f"{workdir}: input scale {r['input_scale']:.3f}, int8 levels per std of each "
              f"dimension {r['levels_per_std']}, bytes in-graph {r['bytes'][0]:,} / normalised "
              f"{r['bytes'][1]:,}", flush=True)
    keys = list(next(iter(results.values()))["tops"])
    print("\n| run | clips | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for workdir, r in results.items():
        print(_line(workdir, r["y"], r["tops"]))
    if len(results) > 1:
        y = np.concatenate([r["y"] for r in results.values()])
        tops = {k: np.concatenate([r["tops"][k] for r in results.values()]) for k in keys}
        print(_line("**pooled**", y, tops))


if __name__ == "__main__":
    app.run(main)
