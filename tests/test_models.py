"""Model zoo: parameter counts against the papers, save/load round trips, name errors."""

from __future__ import annotations

import numpy as np
import pytest

import keras

from kws.models import FAMILIES, ModelConfig, build_model

pytestmark = pytest.mark.slow  # trains/converts models: left out of the fast Bazel run

MFCC = (49, 10)
LOG_MEL = (49, 40)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# (config, input, trainable parameters, reference)
PARAM_TABLE = [
    # micro_speech tiny_conv: conv 10*8*8+8 = 648, dense 25*20*8*12+12 = 48012.
    (dict(name="tiny_conv"), LOG_MEL, 648 + 48012),
    # Hello Edge DS-CNN-S (ARM ML-KWS-for-MCU config, BN after each conv): conv 10*4*64 + 4 x
    # (dw 9*64 + pw 64*64) + BN gammas/betas 9*128 + dense 64*12+12 = 23,180 trainable
    # (24,332 with BN moving statistics; the MLPerf Tiny DS-CNN is the same network).
    (dict(name="ds_cnn", size="s"), MFCC, 2560 + 4 * (576 + 4096) + 9 * 128 + 780),
    # The same network 72 channels wide: conv 10*4*72 + 4 x (dw 9*72 + pw 72*72) + BN 9*144 +
    # dense 72*12+12.
    (dict(name="ds_cnn", size="s", channels=72), MFCC,
     2880 + 4 * (648 + 5184) + 9 * 144 + 876),
    # BC-ResNet-1: the paper reports 9.2k parameters.
    (dict(name="bc_resnet", width=1), LOG_MEL, 9200),
]


@pytest.mark.parametrize("kwargs, shape, params", PARAM_TABLE)
def test_parameter_counts(kwargs, shape, params):
    assert _trainable(build_model(ModelConfig(**kwargs), shape)) == params


def test_parameter_ranges():
    # Hello Edge Table: DS-CNN M ~ 189.7k and L ~ 497.6k with 10x4 first conv on its own inputs.
    m = _trainable(build_model(ModelConfig(name="ds_cnn", size="m"), MFCC))
    big = _trainable(build_model(ModelConfig(name="ds_cnn", size="l"), MFCC))
    assert 120_000 < m < 200_000 and 380_000 < big < 500_000
    # BC-ResNet-8: the paper reports 321k.
    assert abs(_trainable(build_model(ModelConfig(name="bc_resnet", width=8), LOG_MEL)) - 321_000) \
        < 2_000


@pytest.mark.parametrize("name", list(FAMILIES))
def test_save_load_round_trip_safe_mode(name, tmp_path):
    shape = MFCC if name == "ds_cnn" else LOG_MEL
    model = build_model(ModelConfig(name=name, num_classes=5), shape)
    x = np.random.default_rng(0).normal(size=(3,) + shape).astype(np.float32)
    want = model.predict(x, verbose=0)
    assert want.shape == (3, 5)
    np.testing.assert_allclose(want.sum(axis=1), 1.0, rtol=1e-5)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, atol=1e-6)


def test_unknown_model_lists_valid():
    with pytest.raises(ValueError, match="unknown model 'resnet'; valid: tiny_conv, cnn, ds_cnn"):
        build_model(ModelConfig(name="resnet"), MFCC)


@pytest.mark.parametrize("kwargs, match", [
    (dict(size="xl"), "unknown size 'xl'; valid: s, m, l"),
    (dict(width=9), "width must be in 1..8"),
    (dict(num_classes=1), "num_classes"),
    (dict(channels=4), "channels must be 0"),
    (dict(name="bc_resnet", channels=72), "channels is a ds_cnn option"),
])
def test_bad_model_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)
