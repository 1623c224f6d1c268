"""cnn: cnn-trad-fpool3 of Sainath & Parada (2015), "CNNs for small-footprint keyword spotting"."""

from __future__ import annotations

import keras
from keras import layers

from kws.models import layers as kl
from kws.models.config import ModelConfig


def build(config: ModelConfig, input_shape: tuple[int, int]) -> keras.Model:
    """Conv 64 (20x8) + max-pool 3 in frequency, conv 64 (10x4), linear 32 (low rank), dense 128.

    Channels scale with ``config.width``. Layer sizes as in the paper's Table 1 (cnn-trad-fpool3).
    """
    w = config.width
    inputs, x = kl.feature_input(input_shape)
    x = layers.Conv2D(64 * w, (20, 8), padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPool2D((1, 3), name="fpool3")(x)
    x = layers.Conv2D(64 * w, (10, 4), padding="same", activation="relu", name="conv2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(32, name="low_rank")(x)
    x = layers.Dense(128, activation="relu", name="dnn")(x)
    return keras.Model(inputs, kl.classifier(x, config.num_classes, config.dropout), name="cnn")
