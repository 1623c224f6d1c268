"""Keras -> TFLite: waveform-in models with the front end inside, and an int8 features-in model.

Waveform-in models put kws.frontend.compute_features (the very function the tf.data pipeline
uses) in front of the trained network: float32 [1, clip_samples] in [-1, 1] in, float32 class
probabilities [1, num_labels] out.

* float: every op float32.
* int8: the network body int8, the front end (and the feature_norm layer, whose output is what
  gets quantized) float. Plain full-int8 conversion would quantize the front end too (FFT, log,
  DCT: MFCC errors of several units); here the QuantizationDebugger re-quantizes the calibrated
  model with every op of the front end and of feature_norm on its ``denylisted_nodes`` list, which
  keeps them float and puts one QUANTIZE after them and one DEQUANTIZE after the softmax.

The features-in model (for TFLite Micro) is the trained network alone, fully int8 with int8 input
and output, builtin int8 ops only. It takes *normalised* features: its feature_norm layer (a mean and
a standard deviation per feature dimension) moves out of the graph, in front of the int8 input
(``InputNormalization``, written to features_input.json and model_settings.h). Inside the graph the
raw features would share one int8 scale, set by the widest dimension (MFCC c0 spans ~150 units, c9
~12: the higher coefficients got a few levels each, and input rounding alone changed 2-3 % of the
answers); normalised, every dimension gets the same resolution. Every conversion uses TFLiteConverter.from_keras_model (its
from_concrete_functions path is broken on this TensorFlow).

Both export graphs are built from the network with its SubSpectralNorm layers folded
(kws.models.fold; BC-ResNet): the same function in inference, without the reshape / transpose ops
and per-tensor quantization parameters that each norm otherwise leaves in the .tflite.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import warnings
from collections.abc import Iterable
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from kws import frontend
from kws import quiet
from kws.export import names
from kws.models import fold

FRONTEND_LAYER = "kws_frontend"
"""Name of the front-end layer in waveform-in models; its ops' tensors carry it in their names."""
FEATURE_NORM_LAYER = "feature_norm"
"""The Normalization layer every kws model starts with (kws.models.layers.feature_input)."""
_FLOAT_PART = re.compile(rf"(^|/)({FRONTEND_LAYER}|{FEATURE_NORM_LAYER})(_\d+)?/")


class FrontendLayer(keras.layers.Layer):
    """kws.frontend.compute_features as a layer: [batch, clip_samples] -> [batch, frames, dim].

    Only for building export graphs (TensorFlow backend); not meant to be saved.
    """

    def __init__(self, config: frontend.FrontendConfig, **kwargs):
        super().__init__(trainable=False, **kwargs)
        if config.feature_type == "micro":
            raise ValueError("the 'micro' front end is a custom op that cannot go into a .tflite; "
                             "export a model trained on spectrogram, log_mel or mfcc features")
        self.config = config

    def call(self, waveform):
        return frontend.compute_features(waveform, self.config)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self.config.feature_shape


def waveform_model(body: keras.Model, config: frontend.FrontendConfig) -> keras.Model:
    """Front end + ``body`` (SubSpectralNorms folded) as one Keras model, batch fixed at 1 (static
    shapes for TFLite)."""
    body = fold.fold_sub_spectral_norms(body)
    waveform = keras.Input(shape=(config.clip_samples,), batch_size=1, name="waveform")
    features = FrontendLayer(config, name=FRONTEND_LAYER)(waveform)
    return keras.Model(waveform, body(features), name="waveform_" + body.name)


FEATURES_INPUT_FILE = "features_input.json"
"""Beside model_features_int8.tflite: the normalisation its input expects (absent in exports made
before it moved out of the graph: those take raw features)."""


@dataclasses.dataclass(frozen=True)
class InputNormalization:
    """Per feature dimension: the features-in models take ``(features - mean) / std``."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def apply(self, features: np.ndarray) -> np.ndarray:
        """float32 normalised features, [..., dim]."""
        return ((np.asarray(features, np.float32) - np.float32(self.mean))
                / np.float32(self.std)).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"input": "(features - mean) / std, per feature dimension, then the "
                                    "model's int8 input quantization",
                           "mean": list(self.mean), "std": list(self.std)}, indent=1)

    @classmethod
    def of(cls, body: keras.Model) -> "InputNormalization":
        """The statistics of ``body``'s feature_norm layer (as the layer computes them)."""
        layer = body.get_layer(FEATURE_NORM_LAYER)
        mean = np.asarray(keras.ops.convert_to_numpy(layer.mean), np.float64).reshape(-1)
        variance = np.asarray(keras.ops.convert_to_numpy(layer.variance), np.float64).reshape(-1)
        std = np.maximum(np.sqrt(variance), keras.backend.epsilon())
        return cls(mean=tuple(float(m) for m in mean), std=tuple(float(x) for x in std))

    @classmethod
    def load(cls, export_dir: str) -> "InputNormalization | None":
        """The normalisation of an export folder's features-in models; None for an older export
        whose models take raw features."""
        path = os.path.join(export_dir, FEATURES_INPUT_FILE)
        if not os.path.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if len(data.get("mean", ())) != len(data.get("std", ())) or min(data["std"], default=0) <= 0:
            raise ValueError(f"{path}: mean and std must be equally long, std > 0")
        return cls(mean=tuple(data["mean"]), std=tuple(data["std"]))


