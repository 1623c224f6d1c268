"""Short tensor names for converted TFLite models: the same graph in fewer bytes.

The TFLite converter names each tensor after every op fused into it ("model/ds_cnn/dw_3/depthwise;
model/ds_cnn/bn_3/FusedBatchNorm;..."): 6.7 KB of a 52 KB int8 DS-CNN-S, 30 KB of a BC-ResNet-1
(benchmarks/README.md, "BC-ResNet folded at export"). A microcontroller never reads them.
``short_tensor_names`` renames every tensor ``t<index>`` and writes the model again with each
buffer's data 16-byte aligned, as the converter writes it (TFLite Micro's kernels read weights in
place). Signature definitions, operators, quantization and weights are untouched, so the model
computes exactly what it did.
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from tensorflow.lite.tools import flatbuffer_utils

BUFFER_ALIGNMENT = 16
"""Alignment of every buffer's data in the written model (the TFLite schema's force_align)."""


class _AlignedBuilder(flatbuffers.Builder):
    """A flatbuffers Builder that aligns byte vectors (buffer data) to BUFFER_ALIGNMENT."""

    def CreateNumpyVector(self, x):  # noqa: N802 (flatbuffers' name)
        if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 1):
            return super().CreateNumpyVector(x)
        self.StartVector(1, x.size, BUFFER_ALIGNMENT)
        self.head = self.head - x.size
        self.Bytes[self.head:self.head + x.size] = x.tobytes()
        self.vectorNumElems = x.size
        return self.EndVector()


def short_tensor_names(model: bytes) -> bytes:
    """``model`` (a .tflite flatbuffer) with its tensors named t0, t1, ... (module docstring)."""
    parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    for subgraph in parsed.subgraphs:
        for i, tensor in enumerate(subgraph.tensors):
            tensor.name = f"t{i}".encode()
    builder = _AlignedBuilder(1024)
    builder.Finish(parsed.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
