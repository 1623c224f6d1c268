"""Streamable models and their stateful streaming form (kws.models.streaming).

The streaming model is fed a long feature sequence a call at a time; after every call whose newest
frame completes a window, its output must equal the window model run on that window (the last
``frames`` frames), computed here by slicing the sequence and calling the window model directly.
"""

import keras
import numpy as np
import pytest

from kws.errors import UserError
from kws.models import STREAM_FRAMES, ModelConfig, build_model
from kws.models import streaming
from kws.models.config import STREAMABLE_FAMILIES

FRAMES = 49
PARITY_ATOL = 1e-5
"""Largest |streaming - window| probability allowed (float32 rounding of the same arithmetic)."""


def _trained_like(model: keras.Model, dim: int, rng: np.random.Generator, frames: int = FRAMES
                  ) -> keras.Model:
    """Gives the model statistics and weights like a trained one: an adapted feature_norm (mean
    and variance far from 0 and 1), random batch-norm scales and shifts with moving statistics
    of real activations, and a classifier whose outputs are far from one-hot."""
    data = rng.normal(3.0, 2.0, (64, frames, dim)).astype(np.float32)
    model.get_layer("feature_norm").adapt(data)
    for weight in model.weights:
        if weight.path.endswith(("gamma", "beta")):
            low, high = (0.5, 1.5) if weight.path.endswith("gamma") else (-0.2, 0.2)
            weight.assign(rng.uniform(low, high, weight.shape).astype(np.float32))
    for _ in range(25):  # momentum 0.9: the moving statistics settle on these activations
        model(data, training=True)
    kernel, bias = model.get_layer("classifier").get_weights()
    model.get_layer("classifier").set_weights(
        [rng.normal(0, 3.0 / np.sqrt(kernel.shape[0]), kernel.shape).astype(np.float32), bias])
    return model


CASES = [
    pytest.param(ModelConfig(name="ds_cnn", size="s", num_classes=6, streamable=True), 10,
                 id="ds_cnn_s"),
    pytest.param(ModelConfig(name="ds_cnn", size="m", num_classes=6, streamable=True), 10,
                 id="ds_cnn_m"),
    pytest.param(ModelConfig(name="bc_resnet", width=1, num_classes=6, streamable=True), 40,
                 id="bc_resnet_1"),
]


@pytest.mark.slow
@pytest.mark.parametrize("config,dim", CASES)
def test_streaming_output_equals_the_window_model_on_every_window(config, dim):
    rng = np.random.default_rng(0)
    window = _trained_like(build_model(config, (FRAMES, dim)), dim, rng)
    stream = streaming.to_streaming(window, config, (FRAMES, dim))
    step = STREAM_FRAMES[config.name](config)
    assert stream.inputs[0].shape == (1, step, dim)

    calls = FRAMES // step + 8
    features = rng.normal(3.0, 2.0, (calls * step, dim)).astype(np.float32)
    states = streaming.initial_states(stream)
    streamed, expected = [], []
    for c in range(calls):
        outputs = stream([features[None, c * step:(c + 1) * step]] + states, training=False)
        states = [np.asarray(o) for o in outputs[1:]]
        end = (c + 1) * step
        if end >= FRAMES:  # a whole window fed: compare with the window ending at this frame
            streamed.append(np.asarray(outputs[0])[0])
            expected.append(window(features[None, end - FRAMES:end], training=False).numpy()[0])
    streamed, expected = np.array(streamed), np.array(expected)
    assert len(expected) >= 5
    np.testing.assert_allclose(streamed, expected, atol=PARITY_ATOL, rtol=0)
    # Not a trivial equality: the window one call earlier gives clearly different outputs.
    assert np.abs(streamed[1:] - expected[:-1]).max() > 20 * PARITY_ATOL


def test_window_mode_drops_the_frames_valid_convolutions_cannot_fill():
    ds = build_model(ModelConfig(name="ds_cnn", streamable=True), (FRAMES, 10))
    # conv 10x4 stride 2 over 49 frames: the oldest frame is dropped so the newest is used,
    # 1 + (48 - 10) // 2 = 20 outputs; four 3x3 depthwise convs remove 2 frames each.
    assert ds.get_layer("avg_pool").input.shape[1] == 20 - 4 * 2
    bc = build_model(ModelConfig(name="bc_resnet", streamable=True), (FRAMES, 40))
    # conv 5x5 (-4), 12 blocks with a 3-tap temporal conv at dilation 1 (-2 each), head 5 (-4).
    assert bc.get_layer("time_avg").input.shape[1] == FRAMES - 4 - 12 * 2 - 4


def test_non_streamable_models_keep_time_padding():
    ds = build_model(ModelConfig(name="ds_cnn"), (FRAMES, 10))
    assert ds.get_layer("avg_pool").input.shape[1] == 25  # ceil(49 / 2): 'same' padding
    assert not [layer for layer in ds.layers if layer.name.endswith(("_fpad", "_align"))]


def test_only_streamable_runs_convert():
    config = ModelConfig(name="ds_cnn", num_classes=4)
    window = build_model(config, (FRAMES, 10))
    with pytest.raises(UserError, match="retrain it with kws-train --streamable"):
        streaming.to_streaming(window, config, (FRAMES, 10))
    with pytest.raises(ValueError, match="crnn cannot be built streamable"):
        ModelConfig(name="crnn", streamable=True)
    assert set(STREAMABLE_FAMILIES) == set(STREAM_FRAMES)


def test_a_checkpoint_of_another_architecture_is_refused():
    trained = ModelConfig(name="ds_cnn", size="s", num_classes=4, streamable=True)
    window = build_model(trained, (FRAMES, 10))
    claimed = ModelConfig(name="ds_cnn", size="m", num_classes=4, streamable=True)
    with pytest.raises(UserError, match="does not match the trained model"):
        streaming.to_streaming(window, claimed, (FRAMES, 10))
