"""ds_cnn: depthwise-separable CNN of "Hello Edge" (Zhang et al. 2017), sizes S, M and L.

Layer settings follow the paper's ARM ML-KWS-for-MCU configurations (first conv 10x4, then 3x3
depthwise-separable blocks), with batch norm after every conv as in its code.
"""

from __future__ import annotations

import math

import keras

from kws.models import layers as kl
from kws.models.config import ModelConfig
from kws.models.streaming import TimeAxis

# size -> (channels, first conv strides, [strides of each DS block])
SIZES = {
    "s": (64, (2, 2), [(1, 1)] * 4),
    "m": (172, (2, 1), [(2, 2)] + [(1, 1)] * 3),
    "l": (276, (2, 1), [(2, 2)] + [(1, 1)] * 4),
}


def frames_per_call(config: ModelConfig) -> int:
    """Feature frames per call of the streaming form: the product of the time strides."""
    _, first_strides, block_strides = SIZES[config.size]
    return first_strides[0] * math.prod(s[0] for s in block_strides)


def build(config: ModelConfig, input_shape: tuple[int, int],
          time: TimeAxis | None = None) -> keras.Model:
    time = time or TimeAxis("window" if config.streamable else "same")
    channels, first_strides, block_strides = SIZES[config.size]
    channels = config.channels or channels
    inputs, x = kl.feature_input(input_shape, time)
    x = kl.conv_bn_relu(x, channels, (10, 4), first_strides, name="conv1", time=time)
    for i, strides in enumerate(block_strides):
        x = kl.depthwise_separable(x, channels, strides, name=f"ds{i + 1}", time=time)
    x = time.average(x, "avg_pool")
    suffix = f"_c{config.channels}" if config.channels else ""
    return time.model(inputs, kl.classifier(x, config.num_classes, config.dropout),
                      name=f"ds_cnn_{config.size}{suffix}")
