r"""Where `_unknown_` fails: each model's answer on other words and keywords, source by source.

    python benchmarks/unknown_diagnosis.py --data_dir=runs/rv_x6/merged_data \
        --export_dirs=kws/pretrained/ds_cnn_s_real --run_dirs=runs/u/a --output=runs/unknown.json

Sources (every clip is 1 s of one word):
- held-out real keywords and held-out real other words: the test split of a `real_voices.py` tree
  (its real clips only, every other-word clip of the held-out speakers, not the 10 % sample);
- synthetic keywords and other words of the default dataset's test voices;
- each --other_speech folder (default: the Arabic speech commands and the v0.01 bed/cat/happy
  clips), every clip of it an `_unknown_` example.

Only speakers that none of the scored kws models heard (in training or validation, their
negatives included) are scored, so every row is on voices new to every model; the MLPerf Tiny
reference is scored on the same clips. For each model and source the table gives the share
answered correctly, the share answered `_unknown_` and the labels the errors went to. A model
that calls real other words keywords but synthetic ones `_unknown_` has learnt "sounds real" as
"is a keyword" (see benchmarks/README.md, "`_unknown_`").
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import collections
import dataclasses
import json
import os
import shlex
import sys

import numpy as np
from absl import app
from absl import flags

import mlperf_ref
from kws import cli
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.export import clips
from kws.export import exporter
from kws.export import runner
from kws.export import tflite
from kws.synth import dataset as synth

_SHARED_DATA = os.path.dirname(mlperf_ref.DATA_DIR)
_DATA_DIR = flags.DEFINE_string("data_dir", "runs/rv_x6/merged_data", "A real_voices.py tree: "
                                "its test split holds the held-out real speakers.")
_REAL_DIR = flags.DEFINE_string("real_dir", mlperf_ref.DATA_DIR, "The real clips of that tree.")
_SYNTH_DIR = flags.DEFINE_string("synth_dir", synth.DEFAULT_SYNTH_DIR, "The synthetic dataset "
                                 "whose test voices are scored ('' leaves them out).")
_OTHER_SPEECH = flags.DEFINE_list("other_speech", [
    os.path.join(_SHARED_DATA, "arabic_speech_commands_negatives"),
    os.path.join(_SHARED_DATA, "speech_commands_v0.01_unknown_words")],
    "Folders of other speech, every clip `_unknown_`.")
_EXPORT_DIRS = flags.DEFINE_list("export_dirs", [], "kws-export folders (int8, waveform in).")
_RUN_DIRS = flags.DEFINE_list("run_dirs", [], "kws-train working directories (Keras float).")
_CHECKPOINT = flags.DEFINE_string("checkpoint", "last", "Checkpoint of --run_dirs.")
_PEER_MODEL = flags.DEFINE_string("peer_model", mlperf_ref.MODEL_PATH, "The reference model.")
_OUTPUT = flags.DEFINE_string("output", "", "Also write the rows to this JSON file.")


@dataclasses.dataclass
class Model:
    name: str
    labels: tuple[str, ...]
    predict: object  # waveforms [n, 16000] -> scores [n, labels]
    data: sc.DataConfig | None  # what it trained on, when known


def _flagfile_data(path: str) -> sc.DataConfig:
    """The data flags of a kws-train flagfile (following --flagfile lines)."""
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line.startswith("--") or "=" not in line:
                continue
            key, value = line[2:].split("=", 1)
            if key == "flagfile":
                nested = _flagfile_data(value)
                values.setdefault("data_dir", nested.data_dir)
            else:
                values[key] = shlex.split(value)[0] if value else ""
    if "data_dir" not in values:
        raise UserError(f"{path} names no --data_dir: the model's training speakers are unknown")
    negative = values.get("negative_percentage")
    return sc.DataConfig(
        data_dir=values["data_dir"], negative_dirs=tuple(
            d for d in values.get("negative_dirs", "").split(",") if d),
        validation_percentage=float(values.get("validation_percentage", 10)),
        testing_percentage=float(values.get("testing_percentage", 10)),
        negative_percentage=float(negative) if negative else None)


def load_models() -> list[Model]:
    models = []
    for folder in _EXPORT_DIRS.value:
        labels = tuple(open(os.path.join(folder, "labels.txt"), encoding="utf-8").read().split())
        with open(os.path.join(folder, "model_int8.tflite"), "rb") as f:
            classifier = runner.TfliteClassifier(f.read())
        if os.path.isfile(os.path.join(folder, exporter.REPORT_FILE)):
            report = exporter.load_report(folder)
            data = exporter.load_run(report["workdir"], report["checkpoint"])[0].data
        elif os.path.isfile(os.path.join(folder, "train.flags")):
            data = _flagfile_data(os.path.join(folder, "train.flags"))
        else:
            raise UserError(f"{folder}: no {exporter.REPORT_FILE} or train.flags says what it "
                            "trained on")
        models.append(Model(f"{folder} (int8)", labels, classifier.predict, data))
    for workdir in _RUN_DIRS.value:
        config, labels, body = exporter.load_run(workdir, _CHECKPOINT.value)

        def predict(waves, body=body, features=config.features):
            feats = tflite.compute_features_batched(waves, features)
            # Eager calls: predict() would retrace (and warn) for every source's batch shape.
            return np.concatenate([body(feats[i:i + 500], training=False).numpy()
                                   for i in range(0, len(feats), 500)])
        models.append(Model(f"{workdir} ({_CHECKPOINT.value}, float)", tuple(labels), predict,
                            config.data))
    if not models:
        raise UserError("pass --export_dirs and/or --run_dirs")
    return models


def heard_speakers(data: sc.DataConfig) -> set[str]:
    """Speakers of the training and validation clips (and negatives) of a model's data."""
    index = sc.index_dataset(data)
    paths = [e.path for s in ("train", "validation") for e in index.splits[s] if e.path]
    for pools in (index.unknown_pool, index.negative_pool):
        paths += [p for s in ("train", "validation") for p in pools.get(s, ())]
    return {sc.speaker_id(os.path.basename(os.path.realpath(p))) for p in paths}


