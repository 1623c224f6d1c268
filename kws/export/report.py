"""Scores an export: accuracy of Keras and of each .tflite model, top-1 agreement with Keras, and
parity of the front end inside the .tflite graphs with the tf.data features; the printed table.

Keras is scored as the trainer scores it (tf.data features into the network). The waveform-in models
get the waveforms those features were computed from (kws.export.clips), the features-in int8 model
gets the tf.data features, quantized with its input scale.
"""

from __future__ import annotations

import numpy as np

from kws.data import pipeline as pl
from kws.export import clips
from kws.export import runner
from kws.export import streaming
from kws.export import tflite
from kws.training import evaluate

FEATURE_PARITY_ATOL = 2e-3
"""Largest |tflite - tf.data| feature difference allowed (front end inside the .tflite graphs)."""
MIN_INT8_AGREEMENT = 0.98
"""Gate: top-1 agreement of the int8 waveform model with Keras."""
MAX_ACCURACY_DROP = 0.01
"""Gate: accuracy of the int8 waveform model at most this much below Keras."""


def evaluate_split(index, split, config, noise, body, models: dict[str, bytes]) -> dict:
    """Accuracy, agreement with Keras and feature parity of every model on ``split``.

    Args:
      config: the run's TrainConfig.
      body: the trained Keras network (features in).
      models: {'float': bytes, 'int8': bytes} waveform-in, and {'features_int8': bytes}.
    """
    waveform_runners = {name: runner.TfliteClassifier(m, keep_features=True)
                        for name, m in models.items() if name != "features_int8"}
    features_runner = runner.TfliteClassifier(models["features_int8"])
    norm = tflite.InputNormalization.of(body)
    dataset = pl.make_dataset(index, split, config.features, config.pipeline, noise=noise)
    waves = clips.waveform_batches(index, split, config.features, config.pipeline, noise)
    labels, predictions = [], {name: [] for name in ["keras", *models]}
    max_diff = {name: 0.0 for name in waveform_runners}
    sum_diff = {name: 0.0 for name in waveform_runners}
    n_values = 0
    for (features, y), (waveforms, y_wave) in zip(dataset, waves):
        features, y = features.numpy(), y.numpy()
        if not np.array_equal(y, y_wave):
            raise RuntimeError("waveform batches and tf.data batches are out of step")
        labels.append(y)
        predictions["keras"].append(np.argmax(body(features, training=False).numpy(), -1))
        predictions["features_int8"].append(np.argmax(features_runner.predict(norm.apply(features)), -1))
        for name, model in waveform_runners.items():
            scores, in_graph = model.predict_with_features(waveforms)
            predictions[name].append(np.argmax(scores, -1))
            diff = np.abs(in_graph.astype(np.float64) - features)
            max_diff[name] = max(max_diff[name], float(diff.max()))
            sum_diff[name] += float(diff.sum())
        n_values += features.size
    y = np.concatenate(labels)
    predicted = {name: np.concatenate(p) for name, p in predictions.items()}
    accuracy = {name: evaluate.compute_metrics(y, p, index.labels)["accuracy"]
                for name, p in predicted.items()}
    agreement = {name: float(np.mean(p == predicted["keras"]))
                 for name, p in predicted.items() if name != "keras"}
    parity = {name: {"max_abs": max_diff[name], "mean_abs": sum_diff[name] / n_values}
              for name in waveform_runners}
    return {"examples": int(len(y)), "accuracy": accuracy, "agreement_with_keras": agreement,
            "feature_parity": parity}


def gates(evaluation: dict) -> dict:
    """The export gates on one evaluation: int8 agreement, accuracy drop, front-end parity."""
    acc, agree = evaluation["accuracy"], evaluation["agreement_with_keras"]
    parity = max(p["max_abs"] for p in evaluation["feature_parity"].values())
    return {
        "int8_agreement": {"value": agree["int8"], "min": MIN_INT8_AGREEMENT,
                           "passed": agree["int8"] >= MIN_INT8_AGREEMENT},
        "int8_accuracy_drop": {"value": acc["keras"] - acc["int8"], "max": MAX_ACCURACY_DROP,
                               "passed": acc["keras"] - acc["int8"] <= MAX_ACCURACY_DROP + 1e-12},
        "feature_parity_max_abs": {"value": parity, "max": FEATURE_PARITY_ATOL,
                                   "passed": parity <= FEATURE_PARITY_ATOL},
    }


def format_table(report: dict) -> str:
    """The export's figures as a fixed-width text table, then ops, TFLite Micro, parity, gates."""
    evaluations = report["evaluations"]
    header = f"{'model':<28} {'bytes':>9} {'µs/invoke':>10}"
    for name in evaluations:
        header += f" {name[:14] + ' acc':>18} {'agree':>7}"
    lines = [header]
    rows = [("keras", None)] + list(report["models"].items())
    for key, info in rows:
        if info is None:
            line = f"{'keras (' + report['checkpoint'] + ')':<28} {'-':>9} {'-':>10}"
        else:
            line = f"{info['file']:<28} {info['bytes']:>9,} {info['latency_us']:>10.1f}"
        for ev in evaluations.values():
            agree = ev["agreement_with_keras"].get(key)
            line += f" {ev['accuracy'][key]:>18.2%} " + (f"{agree:>7.1%}" if agree is not None
                                                         else f"{'-':>7}")
        lines.append(line)
    lines.append("")
    for info in report["models"].values():
        lines.append(f"{info['file']} ops: {' '.join(info['ops'])}")
    micro = report["models"]["features_int8"]
    lines.append(f"TFLite Micro runs {micro['file']}: tensor arena {micro['tflm_arena_bytes']:,} "
                 f"bytes; top-1 as LiteRT on {micro['tflm_agreement_with_litert']:.1%} of "
                 f"{micro['tflm_examples']} clips (scores within "
                 f"{micro['tflm_max_abs_diff_levels']} int8 levels)")
    for name, ev in evaluations.items():
        lines.append(f"front end in the graph vs tf.data on {name} ({ev['examples']} clips): "
                     + ", ".join(f"{key} max |d| {p['max_abs']:.2g} (mean {p['mean_abs']:.2g})"
                                 for key, p in ev["feature_parity"].items()))
    for name, result in report["gates"].items():
        lines.append(f"gates on {name}: " + ", ".join(
            f"{gate} {g['value']:.4g} ({'ok' if g['passed'] else 'FAILED'})"
            for gate, g in result.items()))
    if report.get("streaming"):
        lines += [""] + streaming.format_lines(report["streaming"])
    return "\n".join(lines)