def without_input_normalization(body: keras.Model) -> keras.Model:
    """A copy of ``body`` whose feature_norm is the identity: it takes normalised features."""
    copy = keras.models.clone_model(body)
    copy.set_weights(body.get_weights())
    layer = copy.get_layer(FEATURE_NORM_LAYER)
    mean, variance, *rest = layer.get_weights()  # adapt_mean, adapt_variance, count
    layer.set_weights([np.zeros_like(mean), np.ones_like(variance), *rest])
    layer.finalize_state()  # recomputes the mean and variance the layer divides by
    return copy


def features_model(body: keras.Model, normalised_input: bool = True) -> keras.Model:
    """``body`` (SubSpectralNorms folded) with a fixed batch of 1, taking features normalised by
    ``InputNormalization.of(body)``; ``normalised_input=False``: raw features, feature_norm in the
    graph (the model kws-export wrote before features_input.json, for comparisons)."""
    body = fold.fold_sub_spectral_norms(body)
    if normalised_input:
        body = without_input_normalization(body)
    features = keras.Input(shape=body.input_shape[1:], batch_size=1, name="features")
    return keras.Model(features, body(features), name="features_" + body.name)


@contextlib.contextmanager
def quiet_conversion() -> Iterator[None]:
    """Keeps a conversion's chatter off the console; anything unexpected still reaches stderr.

    Keras' export prints every captured variable to stdout (dropped). TF's own calibrator and the
    QuantizationDebugger run the deprecated tf.lite.Interpreter internally (kws runs LiteRT
    everywhere else), which warns; a calibrated model's float input has no statistics, by design,
    which warns too (both dropped). The quantizer prints ``fully_quantize: ...`` from C++
    (kws.quiet.native_stderr).
    """
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            quiet.native_stderr():
        warnings.filterwarnings("ignore",
                                message=r"\s*Warning: tf\.lite\.Interpreter is deprecated")
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        yield


def _convert(converter: tf.lite.TFLiteConverter) -> bytes:
    with quiet_conversion():
        return converter.convert()


def _representative(inputs: np.ndarray):
    def generate() -> Iterable[list[np.ndarray]]:
        for x in inputs:
            yield [np.asarray(x, np.float32)[None]]
    return generate


def convert_float(model: keras.Model) -> bytes:
    """All-float32 .tflite of ``model``, builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return _convert(converter)


def float_part_tensors(float_model: bytes) -> list[str]:
    """Output tensor names of the ops of the front end and feature_norm in a converted model."""
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel

    interpreter = Interpreter(model_content=float_model)
    names = []
    for op in interpreter._get_ops_details():  # pylint: disable=protected-access
        for i in op["outputs"]:
            name = interpreter._get_tensor_details(i, 0)["name"]  # pylint: disable=protected-access
            if _FLOAT_PART.search(name):
                names.append(name)
    return names


def convert_waveform_int8(model: keras.Model, calibration: np.ndarray) -> bytes:
    """Waveform-in model: front end and feature_norm float, the rest int8; float input and output.

    Args:
      model: a waveform_model().
      calibration: float32 [n, clip_samples] training clips for the activation ranges.
    """
    keep_float = float_part_tensors(convert_float(model))
    if not keep_float:
        raise RuntimeError("found no front-end ops to keep float in the converted model; the "
                           f"tensor names no longer contain '{FRONTEND_LAYER}/'")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(calibration)
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float)
    with quiet_conversion():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=_representative(calibration[:1]),
            debug_options=options)
        return debugger.get_nondebug_quantized_model()


def convert_features_int8(model: keras.Model, calibration_features: np.ndarray) -> bytes:
    """Features-in model, fully int8 (int8 input and output), builtin int8 ops only (TFLite Micro),
    its tensors named t0, t1, ... (kws.export.names).

    Args:
      model: a features_model().
      calibration_features: float32 [n, frames, dim] normalised features of training clips
        (``InputNormalization.apply``).
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(calibration_features)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    # The microcontroller model: the converter's long tensor names are 13 % of its bytes.
    return names.short_tensor_names(_convert(converter))


def compute_features_batched(waveforms: np.ndarray, config: frontend.FrontendConfig,
                             batch_size: int = 100) -> np.ndarray:
    """compute_features over [n, clip_samples] in batches: float32 [n, frames, dim]."""
    return np.concatenate([frontend.compute_features(waveforms[i:i + batch_size], config).numpy()
                           for i in range(0, len(waveforms), batch_size)])
