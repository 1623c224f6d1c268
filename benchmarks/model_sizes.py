"""int8 features-in size, TFLite Micro arena and LiteRT latency of untrained models, BC-ResNet with
its SubSpectralNorms folded (kws.models.fold: what kws-export converts) against unfolded (what it
converted before).

    python benchmarks/model_sizes.py --widths=1 --widths=2 --widths=3 --output=sizes.json
    python benchmarks/model_sizes.py --widths=1 --ds_cnn_channels=64 --ds_cnn_channels=76

Sizes need no training: each model is freshly built (streamable, like the shipped model), its batch
norms and SubSpectralNorms given random scales, shifts and moving statistics (so that no norm is an
identity the converter could drop), and converted with kws-export's own functions
(tflite.convert_features_int8 on tflite.features_model; streaming.convert_stream_features_int8 on
the network of streaming.waveform_stream_model), calibrated on random features. "unfolded" is the
same network converted without the fold.

Per model, the window form (1 s of features in): Keras parameters of the converted graph, operators,
.tflite bytes, the part of them that is tensor names (the converter joins the names of the ops it
fuses into one), the bytes once tensor names are stripped (TensorFlow's
flatbuffer_utils.strip_strings; not what kws-export writes; checked here to give the same int8
outputs on LiteRT), TFLite Micro arena (kws.export.measure) and LiteRT µs per window (1 thread,
lowest of --rounds medians of --runs invokes). Then the streaming form (one feature frame per call,
states in and out): bytes, arena, µs per call. The reference row is DS-CNN-S on 49x10 MFCC, the
shipped model's family (streaming: 4 frames per call).
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import json

import keras
import numpy as np
from absl import app
from absl import flags
from absl import logging
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from kws.export import measure
from kws.export import runner
from kws.export import streaming as export_streaming
from kws.export import tflite
from kws.frontend import FrontendConfig
from kws.models import ModelConfig, build_model
from kws.models import streaming

_WIDTHS = flags.DEFINE_multi_integer("widths", [1, 2, 3], "BC-ResNet widths to measure "
                                     "(repeat the flag).", lower_bound=1, upper_bound=8)
_DS_CNN_CHANNELS = flags.DEFINE_multi_integer(
    "ds_cnn_channels", [64], "DS-CNN-S channel counts to measure (64: DS-CNN-S itself, the "
    "reference row).")
_RUNS = flags.DEFINE_integer("runs", 200, "Invokes per latency measurement.", lower_bound=1)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Latency rounds (lowest median reported).",
                               lower_bound=1)
_OUTPUT = flags.DEFINE_string("output", "", "Also write the rows to this JSON file.")

_CALIBRATION_EXAMPLES = 32
_STREAM_CALIBRATION_CALLS = 120
_NORM_RANGES = {"gamma": (0.3, 2.0), "beta": (-0.5, 0.5), "moving_mean": (-0.5, 0.5),
                "moving_variance": (0.2, 3.0)}


def randomise_norms(model: keras.Model, rng: np.random.Generator) -> keras.Model:
    """Random gamma, beta, moving mean and variance in every batch norm (SubSpectralNorm's too)."""
    for weight in model.weights:
        kind = weight.path.rsplit("/", 1)[-1]
        if kind in _NORM_RANGES:
            weight.assign(rng.uniform(*_NORM_RANGES[kind], weight.shape).astype(np.float32))
    return model


def _unfolded_features_model(body: keras.Model) -> keras.Model:
    """tflite.features_model without the fold."""
    features = keras.Input(shape=body.input_shape[1:], batch_size=1, name="features")
    return keras.Model(features, body(features), name="features_" + body.name)


def anatomy(model: bytes) -> dict:
    """Operators and tensor-name bytes of a .tflite (its one subgraph)."""
    graph = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0)).subgraphs[0]
    return {"ops": len(graph.operators), "name_bytes": sum(len(t.name or b"")
                                                          for t in graph.tensors)}


