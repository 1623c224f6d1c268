"""Streamable models and their stateful streaming form (kws.models.streaming).

The streaming model is fed a long feature sequence a call at a time; after every call whose newest
frame completes a window, its output must equal the window model run on that window (the last
``frames`` frames), computed here by slicing the sequence and calling the window model directly.
"""

import numpy as np
import pytest

from kws.errors import UserError
from kws.models import STREAM_FRAMES, ModelConfig, build_model
from kws.models import streaming
from kws.models.config import STREAMABLE_FAMILIES

from conftest import STREAM_PARITY_ATOL, trained_like

FRAMES = 49
PARITY_ATOL = STREAM_PARITY_ATOL


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
    window = trained_like(build_model(config, (FRAMES, dim)), dim, rng)
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
