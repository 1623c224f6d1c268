"""ds_cnn: depthwise-separable CNN of "Hello Edge" (Zhang et al. 2017), sizes S, M and L.

Layer settings follow the paper's ARM ML-KWS-for-MCU configurations (first conv 10x4, then 3x3
depthwise-separable blocks), with batch norm after every conv as in its code.
"""

from __future__ import annotations

import keras
from keras import layers

from kws.models import layers as kl
from kws.models.config import ModelConfig

# size -> (channels, first conv strides, [strides of each DS block])
SIZES = {
    "s": (64, (2, 2), [(1, 1)] * 4),
    "m": (172, (2, 1), [(2, 2)] + [(1, 1)] * 3),
    "l": (276, (2, 1), [(2, 2)] + [(1, 1)] * 4),
}


def build(config: ModelConfig, input_shape: tuple[int, int]) -> keras.Model:
    channels, first_strides, block_strides = SIZES[config.size]
    inputs, x = kl.feature_input(input_shape)
    x = kl.conv_bn_relu(x, channels, (10, 4), first_strides, name="conv1")
    for i, strides in enumerate(block_strides):
        x = kl.depthwise_separable(x, channels, strides, name=f"ds{i + 1}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, kl.classifier(x, config.num_classes, config.dropout),
                       name=f"ds_cnn_{config.size}")
