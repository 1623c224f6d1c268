"""Inference graphs without SubSpectralNorm: each one folded into a per-(frequency, channel) affine.

In inference SubSpectralNorm (kws.models.layers) is ``x * scale[band(f), c] + offset[band(f), c]``,
computed through reshape / transpose / batch norm / reshape / transpose: in the converted model
eight ops per norm (RESHAPE, TRANSPOSE, RESHAPE, MUL, ADD, RESHAPE, TRANSPOSE, RESHAPE; four where a
band is one bin wide), each intermediate tensor with its own quantization parameters. The converter
fuses none of it, and it cannot go into the convolution before it: that is a depthwise conv over
frequency whose weights are the same for every frequency bin, while the affine differs from one
sub-band to the next (and the kernel reaches across band edges). The ops after it cannot take it
either: its output feeds an average over frequency and, through the broadcast add, a ReLU, neither
of which has weights.

So ``fold_sub_spectral_norms`` rebuilds the graph with each SubSpectralNorm replaced by a
``BandAffine``: one MUL and one ADD by constant [freq, channels] tensors on the layer's own
[batch, time, freq, channels] input, no reshape. Plain batch norms after convs are left alone: the
TFLite converter folds those into the conv's weights and bias itself (measured: none of their MULs
or ADDs is left in the converted BC-ResNet). Every other layer of the folded model *is* the layer of
the original (shared, weights included). For BC-ResNet-1 this removes 40 of 190 ops and ~10 % of the
int8 bytes (benchmarks/README.md, "BC-ResNet folded at export").

Works on window models and on streaming models (kws.models.streaming.to_streaming): the affine is
per frame, so time is untouched.
"""

from __future__ import annotations

import keras
import numpy as np

from kws.models import layers as kl

FOLDED_SUFFIX = "_folded"
"""A SubSpectralNorm named N becomes the BandAffine N + FOLDED_SUFFIX."""


@keras.saving.register_keras_serializable(package="kws")
class BandAffine(keras.layers.Layer):
    """y = x * scale + offset with weights scale, offset [freq, channels] (inference only).

    Input [batch, time, freq, channels]. A fresh layer is the identity (scale 1, offset 0);
    ``fold_sub_spectral_norms`` sets the weights.
    """

    def build(self, input_shape):
        shape = tuple(input_shape[2:])
        self.scale = self.add_weight(name="scale", shape=shape, initializer="ones",
                                     trainable=False)
        self.offset = self.add_weight(name="offset", shape=shape, initializer="zeros",
                                      trainable=False)

    def call(self, x):
        return x * self.scale + self.offset


def band_affine(norm: kl.SubSpectralNorm, freq: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) float64 [freq, channels] of ``norm`` in inference (its moving statistics).

    SubSpectralNorm's batch norm has one channel per (band, channel), index band * C + c, and band
    s holds frequency bins s * freq / S ... (s + 1) * freq / S - 1.
    """
    bn = norm.bn
    if not bn.built:
        raise ValueError(f"{norm.name} is not built: it has no statistics to fold")
    variance = np.asarray(bn.moving_variance, np.float64)
    scale = 1.0 / np.sqrt(variance + bn.epsilon)
    if bn.scale:
        scale = scale * np.asarray(bn.gamma, np.float64)
    offset = -np.asarray(bn.moving_mean, np.float64) * scale
    if bn.center:
        offset = offset + np.asarray(bn.beta, np.float64)
    bands = norm.sub_bands
    per_band = freq // bands
    channels = scale.size // bands
    return tuple(np.repeat(v.reshape(bands, channels), per_band, axis=0)
                 for v in (scale, offset))


def has_sub_spectral_norm(model: keras.Model) -> bool:
    """Whether ``model`` (or a model nested in it) has a SubSpectralNorm layer."""
    return any(isinstance(layer, kl.SubSpectralNorm)
               or (isinstance(layer, keras.Model) and has_sub_spectral_norm(layer))
               for layer in model.layers)


def fold_sub_spectral_norms(model: keras.Model) -> keras.Model:
    """``model`` with every SubSpectralNorm replaced by its BandAffine (same function in inference).

    Args:
      model: a functional Keras model (window or streaming form) whose SubSpectralNorm layers sit
        at its top level, as kws.models builds them.
    Returns:
      A new functional model, same inputs and outputs, sharing every other layer with ``model``.
      A model without SubSpectralNorm comes back as it is.
    Raises:
      ValueError: a SubSpectralNorm inside a nested model (not rebuilt here) or not built.
    """
    nested = [layer.name for layer in model.layers
              if isinstance(layer, keras.Model) and has_sub_spectral_norm(layer)]
    if nested:
        raise ValueError(f"fold_sub_spectral_norms: SubSpectralNorm inside nested model(s) "
                         f"{', '.join(nested)}; fold the inner model first")
    if not has_sub_spectral_norm(model):
        return model

    affines = {}

    def replace(layer):
        if isinstance(layer, kl.SubSpectralNorm):
            affines[layer.name + FOLDED_SUFFIX] = band_affine(layer, layer.input.shape[2])
            return BandAffine(name=layer.name + FOLDED_SUFFIX)
        return layer  # shared: the same weights

    folded = keras.models.clone_model(model, clone_function=replace)
    for name, weights in affines.items():
        folded.get_layer(name).set_weights([w.astype(np.float32) for w in weights])
    return folded
