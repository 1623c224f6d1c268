"""Keras model zoo: one module per family, each exposing ``build(config, input_shape)``.

``build_model(config, input_shape)`` picks the family by ``config.name``; unknown names raise a
ValueError listing the valid ones.
"""

from __future__ import annotations

import dataclasses

import keras

from kws.models import bc_resnet
from kws.models import cnn
from kws.models import crnn
from kws.models import ds_cnn
from kws.models import tiny_conv
from kws.models.config import ModelConfig

FAMILIES = {
    "tiny_conv": tiny_conv.build,
    "cnn": cnn.build,
    "ds_cnn": ds_cnn.build,
    "bc_resnet": bc_resnet.build,
    "crnn": crnn.build,
}


STREAM_FRAMES = {"ds_cnn": ds_cnn.frames_per_call, "bc_resnet": bc_resnet.frames_per_call}
"""Streamable families: feature frames per call of their streaming form."""


def build_model(config: ModelConfig, input_shape: tuple[int, int]) -> keras.Model:
    """A fresh model for features of ``input_shape`` ([frames, feature_dim])."""
    if config.name not in FAMILIES:
        raise ValueError(f"unknown model {config.name!r}; valid: {', '.join(FAMILIES)}")
    return FAMILIES[config.name](config, tuple(input_shape))


__all__ = ["FAMILIES", "STREAM_FRAMES", "ModelConfig", "build_model", "dataclasses"]
