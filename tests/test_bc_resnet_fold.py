"""SubSpectralNorm folded at export (kws.models.fold): the same function, a smaller int8 model.

Every norm gets random scales, shifts and moving statistics (far from the identity a fresh layer
is), and the classifier random large weights, so that outputs are far from uniform and a wrong fold
(a band taken for another, a channel shifted) shows in the probabilities. Golden SubSpectralNorm
values are computed here in numpy, band by band, not by the code under test.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kws.export import measure
from kws.export import streaming as export_streaming
from kws.export import tflite
from kws.frontend import FrontendConfig
from kws.models import ModelConfig, build_model
from kws.models import fold
from kws.models import layers as kl
from kws.models import streaming

FRAMES, BINS = 49, 40
FLOAT_ATOL = 1e-5
"""Largest |folded - unfolded| probability allowed in float (float32 rounding: ~1e-7 seen)."""


def _randomise_norms(model: keras.Model, rng: np.random.Generator) -> keras.Model:
    """Random gamma, beta, moving mean and variance in every batch norm (SubSpectralNorm's too),
    an adapted feature_norm, and a classifier whose outputs are far from uniform."""
    model.get_layer("feature_norm").adapt(rng.normal(2.0, 3.0, (32, FRAMES, BINS))
                                          .astype(np.float32))
    ranges = {"gamma": (0.3, 2.0), "beta": (-0.5, 0.5), "moving_mean": (-0.5, 0.5),
              "moving_variance": (0.2, 3.0)}
    changed = 0
    for weight in model.weights:
        kind = weight.path.rsplit("/", 1)[-1]
        if kind in ranges:
            weight.assign(rng.uniform(*ranges[kind], weight.shape).astype(np.float32))
            changed += 1
    assert changed >= 4 * 12  # every block's norms at least
    kernel, bias = model.get_layer("classifier").get_weights()
    model.get_layer("classifier").set_weights(
        [rng.normal(0, 8.0 / np.sqrt(kernel.shape[0]), kernel.shape).astype(np.float32), bias])
    return model


def _bc_resnet(width=1, streamable=False, seed=0) -> keras.Model:
    config = ModelConfig(name="bc_resnet", width=width, num_classes=12, streamable=streamable)
    keras.utils.set_random_seed(seed)  # the kernels too: unseeded, some draws gave flat outputs
    return _randomise_norms(build_model(config, (FRAMES, BINS)), np.random.default_rng(seed))


def _features(n, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).normal(2.0, 3.0, (n, FRAMES, BINS)).astype(np.float32)


def test_band_affine_matches_sub_spectral_norm_computed_band_by_band():
    rng = np.random.default_rng(3)
    bands, freq, channels = 5, 20, 6
    norm = kl.SubSpectralNorm(bands)
    norm.build((None, None, freq, channels))
    stats = {name: rng.uniform(low, high, bands * channels).astype(np.float32)
             for name, low, high in (("gamma", 0.3, 2), ("beta", -1, 1), ("moving_mean", -1, 1),
                                     ("moving_variance", 0.2, 3))}
    norm.bn.set_weights([stats[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")])
    x = rng.normal(size=(2, 7, freq, channels)).astype(np.float32)
    # Golden: band s is bins s*4 .. s*4+3, normalised with BN channel s * channels + c.
    want = np.empty_like(x, dtype=np.float64)
    per_band = freq // bands
    for s in range(bands):
        i = slice(s * channels, (s + 1) * channels)
        part = x[:, :, s * per_band:(s + 1) * per_band, :]
        want[:, :, s * per_band:(s + 1) * per_band, :] = (
            (part - stats["moving_mean"][i]) / np.sqrt(stats["moving_variance"][i] + 1e-3)
            * stats["gamma"][i] + stats["beta"][i])
    np.testing.assert_allclose(norm(x, training=False).numpy(), want, atol=1e-5)
    affine = fold.BandAffine()
    affine.build(x.shape)
    affine.set_weights([w.astype(np.float32) for w in fold.band_affine(norm, freq)])
    np.testing.assert_allclose(affine(x).numpy(), want, atol=1e-5)
    assert np.abs(want - x).max() > 0.5  # the statistics do something


@pytest.mark.parametrize("width,streamable", [(1, False), (1, True), (3, False)])
def test_folded_model_equals_the_unfolded_one_in_float(width, streamable):
    model = _bc_resnet(width, streamable)
    folded = fold.fold_sub_spectral_norms(model)
    kinds = {type(layer) for layer in folded.layers}
    assert kl.SubSpectralNorm not in kinds and fold.BandAffine in kinds
    assert sum(isinstance(layer, fold.BandAffine) for layer in folded.layers) == 12
    x = _features(16)
    want = model(x, training=False).numpy()
    got = folded(x, training=False).numpy()
    np.testing.assert_allclose(got, want, atol=FLOAT_ATOL, rtol=0)
    # Not a trivial equality: the outputs are peaked, and identity norms would change them a lot.
    assert want.max(axis=1).mean() > 0.3
    plain = fold.fold_sub_spectral_norms(model)
    for layer in plain.layers:
        if isinstance(layer, fold.BandAffine):
            layer.set_weights([np.ones_like(w) if i == 0 else np.zeros_like(w)
                               for i, w in enumerate(layer.get_weights())])
    assert np.abs(plain(x, training=False).numpy() - want).max() > 100 * FLOAT_ATOL


def test_folded_streaming_network_equals_the_unfolded_one_call_by_call():
    config = ModelConfig(name="bc_resnet", width=1, num_classes=12, streamable=True)
    window = _randomise_norms(build_model(config, (FRAMES, BINS)), np.random.default_rng(5))
    stream = streaming.to_streaming(window, config, (FRAMES, BINS))
    folded = fold.fold_sub_spectral_norms(stream)
    assert [t.name for t in folded.inputs] == [t.name for t in stream.inputs]
    assert not any(isinstance(layer, kl.SubSpectralNorm) for layer in folded.layers)
    # A dozen calls fill the states with non-zero frames (each call is compared, states too).
    frames = np.random.default_rng(6).normal(2.0, 3.0, (12, BINS)).astype(np.float32)
    states = streaming.initial_states(stream)
    folded_states = streaming.initial_states(folded)
    for t in range(len(frames)):
        want = stream([frames[None, t:t + 1]] + states, training=False)
        got = folded([frames[None, t:t + 1]] + folded_states, training=False)
        states = [np.asarray(o) for o in want[1:]]
        folded_states = [np.asarray(o) for o in got[1:]]
        for w, g in zip(want, got):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=FLOAT_ATOL, rtol=0)


def test_the_export_graphs_fold_automatically():
    model = _bc_resnet()
    assert fold.has_sub_spectral_norm(model)
    assert not fold.has_sub_spectral_norm(tflite.features_model(model))
    features = FrontendConfig(feature_type="log_mel", num_mel_bins=BINS)
    assert features.feature_shape == (FRAMES, BINS)
    assert not fold.has_sub_spectral_norm(tflite.waveform_model(model, features))
    config = ModelConfig(name="bc_resnet", width=1, num_classes=12, streamable=True)
    window = build_model(config, (FRAMES, BINS))
    wave, network, _ = export_streaming.waveform_stream_model(window, config, features)
    assert not fold.has_sub_spectral_norm(network) and not fold.has_sub_spectral_norm(wave)


def test_models_without_sub_spectral_norm_come_back_unchanged_and_nested_ones_are_refused():
    ds = build_model(ModelConfig(name="ds_cnn"), (FRAMES, 10))
    assert fold.fold_sub_spectral_norms(ds) is ds
    features = keras.Input(shape=(FRAMES, BINS))
    bc = _bc_resnet()
    wrapped = keras.Model(features, bc(features))
    with pytest.raises(ValueError, match="inside nested model.*fold the inner model first"):
        fold.fold_sub_spectral_norms(wrapped)


def test_folded_model_survives_a_save_load_round_trip(tmp_path):
    folded = fold.fold_sub_spectral_norms(_bc_resnet())
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    x = _features(4)
    np.testing.assert_allclose(loaded(x, training=False).numpy(),
                               folded(x, training=False).numpy(), atol=1e-6, rtol=0)


def _unfolded_features_model(body: keras.Model) -> keras.Model:
    """tflite.features_model without the fold (and with feature_norm inside): the graph kws
    exported before."""
    features = keras.Input(shape=body.input_shape[1:], batch_size=1, name="features")
    return keras.Model(features, body(features), name="features_" + body.name)


@pytest.mark.slow
def test_folded_int8_features_model_is_smaller_builtin_and_runs_on_tflite_micro():
    model = _bc_resnet()
    calibration = _features(16, seed=7)
    norm = tflite.InputNormalization.of(model)  # features_model takes normalised features
    unfolded = tflite.convert_features_int8(_unfolded_features_model(model), calibration)
    folded = tflite.convert_features_int8(tflite.features_model(model), norm.apply(calibration))
    ops_before, ops_after = measure.op_names(unfolded), measure.op_names(folded)
    assert "TRANSPOSE" in ops_before and "TRANSPOSE" not in ops_after
    assert not [op for op in ops_after if op.startswith("Flex") or op in ("CUSTOM", "DELEGATE")]
    assert len(folded) < 0.95 * len(unfolded), (len(folded), len(unfolded))
    # The int8 models compute the same function: LiteRT probabilities of the two agree.
    x = _features(8, seed=8)
    from kws.export import runner  # pylint: disable=import-outside-toplevel

    before, after = runner.TfliteClassifier(unfolded), runner.TfliteClassifier(folded)
    assert after.input["dtype"] == np.int8 and after.output["dtype"] == np.int8
    keras_probs = model(x, training=False).numpy()
    after_probs = after.predict(norm.apply(x))
    assert np.abs(after_probs - keras_probs).max() < 0.1
    assert np.abs(after_probs - keras_probs).max() <= np.abs(before.predict(x)
                                                             - keras_probs).max() + 2 / 256
    scale, zero_point = after.input["quantization"]
    q = runner.quantize(norm.apply(x), scale, zero_point)
    micro = measure.tflm_run(folded, list(q))
    lite = np.stack([after.invoke_raw(v) for v in q])
    assert np.abs(micro.astype(int) - lite.astype(int)).max() <= 2
