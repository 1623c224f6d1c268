"""What a working directory holds, read for the report: each part is its data or why it is missing.

A part that is absent (no export, no stream evaluation, a run without history) is a ``Missing`` with
the reason the page shows; a file that is there but cannot be read is a UserError naming it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from kws.errors import UserError

HISTORY_SERIES = {  # report name: (tensorboard subfolder, tag) as Keras' TensorBoard callback logs
    "loss": ("train", "epoch_loss"), "val_loss": ("validation", "epoch_loss"),
    "accuracy": ("train", "epoch_accuracy"), "val_accuracy": ("validation", "epoch_accuracy"),
    "learning_rate": ("train", "epoch_learning_rate"),
}


@dataclasses.dataclass(frozen=True)
class Missing:
    """A part of the run that is not there."""

    reason: str
    """Why, in words, with what would make it (shown on the page)."""


def read_json(path: str) -> dict:
    """A JSON file as a dict; UserError when it is unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable ({e}); rewrite it with the command that makes it") from e
    if not isinstance(value, dict):
        raise UserError(f"{path}: not a JSON object")
    return value


def run_config(workdir: str) -> dict:
    """The resolved config.json of a training working directory."""
    if not os.path.isdir(workdir):
        raise UserError(f"{workdir} does not exist; give --workdir=<a kws-train working directory>")
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{workdir} is not a training working directory (no config.json)")
    return read_json(path)


def history(workdir: str) -> dict[str, dict[int, float]] | Missing:
    """Per-epoch series from the run's TensorBoard logs: {name: {epoch (1-based): value}}.

    Names are those of HISTORY_SERIES that were logged. A resumed run's later event files replace
    the epochs they repeat.
    """
    folder = os.path.join(workdir, "tensorboard")
    if not os.path.isdir(folder):
        return Missing(f"no training history: {folder} does not exist (kws-train writes per-epoch "
                       "TensorBoard logs there; multi-worker runs write none)")
    from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=import-outside-toplevel
    from tensorboard.util import tensor_util  # pylint: disable=import-outside-toplevel

    accumulators = {}
    tb_logger = logging.getLogger("tensorboard")  # logs every event file it reads at INFO
    level = tb_logger.level
    tb_logger.setLevel(logging.WARNING)
    try:
        for sub in sorted({sub for sub, _ in HISTORY_SERIES.values()}):
            path = os.path.join(folder, sub)
            if os.path.isdir(path):
                acc = event_accumulator.EventAccumulator(
                    path, size_guidance={event_accumulator.TENSORS: 0,
                                         event_accumulator.SCALARS: 0})
                acc.Reload()
                accumulators[sub] = acc
    finally:
        tb_logger.setLevel(level)
    series = {}
    for name, (sub, tag) in HISTORY_SERIES.items():
        acc = accumulators.get(sub)
        if acc is None:
            continue
        tags = acc.Tags()
        if tag in tags.get("tensors", ()):
            values = {e.step + 1: float(tensor_util.make_ndarray(e.tensor_proto))
                      for e in acc.Tensors(tag)}
        elif tag in tags.get("scalars", ()):
            values = {e.step + 1: float(e.value) for e in acc.Scalars(tag)}
        else:
            continue
        series[name] = dict(sorted(values.items()))
    if "loss" not in series:
        return Missing(f"no training history: {folder} holds no per-epoch loss (epoch_loss)")
    return series


def evaluation(path: str) -> dict | Missing:
    """An eval_<name>.json of kws-eval (or of the trainer's last step)."""
    if not os.path.isfile(path):
        return Missing(f"no evaluation: {path} does not exist; run kws-eval --workdir=<run>")
    result = read_json(path)
    for key in ("labels", "per_class", "confusion", "accuracy", "examples"):
        if key not in result:
            raise UserError(f"{path}: no {key!r}; not an evaluation written by kws-eval")
    return result


def export_report(export_dir: str) -> dict | Missing:
    """export_report.json of a kws-export folder."""
    path = os.path.join(export_dir, "export_report.json")
    if not os.path.isfile(path):
        return Missing(f"no export: {path} does not exist; run kws-export --workdir=<run> "
                       f"--output_dir={export_dir}")
    return read_json(path)


def stream_eval(stream_dir: str) -> dict | Missing:
    """A kws-stream-eval --output_dir: its report.json, and det.png / scores.png as bytes when
    there ({'report': dict, 'det.png': bytes | None, 'scores.png': bytes | None})."""
    path = os.path.join(stream_dir, "report.json")
    if not os.path.isfile(path):
        return Missing(f"no stream evaluation: {path} does not exist; run kws-stream-eval "
                       f"--output_dir={stream_dir}")
    found = {"report": read_json(path)}
    for name in ("det.png", "scores.png"):
        image = os.path.join(stream_dir, name)
        if os.path.isfile(image):
            with open(image, "rb") as f:
                found[name] = f.read()
        else:
            found[name] = None
    return found


def workdir_of_export(export_dir: str) -> str | Missing:
    """The training run an export folder was made from (its export_report.json's workdir)."""
    report = export_report(export_dir)
    if isinstance(report, Missing):
        return report
    workdir = report.get("workdir", "")
    if not workdir or not os.path.isfile(os.path.join(workdir, "config.json")):
        return Missing(f"{export_dir}/export_report.json names no training run here "
                       f"({workdir or 'none'}); run kws report --workdir=<run> --stream_dir=...")
    return workdir