def sources(heard: set[str], data_dir: str, real_dir: str, synth_dir: str,
            other_speech: list[str]) -> dict[str, list[sc.Example]]:
    """Source name -> its clips (module docstring), every clip's speaker outside ``heard``."""
    def new(path):
        return sc.speaker_id(os.path.basename(os.path.realpath(path))) not in heard
    real_root = os.path.realpath(real_dir) + os.sep
    tree = sc.index_dataset(sc.DataConfig(data_dir=data_dir))
    real = [e for e in tree.splits["test"] if e.path and os.path.realpath(e.path).startswith(
        real_root)]
    out = {
        "held-out real keywords": [e for e in real if e.label not in (
            sc.UNKNOWN_LABEL, sc.SILENCE_LABEL) and new(e.path)],
        "held-out real other words": [
            sc.Example(path=p, label=sc.UNKNOWN_LABEL) for p in tree.unknown_pool["test"]
            if os.path.realpath(p).startswith(real_root) and new(p)]}
    if synth_dir:
        syn = sc.index_dataset(sc.DataConfig(data_dir=synth_dir))
        out["synthetic test-voice keywords"] = [
            e for e in syn.splits["test"] if e.label not in (sc.UNKNOWN_LABEL, sc.SILENCE_LABEL)]
        out["synthetic test-voice other words"] = [
            sc.Example(path=p, label=sc.UNKNOWN_LABEL) for p in syn.unknown_pool["test"]]
    for folder in other_speech:
        found = sc.negative_clips(sc.DataConfig(data_dir=folder, negative_dirs=(folder,)), [])
        paths = sorted(p for s in sc.SPLITS for p in found[s] if new(p))
        out[f"{os.path.basename(os.path.normpath(folder))} (unheard speakers)"] = [
            sc.Example(path=p, label=sc.UNKNOWN_LABEL) for p in paths]
    return {k: v for k, v in out.items() if v}


def waveforms(examples: list[sc.Example], labels: tuple[str, ...]) -> tuple[np.ndarray, list]:
    index = sc.DatasetIndex(labels=labels, splits={"train": (), "validation": (),
                                                  "test": tuple(examples)},
                            noise_files=(), skipped=())
    waves = [w for w, _ in clips.waveform_batches(index, "test", mlperf_ref.FEATURES,
                                                  pl.PipelineConfig(batch_size=200), None)]
    return np.concatenate(waves), [e.label for e in examples]


def score(name: str, labels: tuple[str, ...], scores: np.ndarray, truth: list[str],
          source: str) -> dict:
    answers = [labels[i] for i in np.argmax(scores, -1)]
    wrong = collections.Counter(a for a, t in zip(answers, truth) if a != t)
    return {"source": source, "model": name, "clips": len(truth),
            "correct": float(np.mean([a == t for a, t in zip(answers, truth)])),
            "called_unknown": float(np.mean([a == sc.UNKNOWN_LABEL for a in answers])),
            "errors_to": dict(wrong.most_common(4))}


def format_rows(rows: list[dict]) -> str:
    lines, source = [], None
    for r in rows:
        if r["source"] != source:
            source = r["source"]
            lines.append(f"\n{source} ({r['clips']} clips)")
            lines.append(f"  {'model':<52} {'correct':>8} {'said _unknown_':>15}  errors went to")
        errors = ", ".join(f"{k} {v}" for k, v in r["errors_to"].items())
        lines.append(f"  {r['model']:<52} {r['correct']:>8.1%} {r['called_unknown']:>15.1%}  "
                     f"{errors}")
    return "\n".join(lines)


def main(argv):
    del argv
    models = load_models()
    labels = models[0].labels
    for m in models:
        if set(m.labels) != set(mlperf_ref.LABELS):
            raise UserError(f"{m.name} has labels {list(m.labels)}; this diagnosis needs the "
                            f"reference's twelve: {list(mlperf_ref.LABELS)}")
    heard: set[str] = set()
    for m in models:
        heard |= heard_speakers(m.data)
    reference = runner.TfliteClassifier(mlperf_ref.read(_PEER_MODEL.value))
    rows = []
    found = sources(heard, _DATA_DIR.value, _REAL_DIR.value, _SYNTH_DIR.value, _OTHER_SPEECH.value)
    for source, examples in found.items():
        waves, truth = waveforms(examples, labels)
        rows.append(score("MLPerf Tiny reference", mlperf_ref.LABELS, reference.predict(
            mlperf_ref.features(waves)[..., None]), truth, source))
        rows += [score(m.name, m.labels, m.predict(waves), truth, source) for m in models]
    print(format_rows(rows))
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    cli.run_command(sys.modules[__name__], os.path.basename(__file__), sys.argv[1:])
