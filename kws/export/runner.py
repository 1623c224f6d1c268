"""Runs exported .tflite models on LiteRT as batch predictors, for evaluation (no TensorFlow).

``TfliteClassifier`` takes float inputs whatever the model's input type (int8 inputs are quantized
with the model's own scale and zero point), returns float probabilities, and can read the features
the model computed inside its graph (the input of its feature_norm layer), so the exported front end
can be compared with the tf.data one.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from kws import quiet

_FEATURE_NORM = re.compile(r"(^|/)feature_norm(_\d+)?/")


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.int8) -> np.ndarray:
    """q = clip(round(x / scale) + zero_point) to the range of ``dtype``."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q, np.float64) - zero_point) * scale).astype(np.float32)


class TfliteClassifier:
    """One .tflite classifier on LiteRT (1 thread); ``predict`` runs a batch one at a time."""

    def __init__(self, model: bytes, keep_features: bool = False):
        with warnings.catch_warnings():  # keeping all tensors is what we want here
            warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
            self._interpreter = Interpreter(model_content=model, num_threads=1,
                                            experimental_preserve_all_tensors=keep_features)
        with quiet.native_stderr():  # LiteRT's "Created ... XNNPACK delegate" line
            self._interpreter.allocate_tensors()
        self.input = self._interpreter.get_input_details()[0]
        self.output = self._interpreter.get_output_details()[0]
        self._features_index = self._find_features() if keep_features else None

    def _find_features(self) -> int:
        interpreter = self._interpreter
        # pylint: disable=protected-access
        for op in interpreter._get_ops_details():
            names = [interpreter._get_tensor_details(i, 0)["name"] for i in op["outputs"]]
            if any(_FEATURE_NORM.search(n) for n in names):
                return int(op["inputs"][0])
        raise ValueError("the model has no feature_norm op, so no in-graph features to read")

    def _read_features(self) -> np.ndarray:
        """The in-graph features as float (dequantized when the graph holds them as int8)."""
        # pylint: disable-next=protected-access
        details = self._interpreter._get_tensor_details(self._features_index, 0)
        value = self._interpreter.get_tensor(self._features_index)[0]
        if details["dtype"] == np.int8:
            scale, zero_point = details["quantization"]
            return dequantize(value, scale, zero_point)
        return np.asarray(value, np.float32).copy()

    def _invoke(self, x: np.ndarray) -> None:
        details = self.input
        if details["dtype"] == np.int8:
            scale, zero_point = details["quantization"]
            x = quantize(x, scale, zero_point)
        self._interpreter.set_tensor(details["index"], np.asarray(x, details["dtype"])[None])
        self._interpreter.invoke()

    def _output(self) -> np.ndarray:
        y = self._interpreter.get_tensor(self.output["index"])[0]
        if self.output["dtype"] == np.int8:
            scale, zero_point = self.output["quantization"]
            y = dequantize(y, scale, zero_point)
        return np.asarray(y, np.float32)

    def invoke_raw(self, x: np.ndarray) -> np.ndarray:
        """One example in the model's own input type, its output as the model gives it."""
        self._interpreter.set_tensor(self.input["index"], np.asarray(x, self.input["dtype"])[None])
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self.output["index"])[0].copy()

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float inputs [n, ...] -> float32 probabilities [n, num_labels]."""
        outputs = []
        for x in batch:
            self._invoke(x)
            outputs.append(self._output())
        return np.stack(outputs)

    def predict_with_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities [n, labels], in-graph features [n, frames, dim]); needs keep_features."""
        if self._features_index is None:
            raise ValueError("construct with keep_features=True to read in-graph features")
        outputs, features = [], []
        for x in batch:
            self._invoke(x)
            outputs.append(self._output())
            features.append(self._read_features())
        return np.stack(outputs), np.stack(features)
