"""The page of a run: write_report(ReportConfig) -> one self-contained report.html.

Sections: the run at a glance, training curves, the evaluation (per-class precision/recall,
confusion matrix), the misclassified clips (players, log-mel images, top-3 scores), the export,
the stream evaluation, and the resolved config. A part the working directory lacks is shown as
"not available" with what would make it; only a missing run (no config.json) is an error.
kws-eval and kws-stream-eval write the page when they finish (write_after_eval,
write_after_stream_eval).
"""

from __future__ import annotations

import dataclasses
import datetime
import os

from kws.errors import UserError
from kws.report import clips
from kws.report import markup
from kws.report import run
from kws.report import sections


@dataclasses.dataclass(kw_only=True, frozen=True)
class ReportConfig:
    """What goes into one page."""

    workdir: str
    """The kws-train working directory (config.json, tensorboard/, eval_test.json)."""
    output: str = ""
    """The page to write; empty: <workdir>/report.html."""
    eval_json: str = ""
    """The evaluation to show (an eval_<name>.json of kws-eval); empty: <workdir>/eval_test.json."""
    export_dir: str = ""
    """A kws-export folder (export_report.json); empty: <workdir>/export when it exists."""
    stream_dir: str = ""
    """A kws-stream-eval --output_dir (report.json, det.png, scores.png); empty: <workdir>/stream
    when it exists."""
    max_clips: int = 24
    """Most misclassified clips shown (each embeds its WAV and a picture)."""

    def __post_init__(self):
        if self.max_clips < 0:
            raise ValueError("max_clips must be >= 0")


@dataclasses.dataclass(frozen=True)
class Written:
    """A written page."""

    path: str
    """Where it is."""
    unavailable: tuple[str, ...]
    """Titles of the sections shown as not available."""

    def summary(self) -> str:
        missing = f" (not available: {', '.join(self.unavailable)})" if self.unavailable else ""
        return f"wrote {self.path}{missing}"


def _folder(given: str, workdir: str, default: str, flag: str) -> str:
    """An explicitly given folder must exist; the default one may be absent."""
    if given:
        if not os.path.isdir(given):
            raise UserError(f"--{flag}={given} does not exist")
        return given
    return os.path.join(workdir, default)


def _glance(workdir: str, values: dict, result, eval_path: str) -> str:
    model, features = values.get("model", {}), values.get("features", {})
    data = values.get("data", {})
    state_path = os.path.join(workdir, "checkpoints", "state.json")
    state = run.read_json(state_path) if os.path.isfile(state_path) else {}
    rows = [["model", f"{model.get('name', '?')} ({model.get('num_classes', '?')} classes)"],
            ["features", f"{features.get('feature_type', '?')}, "
                         f"{features.get('window_size_ms', '?')} ms windows every "
                         f"{features.get('window_stride_ms', '?')} ms"],
            ["data", data.get("data_dir", "?")],
            ["epochs", f"{state.get('epoch', '?')} of {values.get('epochs', '?')} done; best "
                       f"validation accuracy {markup.percent(state.get('best_val_accuracy'))} at "
                       f"epoch {state.get('best_epoch', '?')}" if state else
                       f"{values.get('epochs', '?')} planned (no checkpoints/state.json)"]]
    if not isinstance(result, run.Missing):
        rows.append(["accuracy", f"{markup.percent(result['accuracy'])} on "
                                 f"{result['examples']} examples "
                                 f"({os.path.basename(eval_path)})"])
    return markup.table(None, rows, left_columns=2)


def write_report(config: ReportConfig) -> Written:
    """Writes the page (see the module docstring); UserError when ``workdir`` is no run."""
    workdir = config.workdir
    values = run.run_config(workdir)
    export_dir = _folder(config.export_dir, workdir, "export", "export_dir")
    stream_dir = _folder(config.stream_dir, workdir, "stream", "stream_dir")
    eval_path = config.eval_json or os.path.join(workdir, "eval_test.json")
    output = config.output or os.path.join(workdir, "report.html")
    result = run.evaluation(eval_path)
    history = run.history(workdir)
    export = run.export_report(export_dir)
    stream = run.stream_eval(stream_dir)
    recorded = result
    if not isinstance(result, run.Missing) and "misclassified" not in result:
        recorded = run.Missing(f"{eval_path} has no per-clip predictions (written by an older "
                               "kws); rerun kws-eval --workdir=<run> to record them")
    misclassified = (markup.unavailable(recorded.reason) if isinstance(recorded, run.Missing)
                     else clips.section(result, values, config.max_clips))
    parts = [("glance", "The run", _glance(workdir, values, result, eval_path), None),
             ("curves", "Training curves", sections.history(history), history),
             ("evaluation", "Evaluation", sections.evaluation(result, eval_path), result),
             ("clips", "Misclassified clips", misclassified, recorded),
             ("export", "Export", sections.export(export, export_dir), export),
             ("stream", "Stream evaluation", sections.stream(stream, stream_dir), stream),
             ("config", "Config", sections.config(values), None)]
    unavailable = tuple(title for _, title, _, part in parts if isinstance(part, run.Missing))
    nav = " ".join(f'<a href="#{key}">{markup.esc(title)}</a>' for key, title, _, _ in parts)
    body = "".join(f'<section id="{key}"><h2>{markup.esc(title)}</h2>{html}</section>'
                   for key, title, html, _ in parts)
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>kws run {markup.esc(os.path.basename(os.path.normpath(workdir)))}</title>"
            f"<style>{markup.CSS}</style></head><body>"
            f"<h1>kws run: {markup.esc(workdir)}</h1>"
            f'<p class="sub">Written by kws report on {when}.</p><nav>{nav}</nav>{body}'
            "</body></html>\n")
    folder = os.path.dirname(os.path.abspath(output))
    os.makedirs(folder, exist_ok=True)
    tmp = output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, output)
    return Written(path=output, unavailable=unavailable)


def write_after_eval(workdir: str, output_dir: str, name: str) -> str:
    """kws-eval's page of evaluation ``name`` (<output_dir>/eval_<name>.json): report.html for
    the test split, report_<name>.html otherwise. Returns the line to print."""
    page = "report.html" if name == "test" else f"report_{name}.html"
    return write_report(ReportConfig(
        workdir=workdir, output=os.path.join(output_dir, page),
        eval_json=os.path.join(output_dir, f"eval_{name}.json"))).summary()


def write_after_stream_eval(stream_dir: str, workdir: str, model_dir: str) -> str:
    """kws-stream-eval's page in ``stream_dir``: the run of --workdir, or the run --model_dir's
    export was made from. Returns the line to print (why there is no page, when that run is
    unknown)."""
    if not workdir:
        found = run.workdir_of_export(model_dir)
        if isinstance(found, run.Missing):
            return f"no report.html: {found.reason}"
        workdir = found
    return write_report(ReportConfig(
        workdir=workdir, output=os.path.join(stream_dir, "report.html"),
        export_dir=model_dir, stream_dir=stream_dir)).summary()
