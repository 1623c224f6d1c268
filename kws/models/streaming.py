"""The time axis of a network, built one of three ways, and conversion to a stateful streaming model.

A family's ``build`` writes its network once against a ``TimeAxis``; the axis decides what the time
dimension does:

* ``same``: convolutions pad time like the papers ('same'). Windows only. Runs made before the
  ``streamable`` option are of this kind.
* ``window``: convolutions do not pad time ('valid'); frequency is padded as 'same' would, with an
  explicit ZeroPadding2D. Every output frame then depends only on input frames of the window, and
  is aligned to the *last* frame it sees (a strided conv drops the window's oldest frames, not its
  newest, and a residual branch is cropped at its start). This is what ``ModelConfig.streamable``
  trains, and the model is an ordinary window classifier.
* ``stream``: the same layers (same names, so the trained weights copy over) on ``frames_per_call``
  new feature frames per call. Each time convolution keeps the input frames it still needs in a
  state tensor (a ring buffer: concatenate, convolve, keep the tail); the final average over time
  keeps the last per-frame vectors it averages. Every state is a model input (``<layer>_state``)
  with a matching output, so the graph is plain CONCATENATION, STRIDED_SLICE, CONV_2D, ... builtins
  and converts to TFLite like any model.

Because window-mode outputs depend only on the frames of the window, the streaming model's output
after a call equals the window model's output on the window that ends with that call's newest frame
(exactly, up to float rounding), once a window's worth of frames has been fed. ``to_streaming``
builds the streaming form of a trained window-mode model and copies its weights: no retraining.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
import numpy as np
from keras import layers

from kws.errors import UserError

MODES = ("same", "window", "stream")
STATE_SUFFIX = "_state"
"""State inputs are named ``<layer><STATE_SUFFIX>``; their outputs ``<layer>_next_state``."""


class TimeAxis:
    """Builds the time-dependent layers of a network in one of MODES (see the module docstring).

    Args:
      mode: one of MODES.
      frames_per_call: stream mode: feature frames per call (the product of the network's time
        strides, so that every layer gets a whole number of frames per call).
      window: stream mode: the trained window-mode model, whose pooling layers say how many frames
        they average.
    """

    def __init__(self, mode: str, frames_per_call: int = 1, window: keras.Model | None = None):
        if mode not in MODES:
            raise ValueError(f"unknown time mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "stream" and window is None:
            raise ValueError("stream mode needs the window model (for its pooling lengths)")
        self.mode, self.frames_per_call, self.window = mode, frames_per_call, window
        self.states: list[tuple[keras.KerasTensor, keras.KerasTensor]] = []
        """(state input, next state output) pairs, in build order (stream mode)."""

    @property
    def padding(self) -> str:
        """The time padding of this mode's window models."""
        return "same" if self.mode == "same" else "valid"

    def input(self, input_shape: tuple[int, int]) -> keras.KerasTensor:
        """The features input: [batch, frames, dim], or [1, frames_per_call, dim] when streaming."""
        if self.mode == "stream":
            return keras.Input(batch_shape=(1, self.frames_per_call, input_shape[1]),
                               name="features")
        return keras.Input(shape=input_shape, name="features")

    def conv(self, x, make: Callable[[str], layers.Layer], kernel: tuple[int, int],
             strides: tuple[int, int] = (1, 1), dilation: int = 1, name: str = "",
             freq_padding: str = "same"):
        """Applies the conv layer ``make(padding)`` (named ``name``) to x [b, time, freq, ch].

        ``kernel``, ``strides`` and ``dilation`` (time only) must be the layer's own;
        ``freq_padding`` is what the layer does to frequency ('same' or 'valid').
        """
        if self.mode == "same":
            return make("same")(x)
        kernel_t, kernel_f = kernel
        stride_t, stride_f = strides
        freq = x.shape[2]
        pad = max((math.ceil(freq / stride_f) - 1) * stride_f + kernel_f - freq, 0)
        if pad and freq_padding == "same":  # what 'same' would pad, frequency only
            x = layers.ZeroPadding2D(((0, 0), (pad // 2, pad - pad // 2)), name=f"{name}_fpad")(x)
        span = (kernel_t - 1) * dilation + 1
        if self.mode == "window":
            frames = x.shape[1]
            if frames < span:
                raise ValueError(f"{name}: {frames} frames left, the kernel spans {span}; the "
                                 "window is too short for this network without time padding")
            drop = (frames - span) % stride_t  # so the last output sees the newest frame
            if drop:
                x = layers.Cropping2D(((drop, 0), (0, 0)), name=f"{name}_align")(x)
        else:
            if x.shape[1] % stride_t:
                raise ValueError(f"{name}: {x.shape[1]} frames per call do not divide by the time "
                                 f"stride {stride_t}")
            keep = span - stride_t
            if keep < 0:
                raise ValueError(f"{name}: time stride {stride_t} above the kernel span {span}")
            if keep:
                x = self._ring(x, keep, name)
        return make("valid")(x)

    def align(self, x, like):
        """x cropped at its start to the frames of ``like`` (a residual over valid convs)."""
        if self.mode != "window" or x.shape[1] == like.shape[1]:
            return x
        drop = x.shape[1] - like.shape[1]
        return layers.Cropping2D(((drop, 0), (0, 0)), name=f"{like.name.split('/')[0]}_crop")(x)

    def average(self, x, name: str):
        """Global average over time and frequency: [b, time, freq, ch] -> [b, ch]."""
        if self.mode != "stream":
            return layers.GlobalAveragePooling2D(name=name)(x)
        frames = self.window.get_layer(name).input.shape[1]
        per_frame = layers.AveragePooling2D((1, x.shape[2]), name=f"{name}_freq")(x)
        per_frame = layers.Reshape((x.shape[1], x.shape[3]), name=f"{name}_frames")(per_frame)
        keep = frames - x.shape[1]
        if keep:
            per_frame = self._ring(per_frame, keep, name)
        return layers.GlobalAveragePooling1D(name=name)(per_frame)

    def model(self, inputs, outputs, name: str) -> keras.Model:
        """The family's Keras model; in stream mode with the states as extra inputs and outputs."""
        if self.mode != "stream":
            return keras.Model(inputs, outputs, name=name)
        return keras.Model([inputs] + [s for s, _ in self.states],
                           [outputs] + [n for _, n in self.states], name=f"stream_{name}")

    def _ring(self, x, keep: int, name: str):
        """[state (keep frames), x] along time; the last ``keep`` frames become the next state."""
        state = keras.Input(batch_shape=(1, keep) + tuple(x.shape[2:]), name=name + STATE_SUFFIX)
        joined = layers.Concatenate(axis=1, name=f"{name}_join")([state, x])
        crop = layers.Cropping2D if len(x.shape) == 4 else layers.Cropping1D
        cut = joined.shape[1] - keep
        crop_arg = ((cut, 0), (0, 0)) if len(x.shape) == 4 else (cut, 0)
        self.states.append((state, crop(crop_arg, name=f"{name}_next_state")(joined)))
        return joined


def to_streaming(window: keras.Model, config, input_shape: tuple[int, int]) -> keras.Model:
    """The stateful streaming form of a trained streamable window model, weights copied.

    Inputs: ``features`` float32 [1, frames_per_call, dim], then one state per ring buffer.
    Outputs: probabilities [1, classes], then the next value of each state, in the same order.
    Feed zeros as the first states (``initial_states``).

    Raises:
      UserError: the model was not trained streamable, or its layers differ from the config's.
    """
    from kws.models import FAMILIES, STREAM_FRAMES  # pylint: disable=import-outside-toplevel

    if not getattr(config, "streamable", False):
        raise UserError(f"{config.name} model was trained with time padding (streamable=false); "
                        "retrain it with kws-train --streamable to get a streaming model")
    axis = TimeAxis("stream", STREAM_FRAMES[config.name](config), window)
    stream = FAMILIES[config.name](config, tuple(input_shape), axis)
    missing = []
    for layer in stream.layers:
        if not layer.weights:
            continue
        try:
            source = window.get_layer(layer.name)
        except ValueError:
            missing.append(layer.name)
            continue
        try:
            layer.set_weights(source.get_weights())
        except ValueError as e:
            raise UserError(f"the streaming form of {window.name} does not match the trained "
                            f"model at layer {layer.name} ({e}); was it built from another "
                            "config?") from e
        if isinstance(layer, layers.Normalization):
            layer.finalize_state()  # its mean/variance are derived from the weights set above
    trained = {layer.name for layer in window.layers if layer.weights}
    missing += sorted(trained - {layer.name for layer in stream.layers})
    if missing:
        raise UserError(f"the streaming form of {window.name} does not match the trained model "
                        f"(layers {', '.join(missing)}); was it built from another config?")
    return stream


def initial_states(model: keras.Model) -> list[np.ndarray]:
    """Zero arrays for every state input of a streaming model, in input order."""
    return [np.zeros(tuple(t.shape), np.float32) for t in model.inputs[1:]]
