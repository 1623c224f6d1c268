"""A head trained on the frozen speech embedding -> a device folder kws-infer runs.

    kws-export --embedding_head_dir=runs/emb_stream_head --output_dir=runs/emb_stream_head/export

The head folders are what `kws head` (kws.head) and the benchmarks' heads (embedding_stream_head.py,
wake_word_head.py, custom_word_head.py) save: ``head.keras`` (embeddings [batch, n, 96] ->
posteriors), ``head.json`` (``labels``, ``embeddings`` = n) and, when calibrated on a validation
stream, ``detector.json``. An ensemble folder (`kws head --seeds=0,1,2`, the benchmarks'
``--ensemble_seeds``: ``ensemble.json`` naming its heads, and the mean's own ``detector.json``)
exports as one head that averages its heads' posteriors.
The export (kws.device.embedding reads it) holds:

* ``head.tflite``: the head with a batch of one, its weights int8 (dynamic-range quantisation:
  activations stay float, so no calibration data is needed); ``labels.txt``; ``embedding.json``;
  ``detector.json`` copied when the head has one (kws-infer then uses it by default);
* the two front-end models (``melspectrogram.tflite``, ``embedding_model.tflite``) copied from
  kws.device.embedding.FRONTEND_CACHE unless ``copy_frontend`` is off (the shipped folder leaves
  them out: tools/install.sh fetches them);
* ``export_report.json``: sizes, and the largest difference between the Keras head and the
  exported one on embeddings of generated audio (speech-like tones in noise) made by the device
  front end.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np

from kws.device import embedding as emb
from kws.errors import UserError

REPORT_FILE = "export_report.json"


def read_head(head_dir: str) -> tuple[dict, str]:
    """(head.json's content, the head.keras path) of a head folder, checked."""
    meta_path = os.path.join(head_dir, "head.json")
    model_path = os.path.join(head_dir, "head.keras")
    for path in (meta_path, model_path):
        if not os.path.isfile(path):
            raise UserError(f"{path} is missing: --embedding_head_dir wants a folder with "
                            "head.keras and head.json (`kws head` writes them)")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        labels, steps = list(meta["labels"]), int(meta["embeddings"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{meta_path}: needs 'labels' and 'embeddings' ({e})") from e
    if len(labels) < 2 or steps < 1:
        raise UserError(f"{meta_path}: {len(labels)} labels and {steps} embeddings; want >= 2 and "
                        ">= 1")
    return meta, model_path


def load_heads(head_dir: str):
    """(labels, embeddings, the Keras model, the head folders) of a head folder, or of an ensemble
    folder (``ensemble.json`` listing ``heads``, as `kws head --seeds=...` and the benchmarks'
    --ensemble_seeds write them): then one model that averages the heads' posteriors."""
    ensemble_path = os.path.join(head_dir, "ensemble.json")
    if not os.path.isfile(ensemble_path):
        return (*heads_model([head_dir]), [head_dir])
    try:
        with open(ensemble_path, encoding="utf-8") as f:
            heads = list(json.load(f)["heads"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise UserError(f"{ensemble_path}: needs 'heads', a list of head folders ({e})") from e
    if not heads:
        raise UserError(f"{ensemble_path}: lists no heads")
    return (*heads_model(heads), heads)


def heads_model(heads: list[str]):
    """(labels, embeddings, the Keras model) of head folders that agree on both: one head's own
    model, or one model that averages the heads' posteriors."""
    import keras  # pylint: disable=import-outside-toplevel

    metas = [read_head(h) for h in heads]
    labels, steps = list(metas[0][0]["labels"]), int(metas[0][0]["embeddings"])
    for h, (meta, _) in zip(heads, metas):
        if list(meta["labels"]) != labels or int(meta["embeddings"]) != steps:
            raise UserError(f"{h}: its labels or embeddings differ from {heads[0]}'s; an "
                            "ensemble's heads must agree")
    models = [keras.models.load_model(path) for _, path in metas]
    if len(models) == 1:
        return labels, steps, models[0]
    for i, m in enumerate(models):  # saved heads often share a name; a model needs unique ones
        m.name = f"head_{i}"
    inputs = keras.Input((steps, emb.EMBEDDING_DIM))
    return labels, steps, keras.Model(inputs, keras.layers.Average()([m(inputs) for m in models]))


def probe_audio(seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """float32 audio for the parity check: tones with moving pitch (vowel-like) in noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * emb.SAMPLE_RATE_HZ)) / emb.SAMPLE_RATE_HZ
    pitch = 140 + 60 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / emb.SAMPLE_RATE_HZ
    voiced = sum(np.sin(h * phase) / h for h in range(1, 12)) * (np.sin(2 * np.pi * 1.3 * t) > 0)
    return (0.2 * voiced + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def convert_head(model, steps: int) -> bytes:
    """The head with a batch of one, weights int8 (dynamic range), as .tflite bytes."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from kws.export import tflite  # pylint: disable=import-outside-toplevel

    inputs = keras.Input((steps, emb.EMBEDDING_DIM), batch_size=1)
    fixed = keras.Model(inputs, model(inputs, training=False))
    converter = tf.lite.TFLiteConverter.from_keras_model(fixed)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with tflite.quiet_conversion():
        return converter.convert()


def export(head_dir: str, output_dir: str, copy_frontend: bool = True) -> dict:
    """Writes the device folder (module docstring); returns the report."""
    labels, steps, model, heads = load_heads(head_dir)
    width = model.output_shape[-1]
    if width != len(labels):
        raise UserError(f"{heads[0]}/head.keras gives {width} scores but its head.json has "
                        f"{len(labels)} labels")
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, emb.HEAD_FILE), "wb") as f:
        f.write(convert_head(model, steps))
    with open(os.path.join(output_dir, "labels.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(labels) + "\n")
    spec = {"kind": "speech_embedding", "embeddings": steps,
            "sample_rate_hz": emb.SAMPLE_RATE_HZ, "hop_samples": emb.HOP_SAMPLES,
            "frontend": {"wheel": emb.FRONTEND_WHEEL, "sha256": emb.FRONTEND_SHA256},
            "heads": len(heads)}
    with open(os.path.join(output_dir, emb.EMBEDDING_FILE), "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=2)
    detector = os.path.join(head_dir, "detector.json")
    if os.path.isfile(detector):
        shutil.copyfile(detector, os.path.join(output_dir, "detector.json"))
    for name in (emb.MEL_FILE, emb.EMBEDDING_MODEL_FILE):
        target = os.path.join(output_dir, name)
        if copy_frontend:
            source = emb.frontend_path(head_dir, name)
            if os.path.abspath(source) != os.path.abspath(target):
                shutil.copyfile(source, target)
        elif os.path.isfile(target):
            os.remove(target)
    device = emb.EmbeddingKeywordModel(output_dir)
    embeddings = device.front.embeddings(device.front.mel(probe_audio()))
    views = np.stack([embeddings[i:i + steps] for i in range(len(embeddings) - steps + 1)])
    keras_post = np.asarray(model(views, training=False))
    device_post = device.posteriors_of(embeddings)
    report = {
        "head_dir": head_dir, "heads": heads, "labels": labels, "embeddings": steps,
        "head_tflite_bytes": os.path.getsize(os.path.join(output_dir, emb.HEAD_FILE)),
        "head_parameters": int(model.count_params()),
        "frontend_bytes": {os.path.basename(g.path): os.path.getsize(g.path)
                           for g in (device.front.mel_model, device.front.embedding_model)},
        "frontend_copied": copy_frontend,
        "parity": {"windows": len(views),
                   "max_abs_posterior_difference": float(np.abs(keras_post - device_post).max()),
                   "top_label_agreement": float(np.mean(keras_post.argmax(1)
                                                        == device_post.argmax(1)))},
        "detector": os.path.isfile(detector),
    }
    with open(os.path.join(output_dir, REPORT_FILE), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report


def format_report(report: dict) -> str:
    parity = report["parity"]
    front = sum(report["frontend_bytes"].values())
    return (f"head.tflite {report['head_tflite_bytes']:,} B ({report['head_parameters']:,} "
            f"parameters, int8 weights) + speech-embedding front end {front:,} B; "
            f"Keras vs exported head on {parity['windows']} windows: max |difference| "
            f"{parity['max_abs_posterior_difference']:.4f}, top label agreement "
            f"{100 * parity['top_label_agreement']:.1f} %; calibrated detector: "
            f"{'yes' if report['detector'] else 'no'}")
