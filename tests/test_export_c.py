"""The microcontroller side of an export: the C sources and the features models' input, normalised
per feature dimension (tflite.InputNormalization) before its int8 quantization."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from kws.data import pipeline as pl
from kws.device import model as dm
from kws.export import c_array
from kws.export import runner
from kws.export import tflite


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


_MAIN_CC = r'''
#include <cstdint>
#include <cstdio>
#include <cstring>
#include "model_data.h"
#include "model_settings.h"
int main() {
  std::printf("len %u\n", g_kws_model_data_len);
  std::printf("aligned %d\n", int(reinterpret_cast<std::uintptr_t>(g_kws_model_data) % 16 == 0));
  std::printf("magic %d\n", int(std::memcmp(g_kws_model_data + 4, "TFL3", 4) == 0));
  std::printf("features %d %d %d %d\n", kFeatureFrames, kFeatureDim, kFeatureElementCount,
              kClipSamples);
  std::printf("quant %.9g %d %.9g %d\n", kInputScale, kInputZeroPoint, kOutputScale,
              kOutputZeroPoint);
  std::printf("arena %d\n", kTensorArenaSize);
  for (int d = 0; d < kFeatureDim; ++d)
    std::printf("norm%d %.9g %.9g\n", d, kFeatureMean[d], kFeatureInvStd[d]);
  for (int i = 0; i < kCategoryCount; ++i) std::printf("label %s\n", kCategoryLabels[i]);
  return 0;
}
'''


def test_c_sources_hold_the_model_and_its_settings(demo_export, tmp_path):
    out = demo_export["out"]
    model = _read(out / dm.FEATURES_INT8_MODEL)
    source = (out / c_array.MODEL_DATA_CC).read_text()
    parsed = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", source))
    assert parsed == model and f"g_kws_model_data_len = {len(model)};" in source
    assert "alignas(16) const unsigned char g_kws_model_data[]" in source
    assert shutil.which("g++"), "the C sources test needs g++ (apt-get install g++)"
    (tmp_path / "main.cc").write_text(_MAIN_CC)
    binary = tmp_path / "check"
    subprocess.run(["g++", "-std=c++17", "-Wall", "-Werror", "-I", str(out),
                    str(tmp_path / "main.cc"), str(out / c_array.MODEL_DATA_CC), "-o", str(binary)],
                   check=True)
    lines = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout
    lite = runner.TfliteClassifier(model)
    info = dict(line.split(" ", 1) for line in lines.splitlines() if not line.startswith("label"))
    assert info["len"] == str(len(model)) and info["aligned"] == "1" and info["magic"] == "1"
    assert info["features"] == "49 10 490 16000"
    scale, zp, out_scale, out_zp = info["quant"].split()
    assert float(scale) == pytest.approx(lite.input["quantization"][0], rel=1e-6)
    assert int(zp) == lite.input["quantization"][1] and int(out_zp) == -128
    assert float(out_scale) == pytest.approx(1 / 256)
    micro = demo_export["report"]["models"]["features_int8"]
    assert int(info["arena"]) == micro["tflm_arena_bytes"]
    # the input normalisation: the run's feature_norm statistics, as features_input.json has them
    layer = demo_export["body"].get_layer("feature_norm")
    mean, variance = (np.asarray(w, np.float64).reshape(-1) for w in layer.get_weights()[:2])
    norm = tflite.InputNormalization.load(str(out))
    np.testing.assert_allclose(norm.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(norm.std, np.sqrt(variance), rtol=1e-6)
    c_norm = np.array([[float(v) for v in info[f"norm{d}"].split()] for d in range(len(mean))])
    np.testing.assert_allclose(c_norm[:, 0], mean, rtol=1e-6)
    np.testing.assert_allclose(c_norm[:, 1], 1 / np.sqrt(variance), rtol=1e-6)
    labels = [line.split(" ", 1)[1] for line in lines.splitlines() if line.startswith("label")]
    assert tuple(labels) == demo_export["labels"] == dm.read_labels(str(out))
    assert json.loads((out / dm.FRONTEND_FILE).read_text()) == demo_export["report"]["frontend"]
    assert c_array.c_string('a"b\\c') == '"a\\"b\\\\c"'


def test_features_model_takes_normalised_features_and_equals_keras(demo_export):
    body = demo_export["body"]
    norm = tflite.InputNormalization.of(body)
    features, _ = next(iter(pl.make_dataset(demo_export["index"], "test",
                                            demo_export["config"].features,
                                            demo_export["config"].pipeline,
                                            noise=demo_export["noise"])))
    raw = features.numpy()
    layer = body.get_layer("feature_norm")
    mean, variance = (np.asarray(w, np.float64).reshape(-1) for w in layer.get_weights()[:2])
    by_hand = ((raw - mean) / np.sqrt(variance)).astype(np.float32)
    np.testing.assert_allclose(norm.apply(raw), by_hand, rtol=1e-5, atol=1e-5)
    model = tflite.features_model(body)
    np.testing.assert_allclose(np.concatenate([model(x[None]).numpy() for x in by_hand[:8]]),
                               body(raw[:8], training=False).numpy(), atol=1e-5)
    # the int8 model on normalised features: as the exporter scored it, and close to Keras
    lite = runner.TfliteClassifier(_read(demo_export["out"] / dm.FEATURES_INT8_MODEL))
    agreement = np.mean(np.argmax(lite.predict(by_hand), -1)
                        == np.argmax(body(raw, training=False).numpy(), -1))
    assert agreement >= 0.95
    test = demo_export["report"]["evaluations"]["test"]
    assert test["agreement_with_keras"]["features_int8"] >= 0.95
    assert demo_export["report"]["features_input"]["mean"] == list(norm.mean)


def test_features_input_file_is_checked(tmp_path):
    assert tflite.InputNormalization.load(str(tmp_path)) is None  # an older export: raw features
    (tmp_path / tflite.FEATURES_INPUT_FILE).write_text(json.dumps({"mean": [0, 1], "std": [1]}))
    with pytest.raises(ValueError, match="equally long"):
        tflite.InputNormalization.load(str(tmp_path))
    (tmp_path / tflite.FEATURES_INPUT_FILE).write_text(json.dumps({"mean": [0], "std": [0.0]}))
    with pytest.raises(ValueError, match="std > 0"):
        tflite.InputNormalization.load(str(tmp_path))
    norm = tflite.InputNormalization(mean=(1.0, -2.0), std=(2.0, 0.5))
    (tmp_path / tflite.FEATURES_INPUT_FILE).write_text(norm.to_json())
    loaded = tflite.InputNormalization.load(str(tmp_path))
    assert loaded == norm
    np.testing.assert_allclose(loaded.apply(np.array([[3.0, -1.0]])), [[1.0, 2.0]])
