"""export(config): a training working directory -> an export folder for LiteRT and TFLite Micro.

The output folder holds

    model_float.tflite           waveform in (float32 [1, clip_samples], samples in [-1, 1]),
                                 probabilities out (float32 [1, labels]); all float
    model_int8.tflite            the same interface; front end float inside, network int8
    model_features_int8.tflite   int8 features [1, frames, dim] in, int8 probabilities out; TFLM ops
    features_input.json          the features models' input: (features - mean) / std per dimension
    model_data.cc/.h, model_settings.h   the features model as a C array + parameters, for an MCU
    stream_float.tflite, stream_int8.tflite, stream_features_int8.tflite, streaming.json
                                 streamable runs only: stateful streaming models, one hop of
                                 audio per call (kws.export.streaming)
    labels.txt, frontend.json    class order and the front-end config (kws.frontend.FrontendConfig)
    export_report.json           sizes, ops, latency, TFLM arena, accuracy, agreement, parity, gates

Calibration clips come from the training split only.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np

from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.device import model as device_model
from kws.errors import UserError
from kws.export import c_array
from kws.export import clips
from kws.export import measure
from kws.export import report as rp
from kws.export import runner
from kws.export import streaming
from kws.export import tflite
from kws.training import checkpoint as ckpt
from kws.training import config as tc

REPORT_FILE = "export_report.json"
_TFLM_CHECK_CLIPS = 200


class ExportError(UserError):
    """A working directory that cannot be exported as asked."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class ExportConfig:
    """What to export, and how to check it."""

    workdir: str
    """A training working directory (config.json, labels.txt, checkpoints/)."""
    output_dir: str
    """Where the export folder is written (created; files of the same names are replaced)."""
    checkpoint: str = "best"
    """'best' (checkpoints/best.keras), 'last' (the last finished epoch) or a .keras file of this
    run."""
    calibration_clips: int = 400
    """Training clips used to calibrate int8 quantization (never test clips)."""
    calibration_seed: int = 0
    """Which training clips are drawn for calibration."""
    eval_dirs: tuple[str, ...] = ()
    """Further folder trees (same labels) scored whole, besides the run's test split."""
    background_noise_dir: str = ""
    """Noise for generated _silence_ examples of eval_dirs ('': each folder's own)."""
    latency_runs: int = 200
    """Invokes timed per model (median reported)."""

    def __post_init__(self):
        if self.calibration_clips < 1:
            raise ValueError("calibration_clips must be >= 1")
        if self.latency_runs < 1:
            raise ValueError("latency_runs must be >= 1")


