"""crnn: a convolutional front over (time, frequency), then GRUs over frames (time-aware model).

After Arik et al. 2017 ("Convolutional recurrent neural networks for small-footprint KWS"): the conv
only strides in frequency, so every feature frame stays a GRU step (which the streaming form needs).
"""

from __future__ import annotations

import keras
from keras import layers

from kws.models import layers as kl
from kws.models.config import ModelConfig


def build(config: ModelConfig, input_shape: tuple[int, int]) -> keras.Model:
    """Conv 16w (3x3, freq stride 2) x2, reshape to frames, GRU 64w x2, last state, dense 64, softmax."""
    w = config.width
    frames, dim = input_shape
    inputs, x = kl.feature_input(input_shape)
    x = kl.conv_bn_relu(x, 16 * w, (3, 3), (1, 2), name="conv1")
    x = kl.conv_bn_relu(x, 16 * w, (3, 3), (1, 2 if dim >= 20 else 1), name="conv2")
    x = layers.Reshape((frames, x.shape[2] * x.shape[3]), name="to_frames")(x)
    x = layers.GRU(64 * w, return_sequences=True, reset_after=True, name="gru1")(x)
    x = layers.GRU(64 * w, return_sequences=False, reset_after=True, name="gru2")(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    return keras.Model(inputs, kl.classifier(x, config.num_classes, config.dropout), name="crnn")
