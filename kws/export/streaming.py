"""Stateful streaming .tflite models of a streamable run: one hop of audio per call, state in and out.

``kws.models.streaming.to_streaming`` turns the trained window network into its streaming form
(features of ``frames_per_call`` frames in). Here the front end goes in front of it, streaming too:
each call takes hop = frames_per_call x window stride new samples and the last window - stride
samples of the previous call (the ``audio_state``), and computes exactly the new frames with
kws.frontend.compute_features. So the waveform-in streaming model is

    audio [1, hop], audio_state, <layer>_state ...  ->  probabilities [1, labels], next states ...

* stream_float: every op float32.
* stream_int8: the network int8; the front end, its audio state and feature_norm float (as in the
  window int8 model). Its activation ranges are calibrated on the inputs *and states* the float
  streaming model sees when it streams training clips (never test clips).
* stream_features_int8: the network alone (features in, int8 in and out), for TFLite Micro; like
  model_features_int8 it takes features normalised per dimension (tflite.InputNormalization).

All three are built from the streaming network with its SubSpectralNorms folded (kws.models.fold):
the affine is per frame, so it folds in the streaming form exactly as in the window form.

streaming.json (kws.device.model.StreamSpec) names the inputs and outputs by the model's serving
signature and pairs each state input with its output.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from kws import frontend
from kws import quiet
from kws.device import model as device_model
from kws.export import measure
from kws.export import tflite
from kws.models import fold
from kws.models import streaming as model_streaming

AUDIO_INPUT = "audio"
AUDIO_STATE = "audio_state"


class StreamFrontend(keras.layers.Layer):
    """[hop samples, audio state] -> [features of the hop's frames, next audio state]."""

    def __init__(self, config: frontend.FrontendConfig, frames: int, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.config, self.frames = config, frames
        self.keep = config.window_size_samples - config.window_stride_samples

    def call(self, inputs):
        hop, state = inputs
        audio = tf.concat([state, hop], axis=1)
        return frontend.compute_features(audio, self.config), audio[:, -self.keep:]

    def compute_output_shape(self, input_shapes):
        return ((1, self.frames, self.config.feature_dim), (1, self.keep))


def stream_spec(model: keras.Model, config: frontend.FrontendConfig, frames: int,
                input_name: str) -> device_model.StreamSpec:
    """The StreamSpec of a streaming Keras model (input 0 is the audio/features, output i of the
    serving signature is 'output_i', in the order of model.outputs)."""
    names = [t.name.split(":")[0] for t in model.inputs]
    wrong = [n for n in names[1:] if not n.endswith(model_streaming.STATE_SUFFIX)]
    if names[0] != input_name or wrong:
        raise RuntimeError(f"unexpected streaming inputs {names}")
    stride = config.window_stride_samples
    extra = (-(config.num_frames + 1)) % frames  # frames before the clip's, so calls line up
    keep = config.window_size_samples - stride
    return device_model.StreamSpec(
        hop_samples=frames * stride, frames_per_call=frames, prefix_samples=keep + extra * stride,
        input=input_name, probabilities="output_0", state_inputs=tuple(names[1:]),
        state_outputs=tuple(f"output_{i}" for i in range(1, len(model.outputs))))


def stream_network(body: keras.Model, model_config, config: frontend.FrontendConfig
                   ) -> keras.Model:
    """The features-in stateful streaming network of ``body``, SubSpectralNorms folded."""
    return fold.fold_sub_spectral_norms(
        model_streaming.to_streaming(body, model_config, config.feature_shape))


def waveform_stream_model(body: keras.Model, model_config, config: frontend.FrontendConfig
                          ) -> tuple[keras.Model, keras.Model, device_model.StreamSpec]:
    """(waveform-in streaming model, features-in streaming network, the former's StreamSpec); the
    network's SubSpectralNorms are folded (kws.models.fold)."""
    if config.feature_type == "micro":
        raise ValueError("the 'micro' front end keeps internal state and is a custom op; streaming "
                         "export needs spectrogram, log_mel or mfcc features")
    if config.window_size_samples <= config.window_stride_samples:
        raise ValueError("streaming needs windows longer than their stride")
    network = stream_network(body, model_config, config)
    frames = network.inputs[0].shape[1]
    hop = keras.Input(batch_shape=(1, frames * config.window_stride_samples), name=AUDIO_INPUT)
    state = keras.Input(batch_shape=(1, config.window_size_samples
                                     - config.window_stride_samples), name=AUDIO_STATE)
    features, next_audio = StreamFrontend(config, frames, name=tflite.FRONTEND_LAYER)([hop, state])
    states = [keras.Input(batch_shape=t.shape, name=t.name.split(":")[0])
              for t in network.inputs[1:]]
    outputs = network([features] + states)
    model = keras.Model([hop, state] + states, [outputs[0], next_audio] + list(outputs[1:]),
                        name="stream_waveform")
    return model, network, stream_spec(model, config, frames, AUDIO_INPUT)


def _runner(model: bytes, spec: device_model.StreamSpec) -> device_model.StatefulRunner:
    interpreter = Interpreter(model_content=model, num_threads=1)
    with quiet.native_stderr():  # LiteRT's "Created ... XNNPACK delegate" line
        interpreter.allocate_tensors()
    return device_model.StatefulRunner(interpreter, spec)


def calibration_inputs(float_model: bytes, spec: device_model.StreamSpec, waveforms: np.ndarray,
                       max_samples: int = 1000, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Inputs of the float streaming model (audio and states, by name) while it streams
    ``waveforms`` [n, clip_samples] back to back; up to ``max_samples`` calls, spread evenly."""
    runner = _runner(float_model, spec)
    seen = []
    stream = np.concatenate(list(waveforms)).astype(np.float32)
    hop = spec.hop_samples
    for start in range(0, len(stream) - hop + 1, hop):
        seen.append({spec.input: stream[None, start:start + hop],
                     **dict(zip(spec.state_inputs, runner.states))})
        runner.step(stream[start:start + hop])
    picked = np.random.default_rng(seed).permutation(len(seen))[:max_samples]
    return [seen[i] for i in sorted(picked)]


def _dict_dataset(samples: list[dict[str, np.ndarray]]):
    def generate():
        yield from samples
    return generate


def _output_tensor_name(model: bytes, signature_output: str) -> str:
    """The tensor name of a serving-signature output of a converted model."""
    interpreter = Interpreter(model_content=model)
    index = interpreter.get_signature_runner().get_output_details()[signature_output]["index"]
    return interpreter._get_tensor_details(index, 0)["name"]  # pylint: disable=protected-access


def convert_stream_int8(model: keras.Model, samples: list[dict[str, np.ndarray]],
                        spec: device_model.StreamSpec) -> bytes:
    """The waveform-in streaming model with the front end, its audio state and feature_norm float,
    the rest int8. (The next audio state is a graph output, named as one, not by its layer: it is
    kept float by name, else the audio between calls would be quantized to 8 bits.)"""
    float_model = tflite.convert_float(model)
    audio_state_out = spec.state_outputs[spec.state_inputs.index(AUDIO_STATE)]
    keep_float = (tflite.float_part_tensors(float_model)
                  + [_output_tensor_name(float_model, audio_state_out)])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _dict_dataset(samples)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float)
    with tflite.quiet_conversion():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_dict_dataset(samples[:1]), debug_options=options)
        return debugger.get_nondebug_quantized_model()


def features_calibration(samples: list[dict[str, np.ndarray]], config: frontend.FrontendConfig,
                         norm: tflite.InputNormalization) -> list[dict[str, np.ndarray]]:
    """The features-in network's inputs for the same calls: features computed from the audio,
    normalised by ``norm``."""
    out = []
    for sample in samples:
        audio = np.concatenate([sample[AUDIO_STATE], sample[AUDIO_INPUT]], axis=1)
        features = norm.apply(frontend.compute_features(audio, config).numpy())
        out.append({"features": features,
                    **{k: v for k, v in sample.items() if k not in (AUDIO_INPUT, AUDIO_STATE)}})
    return out


def convert_stream_features_int8(network: keras.Model, samples: list[dict[str, np.ndarray]]
                                 ) -> bytes:
    """The streaming network alone, fully int8 (inputs, states and outputs int8): TFLite Micro."""
    converter = tf.lite.TFLiteConverter.from_keras_model(network)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _dict_dataset(samples)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return tflite._convert(converter)  # pylint: disable=protected-access


def stream_clips(model: bytes, spec: device_model.StreamSpec, clips: np.ndarray) -> np.ndarray:
    """Probabilities [n, labels] of each clip [n, clip_samples], streamed from a fresh state
    (device_model.stream_of_clip): the last call's output."""
    runner = _runner(model, spec)
    out = []
    for clip in clips:
        runner.reset()
        stream = device_model.stream_of_clip(clip, spec)
        for start in range(0, len(stream), spec.hop_samples):
            scores = runner.step(stream[start:start + spec.hop_samples])
        out.append(scores)
    return np.stack(out)


STREAM_FILES = {"stream_float": device_model.STREAM_FLOAT_MODEL,
                "stream_int8": device_model.STREAM_INT8_MODEL,
                "stream_features_int8": device_model.STREAM_FEATURES_INT8_MODEL}
FLOAT_PARITY_ATOL = 1e-4
"""Gate: largest |streaming float - Keras window| probability on the test split."""
MAX_INT8_ACCURACY_DROP = 0.005
"""Gate: streaming int8 accuracy at most this far below Keras (0.5 pt)."""


def export_streaming(body: keras.Model, train_config, calibration: np.ndarray, test_batches,
                     latency_runs: int, write, window_latency_us: dict[str, float]) -> dict:
    """Converts, writes (``write(name, data)``) and scores the streaming models of a streamable run.

    Args:
      calibration: float32 [n, clip_samples] training clips (streamed back to back to calibrate).
      test_batches: iterable of (waveforms [b, clip_samples], labels [b]) of the test split.
      window_latency_us: {'float': µs, 'int8': µs} of the window models, for the per-hop ratio.
    Returns:
      The report's "streaming" section.
    """
    features = train_config.features
    model, _, spec = waveform_stream_model(body, train_config.model, features)
    models = {"stream_float": tflite.convert_float(model)}
    samples = calibration_inputs(models["stream_float"], spec, calibration)
    models["stream_int8"] = convert_stream_int8(model, samples, spec)
    # The TFLite Micro network takes normalised features, as model_features_int8 does.
    network = stream_network(tflite.without_input_normalization(body), train_config.model, features)
    models["stream_features_int8"] = convert_stream_features_int8(
        network, features_calibration(samples, features, tflite.InputNormalization.of(body)))
    for key, data in models.items():
        write(STREAM_FILES[key], data)
    write(device_model.STREAMING_FILE, spec.to_json() + "\n")

    labels, keras_probs, stream_probs = [], [], {"stream_float": [], "stream_int8": []}
    for waveforms, y in test_batches:
        labels.append(y)
        keras_probs.append(body(tflite.compute_features_batched(waveforms, features),
                                training=False).numpy())
        for key in stream_probs:
            stream_probs[key].append(stream_clips(models[key], spec, waveforms))
    y = np.concatenate(labels)
    keras_probs = np.concatenate(keras_probs)
    keras_top = np.argmax(keras_probs, -1)
    accuracy = {"keras": float(np.mean(keras_top == y))}
    agreement, max_diff = {}, {}
    for key, probs in stream_probs.items():
        probs = np.concatenate(probs)
        accuracy[key] = float(np.mean(np.argmax(probs, -1) == y))
        agreement[key] = float(np.mean(np.argmax(probs, -1) == keras_top))
        max_diff[key] = float(np.max(np.abs(probs - keras_probs)))
    hop_ms = 1000.0 * spec.hop_samples / features.sample_rate_hz
    info = {key: {"file": STREAM_FILES[key], "bytes": len(data),
                  "ops": list(measure.op_names(data)),
                  "latency_us": measure.litert_latency_us(data, runs=latency_runs)}
            for key, data in models.items()}
    info["stream_features_int8"]["tflm_arena_bytes"] = measure.tflm_arena_bytes(
        models["stream_features_int8"])
    drop = accuracy["keras"] - accuracy["stream_int8"]
    return {
        "spec": dataclasses.asdict(spec), "hop_ms": hop_ms, "models": info,
        "per_hop_speedup": {kind: window_latency_us[kind] / info[f"stream_{kind}"]["latency_us"]
                            for kind in ("float", "int8")},
        "test": {"examples": int(len(y)), "accuracy": accuracy, "agreement_with_keras": agreement,
                 "max_abs_probability_diff": max_diff},
        "gates": {
            "float_parity_max_abs": {"value": max_diff["stream_float"], "max": FLOAT_PARITY_ATOL,
                                     "passed": max_diff["stream_float"] <= FLOAT_PARITY_ATOL},
            "int8_accuracy_drop": {"value": drop, "max": MAX_INT8_ACCURACY_DROP,
                                   "passed": drop <= MAX_INT8_ACCURACY_DROP + 1e-12}},
    }


def format_lines(section: dict) -> list[str]:
    """The streaming part of the export table."""
    lines = [f"streaming models: {section['spec']['frames_per_call']} frame(s) = "
             f"{section['hop_ms']:g} ms of audio per call"]
    test = section["test"]
    for key, info in section["models"].items():
        line = f"{info['file']:<28} {info['bytes']:>9,} {info['latency_us']:>10.1f}"
        if key in test["accuracy"]:
            line += (f" {test['accuracy'][key]:>18.2%} "
                     f"{test['agreement_with_keras'][key]:>7.1%}")
        lines.append(line)
    lines.append(f"TFLite Micro arena of stream_features_int8.tflite: "
                 f"{section['models']['stream_features_int8']['tflm_arena_bytes']:,} bytes")
    lines.append("compute per hop, window model every hop / streaming call: " + ", ".join(
        f"{kind} {ratio:.1f}x" for kind, ratio in section["per_hop_speedup"].items()))
    lines.append("streaming gates on test: " + ", ".join(
        f"{gate} {g['value']:.3g} ({'ok' if g['passed'] else 'FAILED'})"
        for gate, g in section["gates"].items()))
    return lines