def load_run(workdir: str, checkpoint: str = "best"):
    """(TrainConfig, labels, Keras network) of a training working directory, checked."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise ExportError(f"{workdir} is not a training working directory (no config.json); pass "
                          "the --workdir of a kws-train run")
    with open(path, encoding="utf-8") as f:
        config = tc.TrainConfig.from_dict(json.load(f))
    labels = device_model.read_labels(workdir)
    model_path = ckpt.resolve(workdir, checkpoint)
    body = ckpt.load_model(model_path, compile=False)
    outputs = body.output_shape[-1]
    if outputs != len(labels):
        raise ExportError(f"{model_path} has {outputs} outputs but {workdir}/labels.txt has "
                          f"{len(labels)} labels; the checkpoint is from another run")
    if tuple(body.input_shape[1:]) != config.features.feature_shape:
        raise ExportError(f"{model_path} takes features {list(body.input_shape[1:])} but the run's "
                          f"front end makes {list(config.features.feature_shape)}")
    if tflite.FEATURE_NORM_LAYER not in [layer.name for layer in body.layers]:
        raise ExportError(f"{model_path} has no '{tflite.FEATURE_NORM_LAYER}' layer; kws models "
                          "start with one (kws.models.layers.feature_input)")
    return config, labels, body


def _folder_index(config: tc.TrainConfig, folder: str, noise_dir: str) -> sc.DatasetIndex:
    """Every clip of ``folder`` (same label mode as training) as the 'test' split."""
    data = dataclasses.replace(config.data, data_dir=folder, background_noise_dir=noise_dir,
                               validation_percentage=0, testing_percentage=0)
    index = sc.index_dataset(data)
    everything = tuple(e for s in sc.SPLITS for e in index.splits[s])
    return dataclasses.replace(index, splits={"train": (), "validation": (), "test": everything})


def _describe(details: dict) -> dict:
    return {"shape": [int(s) for s in details["shape"]], "dtype": np.dtype(details["dtype"]).name,
            "quantization": [float(details["quantization"][0]), int(details["quantization"][1])]}


def _model_info(name: str, model: bytes, latency_runs: int) -> dict:
    interpreter = runner.TfliteClassifier(model)
    return {"file": name, "bytes": len(model), "ops": list(measure.op_names(model)),
            "input": _describe(interpreter.input), "output": _describe(interpreter.output),
            "latency_us": measure.litert_latency_us(model, runs=latency_runs)}


def _check_micro(model: bytes, index, config, noise, norm: tflite.InputNormalization) -> dict:
    """Runs the features model in TFLite Micro on test features; compares with LiteRT."""
    features = []
    for x, _ in pl.make_dataset(index, "test", config.features, config.pipeline, noise=noise):
        features.extend(x.numpy())
        if len(features) >= _TFLM_CHECK_CLIPS:
            break
    features = norm.apply(np.stack(features[:_TFLM_CHECK_CLIPS]))
    lite = runner.TfliteClassifier(model)
    scale, zero_point = lite.input["quantization"]
    quantized = runner.quantize(features, scale, zero_point)
    micro_out = measure.tflm_run(model, list(quantized))
    lite_out = np.stack([lite.invoke_raw(q) for q in quantized])
    return {"tflm_arena_bytes": measure.tflm_arena_bytes(model),
            "tflm_examples": int(len(features)),
            "tflm_agreement_with_litert": float(np.mean(np.argmax(micro_out, -1)
                                                        == np.argmax(lite_out, -1))),
            "tflm_max_abs_diff_levels": int(np.max(np.abs(micro_out.astype(int)
                                                          - lite_out.astype(int))))}


def _eval_folders(config: ExportConfig, train_config: tc.TrainConfig, labels) -> dict:
    """{report name: (index, noise)} of the --eval_dirs, checked before any slow work."""
    folders = {}
    for folder in config.eval_dirs:
        index = _folder_index(train_config, folder, config.background_noise_dir)
        if index.labels != labels:
            raise ExportError(f"--eval_dirs {folder} gives labels {list(index.labels)}, the model "
                              f"has {list(labels)}; score a tree with the same words")
        name = os.path.basename(os.path.normpath(folder))
        if name in folders or name == "test":
            name = f"{name}_{len(folders) + 1}"
        folders[name] = (index, pl.load_noise(index, train_config.features.clip_samples,
                                              train_config.data.sample_rate_hz))
    return folders


def _write(folder: str, name: str, data: bytes | str) -> None:
    mode, encoding = ("wb", None) if isinstance(data, bytes) else ("w", "utf-8")
    with open(os.path.join(folder, name), mode, encoding=encoding) as f:
        f.write(data)


def export(config: ExportConfig, log=print) -> dict:
    """Writes the export folder (see the module docstring) and returns the report."""
    train_config, labels, body = load_run(config.workdir, config.checkpoint)
    features = train_config.features
    if features.feature_type == "micro":
        raise ExportError("the run uses the 'micro' front end, a custom op that cannot go into a "
                          ".tflite; train with --feature_type=mfcc, log_mel or spectrogram")
    index = sc.index_dataset(train_config.data)
    if index.labels != labels:
        raise ExportError(f"{config.workdir}/labels.txt says {list(labels)} but its data folder "
                          f"gives {list(index.labels)}; the data changed since training")
    noise = pl.load_noise(index, features.clip_samples, train_config.data.sample_rate_hz)
    eval_folders = _eval_folders(config, train_config, labels)
    os.makedirs(config.output_dir, exist_ok=True)

    log(f"calibrating on {min(config.calibration_clips, len(index.splits['train']))} "
        "training clips")
    calibration = clips.calibration_waveforms(index, config.calibration_clips,
                                              config.calibration_seed, features,
                                              train_config.pipeline, noise)
    wave_model = tflite.waveform_model(body, features)
    norm = tflite.InputNormalization.of(body)
    calibration_features = norm.apply(tflite.compute_features_batched(calibration, features))
    models = {"float": tflite.convert_float(wave_model),
              "int8": tflite.convert_waveform_int8(wave_model, calibration),
              "features_int8": tflite.convert_features_int8(tflite.features_model(body),
                                                            calibration_features)}
    files = {"float": device_model.FLOAT_MODEL, "int8": device_model.INT8_MODEL,
             "features_int8": device_model.FEATURES_INT8_MODEL}
    for key, model in models.items():
        _write(config.output_dir, files[key], model)
    _write(config.output_dir, device_model.LABELS_FILE, "\n".join(labels) + "\n")
    _write(config.output_dir, device_model.FRONTEND_FILE, features.to_json() + "\n")
    _write(config.output_dir, tflite.FEATURES_INPUT_FILE, norm.to_json() + "\n")

    log("measuring latency and the TFLite Micro arena")
    info = {key: _model_info(files[key], model, config.latency_runs)
            for key, model in models.items()}
    micro = info["features_int8"]
    micro.update(_check_micro(models["features_int8"], index, train_config, noise, norm))
    quantization = [c_array.Quantization(scale=micro[side]["quantization"][0],
                                         zero_point=micro[side]["quantization"][1])
                    for side in ("input", "output")]
    c_array.write_sources(config.output_dir, models["features_int8"], features, labels,
                          *quantization, micro["tflm_arena_bytes"], norm,
                          f"{os.path.abspath(config.workdir)} ({config.checkpoint})")

    log("scoring Keras, float and int8 models")
    evaluations = {"test": rp.evaluate_split(index, "test", train_config, noise, body, models)}
    for name, (folder_index, folder_noise) in eval_folders.items():
        evaluations[name] = rp.evaluate_split(folder_index, "test", train_config, folder_noise,
                                              body, models)
    if train_config.model.streamable:
        log("converting and scoring the streaming models")
        section = streaming.export_streaming(
            body, train_config, calibration,
            clips.waveform_batches(index, "test", features, train_config.pipeline, noise),
            config.latency_runs, lambda name, data: _write(config.output_dir, name, data),
            {kind: info[kind]["latency_us"] for kind in ("float", "int8")})
    else:
        section = None
        for name in list(streaming.STREAM_FILES.values()) + [device_model.STREAMING_FILE]:
            stale = os.path.join(config.output_dir, name)
            if os.path.exists(stale):  # from an earlier export of a streamable run
                os.remove(stale)
    result = {
        "workdir": os.path.abspath(config.workdir), "checkpoint": config.checkpoint,
        "labels": list(labels), "frontend": dataclasses.asdict(features),
        "waveform_input": {"dtype": "float32", "shape": [1, features.clip_samples],
                           "range": "[-1, 1] (16-bit PCM / 32768)"},
        "features_input": {"normalization": "(features - mean) / std", "mean": list(norm.mean),
                           "std": list(norm.std)},
        "calibration": {"split": "train", "clips": int(len(calibration)),
                        "seed": config.calibration_seed},
        "latency": {"runtime": "LiteRT (ai-edge-litert), default XNNPACK delegate", "threads": 1,
                    "statistic": f"median of {config.latency_runs} invokes"},
        "models": info, "evaluations": evaluations,
        "gates": {name: rp.gates(ev) for name, ev in evaluations.items()},
        "streaming": section,
    }
    _write(config.output_dir, REPORT_FILE, json.dumps(result, indent=2))
    return result


def load_report(output_dir: str) -> dict:
    with open(os.path.join(output_dir, REPORT_FILE), encoding="utf-8") as f:
        return json.load(f)


