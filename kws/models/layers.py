"""Blocks shared by the model families. Custom layers serialise (registered, get_config)."""

from __future__ import annotations

import keras
from keras import layers

from kws.models.streaming import TimeAxis


def feature_input(input_shape: tuple[int, int], time: TimeAxis | None = None
                  ) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Input [frames, dim] -> per-bin normalised [frames, dim, 1] image.

    The Normalization layer's mean/variance are set by the trainer (``adapt``) from training batches;
    a fresh model normalises nothing (mean 0, variance 1). ``time`` (default: 'same' mode) makes the
    input; in stream mode it holds the frames of one call.
    """
    time = time or TimeAxis("same")
    inputs = time.input(input_shape)
    x = layers.Normalization(axis=-1, name="feature_norm")(inputs)
    return inputs, layers.Reshape(tuple(inputs.shape[1:]) + (1,), name="add_channel")(x)


# Moving statistics follow the batches within ~30 steps: small datasets (a few thousand clips, tens of
# steps per epoch) otherwise evaluate with statistics far from the data (Keras' default is 0.99).
BN_MOMENTUM = 0.9


def batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


def conv_bn_relu(x, filters, kernel, strides=(1, 1), name="", time: TimeAxis | None = None):
    time = time or TimeAxis("same")
    x = time.conv(x, lambda padding: layers.Conv2D(filters, kernel, strides=strides,
                                                   padding=padding, use_bias=False,
                                                   name=f"{name}_conv"),
                  kernel, strides, name=f"{name}_conv")
    x = batch_norm(f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def depthwise_separable(x, filters, strides=(1, 1), name="", time: TimeAxis | None = None):
    """Depthwise 3x3 + BN + ReLU, then pointwise 1x1 + BN + ReLU (the Hello Edge DS block)."""
    time = time or TimeAxis("same")
    x = time.conv(x, lambda padding: layers.DepthwiseConv2D((3, 3), strides=strides,
                                                            padding=padding, use_bias=False,
                                                            name=f"{name}_dw"),
                  (3, 3), strides, name=f"{name}_dw")
    x = batch_norm(f"{name}_dw_bn")(x)
    x = layers.ReLU(name=f"{name}_dw_relu")(x)
    return conv_bn_relu(x, filters, (1, 1), name=f"{name}_pw", time=time)


def classifier(x, num_classes, dropout, name="classifier"):
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name=name)(x)


@keras.saving.register_keras_serializable(package="kws")
class SubSpectralNorm(layers.Layer):
    """Batch norm with separate statistics per frequency sub-band (Chang et al. 2021).

    Input [batch, time, freq, channels]; freq must divide by ``sub_bands``.
    """

    def __init__(self, sub_bands: int, **kwargs):
        super().__init__(**kwargs)
        self.sub_bands = sub_bands
        self.bn = batch_norm("bn")

    def build(self, input_shape):
        _, _, freq, channels = input_shape
        if freq % self.sub_bands:
            raise ValueError(f"SubSpectralNorm: {freq} frequency bins do not split into "
                             f"{self.sub_bands} sub-bands")
        self.bn.build((None, None, freq // self.sub_bands, self.sub_bands * channels))

    def call(self, x, training=None):
        shape = keras.ops.shape(x)
        time, freq, channels = shape[1], x.shape[2], x.shape[3]
        per_band = freq // self.sub_bands
        # [b, t, S, F/S, C] -> [b, t, F/S, S, C] -> [b, t, F/S, S*C]: one BN channel per (band, C).
        y = keras.ops.reshape(x, (-1, time, self.sub_bands, per_band, channels))
        y = keras.ops.transpose(y, (0, 1, 3, 2, 4))
        y = keras.ops.reshape(y, (-1, time, per_band, self.sub_bands * channels))
        y = self.bn(y, training=training)
        y = keras.ops.reshape(y, (-1, time, per_band, self.sub_bands, channels))
        y = keras.ops.transpose(y, (0, 1, 3, 2, 4))
        return keras.ops.reshape(y, (-1, time, freq, channels))

    def get_config(self):
        return {**super().get_config(), "sub_bands": self.sub_bands}