def stripped_bytes(model: bytes, examples: np.ndarray) -> int:
    """Size of ``model`` without tensor names; RuntimeError unless its int8 outputs are the same."""
    stripped = flatbuffer_utils.convert_bytearray_to_object(model)
    flatbuffer_utils.strip_strings(stripped)
    stripped = flatbuffer_utils.convert_object_to_bytearray(stripped)
    before, after = runner.TfliteClassifier(model), runner.TfliteClassifier(stripped)
    for x in runner.quantize(examples, *before.input["quantization"]):
        if not np.array_equal(before.invoke_raw(x), after.invoke_raw(x)):
            raise RuntimeError("the model without tensor names computes something else")
    return len(stripped)


def _latency_us(model: bytes) -> float:
    return min(measure.litert_latency_us(model, runs=_RUNS.value) for _ in range(_ROUNDS.value))


def measure_window(graph: keras.Model, rng: np.random.Generator) -> dict:
    shape = (_CALIBRATION_EXAMPLES,) + tuple(graph.input_shape[1:])
    model = tflite.convert_features_int8(graph, rng.normal(0, 1, shape).astype(np.float32))
    return {"parameters": int(graph.count_params()), "bytes": len(model), **anatomy(model),
            "stripped_bytes": stripped_bytes(model, rng.normal(0, 1, (4,) + shape[1:])),
            "tflm_arena_bytes": measure.tflm_arena_bytes(model), "latency_us": _latency_us(model),
            "op_names": list(measure.op_names(model))}


def measure_stream(network: keras.Model, rng: np.random.Generator) -> dict:
    """The streaming network fed random frames; its inputs on those calls calibrate it."""
    names = [t.name.split(":")[0] for t in network.inputs]
    states = streaming.initial_states(network)
    samples = []
    for _ in range(_STREAM_CALIBRATION_CALLS):
        frames = rng.normal(0, 1, tuple(network.inputs[0].shape)).astype(np.float32)
        samples.append(dict(zip(names, [frames] + states)))
        states = [np.asarray(s) for s in network([frames] + states, training=False)[1:]]
    model = export_streaming.convert_stream_features_int8(network, samples)
    return {"stream_bytes": len(model), "stream_tflm_arena_bytes": measure.tflm_arena_bytes(model),
            "stream_latency_us": _latency_us(model)}


def measure_all(widths: list[int], ds_cnn_channels: list[int]) -> list[dict]:
    rng = np.random.default_rng(0)
    models = [(f"BC-ResNet-{w}", ModelConfig(name="bc_resnet", width=w, streamable=True),
               FrontendConfig(feature_type="log_mel")) for w in widths]
    models += [("DS-CNN-S" if c == 64 else f"DS-CNN-S, {c} channels",
                ModelConfig(name="ds_cnn", size="s", channels=0 if c == 64 else c, streamable=True),
                FrontendConfig(feature_type="mfcc")) for c in ds_cnn_channels]
    rows = []
    for label, config, features in models:
        body = randomise_norms(build_model(config, features.feature_shape), rng)
        _, folded_stream, _ = export_streaming.waveform_stream_model(body, config, features)
        forms = [("folded" if config.name == "bc_resnet" else "reference",
                  tflite.features_model(body), folded_stream)]
        if config.name == "bc_resnet":
            forms.insert(0, ("unfolded", _unfolded_features_model(body),
                             streaming.to_streaming(body, config, features.feature_shape)))
        for form, window, stream in forms:
            rows.append({"model": f"{label} {form}", **measure_window(window, rng),
                         **measure_stream(stream, rng)})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = ["| model | Keras parameters | ops | int8 bytes | of which tensor names | without names "
             "| TFLM arena | LiteRT µs | stream int8 bytes | stream TFLM arena | stream µs / call |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['ops']} | {r['bytes']:,} | "
                     f"{r['name_bytes']:,} | {r['stripped_bytes']:,} | "
                     f"{r['tflm_arena_bytes']:,} B | {r['latency_us']:.0f} | "
                     f"{r['stream_bytes']:,} | {r['stream_tflm_arena_bytes']:,} B | "
                     f"{r['stream_latency_us']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    del argv
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's converter logs at INFO under absl
    rows = measure_all(_WIDTHS.value, _DS_CNN_CHANNELS.value)
    print(format_rows(rows))
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    app.run(main)
