"""The exporter on a small trained model (the tone demo): gates, front-end parity (also on real
clips, and a negative control), ops, TFLite Micro, calibration split, the C sources, the command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.interpreter import OpResolverType

from kws import audio
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.device import model as dm
from kws.export import c_array
from kws.export import clips
from kws.export import demo
from kws.export import exporter
from kws.export import measure
from kws.export import report as rp
from kws.export import runner
from kws.export import streaming
from kws.export import tflite
from kws.training import checkpoint as ckpt

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # trains/converts models: left out of the fast Bazel run


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _litert_probs(model: bytes, inputs: np.ndarray) -> np.ndarray:
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    probs = []
    for x in inputs:
        interpreter.set_tensor(inp["index"], x[None].astype(np.float32))
        interpreter.invoke()
        probs.append(interpreter.get_tensor(out["index"])[0].copy())
    return np.stack(probs)


def test_int8_model_agrees_with_keras_within_the_gates(demo_export):
    d = demo_export
    config, body = d["config"], d["body"]
    # Keras on the tf.data features, int8 TFLite on the waveforms: computed here, not taken from
    # the report.
    keras_pred, int8_pred, labels = [], [], []
    int8 = _read(d["out"] / dm.INT8_MODEL)
    batches = clips.waveform_batches(d["index"], "test", config.features, config.pipeline,
                                     d["noise"])
    dataset = pl.make_dataset(d["index"], "test", config.features, config.pipeline,
                              noise=d["noise"])
    for (features, y), (waves, _) in zip(dataset, batches):
        keras_pred.append(np.argmax(body(features, training=False).numpy(), -1))
        int8_pred.append(np.argmax(_litert_probs(int8, waves), -1))
        labels.append(y.numpy())
    keras_pred, int8_pred, y = map(np.concatenate, (keras_pred, int8_pred, labels))
    keras_acc, int8_acc = np.mean(keras_pred == y), np.mean(int8_pred == y)
    assert len(y) >= 50 and keras_acc >= 0.9  # the model really learned (5 classes)
    assert np.mean(int8_pred == keras_pred) >= 0.98
    assert keras_acc - int8_acc <= 0.01
    test = d["report"]["evaluations"]["test"]
    assert test["accuracy"]["int8"] == pytest.approx(int8_acc)
    assert test["agreement_with_keras"]["int8"] == pytest.approx(np.mean(int8_pred == keras_pred))
    # Keras as the exporter scores it == Keras as the trainer scored it.
    trainer_eval = json.loads((d["run"] / "eval_test.json").read_text())
    assert test["accuracy"]["keras"] == pytest.approx(trainer_eval["accuracy"])
    assert all(g["passed"] for g in d["report"]["gates"]["test"].values())


def test_in_graph_front_end_matches_tf_data_on_real_clips(demo_export, shared_data, tmp_path):
    """Real speech, the same speech 40 dB quieter, digital silence and faint noise: features of the
    front end inside both waveform models vs the tf.data pipeline's."""
    config = demo_export["config"].features
    real = sorted((shared_data / "speech_commands_test_v0.02_dev").glob("*/*.wav"))[::85][:30]
    examples = []
    for i, path in enumerate(real):
        examples.append(sc.Example(path=str(path), label="x"))
        if i % 3 == 0:
            quiet = tmp_path / f"quiet_{i}.wav"
            audio.write_wav(str(quiet), 0.01 * audio.read_clip(str(path), 16000), 16000)
            examples.append(sc.Example(path=str(quiet), label="x"))
    audio.write_wav(str(tmp_path / "zeros.wav"), np.zeros(16000), 16000)
    audio.write_wav(str(tmp_path / "faint.wav"),
                    3e-4 * np.random.default_rng(0).standard_normal(16000), 16000)
    examples += [sc.Example(path=str(tmp_path / n), label="x") for n in ("zeros.wav", "faint.wav")]
    index = sc.DatasetIndex(labels=("x",), splits={"train": (), "validation": (),
                                                   "test": tuple(examples)},
                            noise_files=(), skipped=())
    pipeline = pl.PipelineConfig(batch_size=16)
    expected = np.concatenate([x.numpy() for x, _ in pl.make_dataset(index, "test", config,
                                                                     pipeline)])
    waves = np.concatenate([w for w, _ in clips.waveform_batches(index, "test", config, pipeline,
                                                                 None)])
    assert expected.shape == (len(examples), 49, 10) and waves.shape == (len(examples), 16000)
    for name in (dm.FLOAT_MODEL, dm.INT8_MODEL):
        model = runner.TfliteClassifier(_read(demo_export["out"] / name), keep_features=True)
        _, in_graph = model.predict_with_features(waves)
        diff = np.abs(in_graph - expected)
        assert diff.max() <= rp.FEATURE_PARITY_ATOL, (name, diff.max())
        assert np.abs(expected).max() > 100  # c0 of real speech: the tolerance is relative to that


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
def test_full_int8_conversion_breaks_the_front_end(demo_export):
    """Negative control: without the float front end (plain full-int8 conversion) the same parity
    measurement fails by orders of magnitude."""
    d = demo_export
    config = d["config"]
    calibration = clips.calibration_waveforms(d["index"], 50, 0, config.features, config.pipeline,
                                              d["noise"])
    converter = tf.lite.TFLiteConverter.from_keras_model(
        tflite.waveform_model(d["body"], config.features))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    naive = converter.convert()
    waves, _ = next(clips.waveform_batches(d["index"], "test", config.features, config.pipeline,
                                           d["noise"]))
    _, in_graph = runner.TfliteClassifier(naive, keep_features=True).predict_with_features(waves)
    expected = tflite.compute_features_batched(waves, config.features)
    assert np.abs(in_graph - expected).max() > 100 * rp.FEATURE_PARITY_ATOL


