"""kws.export.names: short tensor names leave a converted model computing exactly what it did, on
LiteRT and TFLite Micro, with every buffer 16-byte aligned and its signature kept."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

from kws.export import measure
from kws.export import names
from kws.export import tflite


def _int8_model() -> bytes:
    """A small conv net converted fully int8 the way kws converts, before renaming."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((20, 10))
    x = keras.layers.Reshape((20, 10, 1))(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="a_rather_long_layer_name_conv")(x)
    x = keras.layers.DepthwiseConv2D(3, activation="relu", name="another_long_depthwise_name")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, activation="softmax", name="the_classifier_head")(x)
    model = keras.Model(inputs, outputs)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: (
        [rng.normal(size=(1, 20, 10)).astype(np.float32)] for _ in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    with warnings.catch_warnings():  # 'Statistics for quantized inputs were expected'
        warnings.simplefilter("ignore", UserWarning)
        return converter.convert()


def _litert(model: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for example in x:
        interpreter.set_tensor(inp["index"], example[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(rows)


def test_renamed_model_computes_the_same_in_fewer_aligned_bytes():
    original = _int8_model()
    renamed = names.short_tensor_names(original)
    assert len(renamed) < len(original)
    x = np.random.default_rng(1).integers(-128, 128, (16, 20, 10)).astype(np.int8)
    np.testing.assert_array_equal(_litert(renamed, x), _litert(original, x))
    # Each runtime computes exactly what it did (LiteRT's optimised kernels and TFLM's reference
    # ones may round one step apart from each other, renamed or not).
    np.testing.assert_array_equal(measure.tflm_run(renamed, list(x)),
                                  measure.tflm_run(original, list(x)))
    parsed = schema.Model.GetRootAsModel(renamed, 0)
    base = np.frombuffer(renamed, np.uint8).ctypes.data
    with_data = [parsed.Buffers(b) for b in range(parsed.BuffersLength())
                 if parsed.Buffers(b).DataLength()]
    assert with_data and all((b.DataAsNumpy().ctypes.data - base) % names.BUFFER_ALIGNMENT == 0
                             for b in with_data)
    graph = parsed.Subgraphs(0)
    assert [graph.Tensors(i).Name() for i in range(graph.TensorsLength())] == [
        f"t{i}".encode() for i in range(graph.TensorsLength())]
    assert parsed.SignatureDefsLength() == schema.Model.GetRootAsModel(
        original, 0).SignatureDefsLength() == 1
    assert Interpreter(model_content=renamed).get_signature_list()  # the runner still finds it


def test_kws_features_int8_models_are_renamed():
    inputs = keras.Input((20, 10))
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs))
    features = np.random.default_rng(2).normal(size=(30, 20, 10)).astype(np.float32)
    model = tflite.convert_features_int8(keras.Model(inputs, outputs), features)
    graph = schema.Model.GetRootAsModel(model, 0).Subgraphs(0)
    assert graph.Tensors(0).Name() == b"t0"
