"""tiny_conv: the micro_speech model (TF speech_commands `tiny_conv`): one strided conv + dense."""

from __future__ import annotations

import keras
from keras import layers

from kws.models import layers as kl
from kws.models.config import ModelConfig


def build(config: ModelConfig, input_shape: tuple[int, int]) -> keras.Model:
    """Conv 8 filters 10x8 stride 2x2 + ReLU, dropout, dense softmax (~16k params on 49x40)."""
    inputs, x = kl.feature_input(input_shape)
    x = layers.Conv2D(8, (10, 8), strides=(2, 2), padding="same", activation="relu",
                      name="conv")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, kl.classifier(x, config.num_classes, config.dropout), name="tiny_conv")