def _ops_with_output_types(model: bytes) -> list[tuple[str, str]]:
    interpreter = Interpreter(
        model_content=model,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    tensor = interpreter._get_tensor_details  # pylint: disable=protected-access
    return [(op["op_name"], np.dtype(tensor(op["outputs"][0], 0)["dtype"]).name)
            for op in interpreter._get_ops_details()]  # pylint: disable=protected-access


def test_int8_model_has_a_float_front_end_and_an_int8_body(demo_export):
    ops = _ops_with_output_types(_read(demo_export["out"] / dm.INT8_MODEL))
    names = [name for name, _ in ops]
    assert names.count("QUANTIZE") == 1 and names.count("DEQUANTIZE") == 1
    q = names.index("QUANTIZE")
    front, body = ops[:q], ops[q + 1:names.index("DEQUANTIZE")]
    assert {"RFFT2D", "LOG", "SQRT"} <= {n for n, _ in front}
    assert all(dtype in ("float32", "complex64") for _, dtype in front)  # RFFT2D: complex64
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= {n for n, _ in body}
    assert all(dtype == "int8" for _, dtype in body)
    assert all(dtype in ("float32", "complex64") for _, dtype in _ops_with_output_types(
        _read(demo_export["out"] / dm.FLOAT_MODEL)))


def test_models_use_builtin_ops_and_the_features_model_runs_on_tflite_micro(demo_export):
    d = demo_export
    for name in (dm.FLOAT_MODEL, dm.INT8_MODEL, dm.FEATURES_INT8_MODEL):
        ops = _ops_with_output_types(_read(d["out"] / name))  # builtin resolver, no Flex/custom
        assert not [n for n, _ in ops if n.startswith("Flex") or n in ("CUSTOM", "DELEGATE")]
        assert list(measure.op_names(_read(d["out"] / name))) == d["report"]["models"][
            {dm.FLOAT_MODEL: "float", dm.INT8_MODEL: "int8",
             dm.FEATURES_INT8_MODEL: "features_int8"}[name]]["ops"]
    model = _read(d["out"] / dm.FEATURES_INT8_MODEL)
    lite = runner.TfliteClassifier(model)
    assert lite.input["dtype"] == np.int8 and lite.output["dtype"] == np.int8
    features, _ = next(iter(pl.make_dataset(d["index"], "test", d["config"].features,
                                            d["config"].pipeline, noise=d["noise"])))
    features = tflite.InputNormalization.load(str(d["out"])).apply(features.numpy())
    scale, zero_point = lite.input["quantization"]
    q = runner.quantize(features, scale, zero_point)
    micro = measure.tflm_run(model, list(q)).astype(np.float64)
    lite_probs = lite.predict(features)
    micro_probs = (micro - lite.output["quantization"][1]) * lite.output["quantization"][0]
    assert np.mean(np.argmax(micro_probs, -1) == np.argmax(lite_probs, -1)) >= 0.98
    assert np.abs(micro_probs - lite_probs).max() <= 4 / 256  # a few int8 levels of rounding
    arena = d["report"]["models"]["features_int8"]["tflm_arena_bytes"]
    assert arena == measure.tflm_arena_bytes(model) and 1000 < arena < 100_000
    with pytest.raises(RuntimeError, match="allocate|arena|resize"):
        measure.tflm_run(model, list(q[:1]), arena_size=arena // 2)


def test_tflm_arena_search_finds_the_smallest_size_that_runs(demo_export, monkeypatch):
    # Where memory planning needs more than the recorded total (seen on streaming BC-ResNet), the
    # arena is the smallest size, to 16 bytes, that runs: here a stand-in runtime that needs
    # `needed` bytes, checked against the bisection's answer.
    model = _read(demo_export["out"] / dm.FEATURES_INT8_MODEL)
    recorded = measure.tflm_arena_bytes(model)
    for extra in (1, 5000, 70_000):
        needed = recorded + extra
        tried = []

        def runs_in(unused_model, unused_example, size, needed=needed, tried=tried):
            tried.append(size)
            return size >= needed
        monkeypatch.setattr(measure, "_runs_in", runs_in)
        arena = measure.tflm_arena_bytes(model)
        assert needed <= arena < needed + 16 and (arena - recorded) % 16 == 0
        assert tried[0] == recorded


def test_streaming_models_match_the_window_model_within_the_gates(demo_export):
    d = demo_export
    section = d["report"]["streaming"]
    assert all(g["passed"] for g in section["gates"].values()), section["gates"]
    for key, name in streaming.STREAM_FILES.items():
        ops = _ops_with_output_types(_read(d["out"] / name))
        assert not [n for n, _ in ops if n.startswith("Flex") or n in ("CUSTOM", "DELEGATE")]
        assert list(measure.op_names(_read(d["out"] / name))) == section["models"][key]["ops"]
    # The audio kept between calls stays float in the int8 model (8-bit audio would cost accuracy).
    spec = dm.StreamSpec.read(str(d["out"]))
    lite = Interpreter(model_path=str(d["out"] / dm.STREAM_INT8_MODEL))
    signature = lite.get_signature_runner()
    audio_in = signature.get_input_details()["audio_state"]
    audio_out = signature.get_output_details()[
        spec.state_outputs[spec.state_inputs.index("audio_state")]]
    del signature
    producer = [op["op_name"] for op in lite._get_ops_details()  # pylint: disable=protected-access
                if audio_out["index"] in list(op["outputs"])]
    assert audio_in["dtype"] == audio_out["dtype"] == np.float32 and producer == ["STRIDED_SLICE"]
    # Recomputed here on the test split: the device's streaming models, each clip streamed
    # from a fresh state, against the Keras window model.
    models = {v: dm.StreamingKeywordModel(str(d["out"]), v) for v in ("stream_float", "stream_int8")}
    right = {"keras": 0, **{v: 0 for v in models}}
    total, max_diff = 0, 0.0
    for waves, y in clips.waveform_batches(d["index"], "test", d["config"].features,
                                           d["config"].pipeline, d["noise"]):
        keras_probs = d["body"](tflite.compute_features_batched(waves, d["config"].features),
                                training=False).numpy()
        right["keras"] += int(np.sum(np.argmax(keras_probs, -1) == y))
        for variant, m in models.items():
            probs = np.stack([m.predict(w) for w in waves])
            right[variant] += int(np.sum(np.argmax(probs, -1) == y))
            if variant == "stream_float":
                max_diff = max(max_diff, float(np.abs(probs - keras_probs).max()))
        total += len(y)
    assert total == section["test"]["examples"]
    assert max_diff <= streaming.FLOAT_PARITY_ATOL
    assert right["keras"] - right["stream_int8"] <= 0.005 * total


def test_streaming_features_model_runs_call_by_call_on_tflite_micro(demo_export):
    """TFLM and LiteRT step the int8 features-in streaming model over the same 30 calls, each
    feeding its own states back; their probabilities stay within a few int8 levels."""
    from tflite_micro.python.tflite_micro import runtime  # pylint: disable=import-outside-toplevel

    folder = demo_export["out"]
    model = _read(folder / dm.STREAM_FEATURES_INT8_MODEL)
    lite = Interpreter(model_content=model)
    lite.allocate_tensors()
    inputs, outputs = lite.get_input_details(), lite.get_output_details()
    signature = lite.get_signature_runner()
    by_index = {d["index"]: i for i, d in enumerate(inputs)}
    out_by_index = {d["index"]: i for i, d in enumerate(outputs)}
    sig_in = {k: by_index[v["index"]] for k, v in signature.get_input_details().items()}
    sig_out = {k: out_by_index[v["index"]] for k, v in signature.get_output_details().items()}
    del signature  # a live signature runner would block invoke() ("reference to internal data")
    spec = dm.StreamSpec.read(str(folder))
    # The states of the waveform model less its audio state, outputs numbered from 1 again.
    states = [(sig_in[name], sig_out[f"output_{i}"])
              for i, name in enumerate(spec.state_inputs[1:], start=1)]
    micro = runtime.Interpreter.from_bytes(model)
    rng = np.random.default_rng(0)
    values_lite = {i: np.full(inputs[i]["shape"], inputs[i]["quantization"][1], np.int8)
                   for i, _ in states}
    values_micro = {i: v.copy() for i, v in values_lite.items()}
    features_at = sig_in["features"]
    worst = 0
    for _ in range(30):
        x = rng.integers(-128, 128, inputs[features_at]["shape"]).astype(np.int8)
        lite.set_tensor(inputs[features_at]["index"], x)
        micro.set_input(x, features_at)
        for i, _ in states:
            lite.set_tensor(inputs[i]["index"], values_lite[i])
            micro.set_input(values_micro[i], i)
        lite.invoke()
        micro.invoke()
        for i, o in states:
            values_lite[i] = lite.get_tensor(outputs[o]["index"])
            values_micro[i] = micro.get_output(o)
        p_lite = lite.get_tensor(outputs[sig_out["output_0"]]["index"]).astype(int)
        p_micro = micro.get_output(sig_out["output_0"]).astype(int)
        worst = max(worst, int(np.abs(p_lite - p_micro).max()))
    assert worst <= 4
    arena = demo_export["report"]["streaming"]["models"]["stream_features_int8"]
    assert 1000 < arena["tflm_arena_bytes"] < 100_000


def test_calibration_draws_from_the_training_split_only(demo_export):
    index = demo_export["index"]
    picked = clips.calibration_index(index, 40, seed=3)
    chosen = picked.splits["train"]
    assert len(chosen) == 40 and not picked.splits["test"] and not picked.splits["validation"]
    assert set(chosen) <= set(index.splits["train"])
    held_out = {e.path for s in ("validation", "test") for e in index.splits[s] if e.path}
    assert not held_out & {e.path for e in chosen if e.path}
    assert len(clips.calibration_index(index, 10**6, seed=0).splits["train"]) == len(
        index.splits["train"])
    assert demo_export["report"]["calibration"]["split"] == "train"


def test_export_refuses_unusable_workdirs(demo_export, tmp_path):
    with pytest.raises(exporter.ExportError, match="no config.json"):
        exporter.load_run(str(tmp_path))
    run = tmp_path / "run"
    shutil.copytree(demo_export["run"], run, ignore=shutil.ignore_patterns("tensorboard"))
    (run / "labels.txt").write_text("a\nb\n")
    with pytest.raises(exporter.ExportError, match="has 5 outputs but .*labels.txt has 2 labels"):
        exporter.load_run(str(run))
    (run / "checkpoints" / "best.keras").unlink()
    with pytest.raises(ckpt.CheckpointError, match="best.keras does not exist"):
        exporter.load_run(str(run))


# `python export/export_main.py ...`, run through runpy so that the import line names the file for
# tools/gen_build.py (Bazel puts it in the runfiles); export_main.py defines no flags itself.
_EXPORT_SCRIPT = """
import runpy
from export import export_main
runpy.run_path(export_main.__file__, run_name="__main__")
"""


def test_export_command(demo_export, tmp_path):
    out = tmp_path / "out"
    other_speakers = demo.write_tone_dataset(str(tmp_path / "more_tones"), speakers=8, seed=99)
    command = [sys.executable, "-c", _EXPORT_SCRIPT,
               f"--workdir={demo_export['run']}", f"--output_dir={out}",
               "--calibration_clips=30", "--latency_runs=5", f"--eval_dirs={other_speakers}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "model_int8.tflite" in done.stdout and "gates on more_tones" in done.stdout
    report = exporter.load_report(str(out))
    assert report["calibration"]["clips"] == 30
    more = report["evaluations"]["more_tones"]
    # Every clip of the folder: 3 x 8 keywords, and 25 % of that each of _unknown_ (delta) and
    # _silence_ (generated), as the keywords task of the run defines them.
    assert more["examples"] == 24 + 6 + 6 and more["accuracy"]["keras"] >= 0.9
    assert sorted(p.name for p in out.iterdir()) == sorted([
        dm.FLOAT_MODEL, dm.INT8_MODEL, dm.FEATURES_INT8_MODEL, dm.LABELS_FILE, dm.FRONTEND_FILE,
        c_array.MODEL_DATA_CC, c_array.MODEL_DATA_H, c_array.MODEL_SETTINGS_H,
        exporter.REPORT_FILE, tflite.FEATURES_INPUT_FILE, *streaming.STREAM_FILES.values(),
        dm.STREAMING_FILE])
    assert "streaming gates on test: float_parity_max_abs" in done.stdout
    done = subprocess.run(command[:3] + [f"--workdir={tmp_path / 'nothing'}",
                                         f"--output_dir={out}"],
                          capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 1 and "kws-export: error: " in done.stderr
    assert "no config.json" in done.stderr.splitlines()[-1]
