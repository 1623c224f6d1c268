"""The report's sections as HTML: training curves, evaluation, export, stream evaluation, config.

Each takes what kws.report.run read (or its Missing) and returns the section's body.
"""

from __future__ import annotations

from kws.report import markup
from kws.report import plots
from kws.report.run import Missing


def history(series: dict | Missing) -> str:
    if isinstance(series, Missing):
        return markup.unavailable(series.reason)
    epochs = sorted(set().union(*series.values()))
    rows = [[epoch] + [f"{values[epoch]:.4g}" if epoch in values else "-"
                       for values in series.values()] for epoch in epochs]
    return (f'<p class="sub">{len(epochs)} epochs logged (from the run\'s TensorBoard logs).</p>'
            + markup.img(plots.training_curves(series), "training curves: loss, accuracy and "
                         "learning rate per epoch")
            + "<details><summary>per epoch</summary>"
            + markup.table(["epoch", *series], rows) + "</details>")


def _confusion(result: dict) -> str:
    names, counts = result["labels"], result["confusion"]
    rows = []
    for name, row in zip(names, counts):
        total = max(sum(row), 1)
        cells = [markup.esc(name)]
        for value in row:
            rate = value / total
            style = (f"display:block;background:rgba(31,119,180,{rate:.3f});"
                     f"color:{'#fff' if rate > 0.55 else '#1d2430'}")
            cells.append(f'<span title="{rate:.1%} of the row" style="{style}">'
                         f'{value if value else "&nbsp;"}</span>')
        rows.append(cells)
    return markup.table(["true \\ predicted", *names], rows, css_class="confusion", raw=True)


def evaluation(result: dict | Missing, eval_path: str) -> str:
    """Accuracy, per-class precision/recall and the confusion matrix of an eval JSON."""
    if isinstance(result, Missing):
        return markup.unavailable(result.reason)
    rows = [[name, markup.percent(c["precision"]), markup.percent(c["recall"]), c["support"]]
            for name, c in result["per_class"].items()]
    return (f'<p class="sub">{markup.esc(eval_path)}: accuracy <b>'
            f'{markup.percent(result["accuracy"])}</b> on {result["examples"]} examples.</p>'
            "<h3>Per class</h3>" + markup.table(["label", "precision", "recall", "support"], rows)
            + "<h3>Confusion matrix</h3><p class=\"sub\">Rows: true label; columns: predicted; "
              "shade: share of the row.</p>" + _confusion(result))


def _gates(gates: dict) -> str:
    rows = []
    for where, result in gates.items():
        for gate, g in result.items():
            limit = g.get("min", g.get("max"))
            rows.append([markup.esc(where), markup.esc(gate), markup.esc(f"{g['value']:.4g}"),
                         markup.esc(("≥ " if "min" in g else "≤ ") + f"{limit:g}"),
                         markup.passed(g["passed"])])
    return markup.table(["on", "gate", "value", "limit", ""], rows, left_columns=2, raw=True)


def export(report: dict | Missing, export_dir: str) -> str:
    """Sizes, latency, accuracy and agreement per model, TFLite Micro arena, gates."""
    if isinstance(report, Missing):
        return markup.unavailable(report.reason)
    evaluations = report.get("evaluations", {})
    header = ["model", "file", "bytes", "µs / invoke"]
    for name in evaluations:
        header += [f"{name} accuracy", "agreement with Keras"]
    rows = [[f"keras ({report.get('checkpoint', '?')})", "-", "-", "-"]]
    for ev in evaluations.values():
        rows[0] += [markup.percent(ev["accuracy"].get("keras")), "-"]
    for key, info in report.get("models", {}).items():
        row = [key, info["file"], markup.number(info.get("bytes")),
               markup.number(info.get("latency_us"), ".1f")]
        for ev in evaluations.values():
            agreement = ev.get("agreement_with_keras", {}).get(key)
            row += [markup.percent(ev["accuracy"].get(key)), markup.percent(agreement)]
        rows.append(row)
    latency = report.get("latency", {})
    parts = [f'<p class="sub">{markup.esc(export_dir)}. Latency: '
             f'{markup.esc(latency.get("runtime", "?"))}, {latency.get("threads", "?")} thread(s), '
             f'{markup.esc(latency.get("statistic", ""))}.</p>',
             markup.table(header, rows, left_columns=2)]
    streaming = report.get("streaming") or {}  # None: the model has no streaming variants
    micro = [[info["file"], markup.number(info["tflm_arena_bytes"]),
              markup.percent(info.get("tflm_agreement_with_litert")),
              markup.number(info.get("tflm_examples"))]
             for info in list(report.get("models", {}).values())
             + list(streaming.get("models", {}).values()) if "tflm_arena_bytes" in info]
    if micro:
        parts += ["<h3>TFLite Micro</h3>", markup.table(
            ["model", "tensor arena bytes", "top-1 as LiteRT", "clips"], micro)]
    if report.get("gates"):
        parts += ["<h3>Gates</h3>", _gates(report["gates"])]
    if streaming:
        rows = []
        tests = {k: v for k, v in streaming.items() if isinstance(v, dict) and "accuracy" in v}
        for key, info in streaming.get("models", {}).items():
            row = [key, info["file"], markup.number(info.get("bytes")),
                   markup.number(info.get("latency_us"), ".1f")]
            for ev in tests.values():
                row += [markup.percent(ev["accuracy"].get(key)),
                        markup.percent(ev.get("agreement_with_keras", {}).get(key))]
            rows.append(row)
        head = ["model", "file", "bytes", "µs / call"]
        for name in tests:
            head += [f"{name} accuracy", "agreement with Keras"]
        parts += [f"<h3>Streaming models ({markup.number(streaming.get('hop_ms'), 'g')} ms of "
                  "audio per call)</h3>", markup.table(head, rows, left_columns=2)]
        if streaming.get("gates"):
            parts.append(_gates({"streaming": streaming["gates"]}))
    return "".join(parts)


def stream(found: dict | Missing, stream_dir: str) -> str:
    """Miss rate, false accepts per hour, the DET curve and the scores over time."""
    if isinstance(found, Missing):
        return markup.unavailable(found.reason)
    report = found["report"]
    metrics, recording = report.get("metrics", {}), report.get("recording", {})
    rows = [["model", report.get("model", "?")],
            ["recording", f"{recording.get('duration_s', 0) / 60:.1f} min, "
                          f"{recording.get('keyword_events', '?')} keyword events of "
                          f"{recording.get('events', '?')}"],
            ["threshold", report.get("detector", {}).get("threshold", "?")],
            ["miss rate", markup.percent(metrics.get("miss_rate"))],
            ["false accepts", f"{metrics.get('false_accepts', '?')} "
                              f"({markup.number(metrics.get('fa_per_hour'), '.2f')} per hour)"],
            ["latency (median, p90)", f"{markup.number(metrics.get('latency_median_ms'), '.0f')}"
                                      f" ms, {markup.number(metrics.get('latency_p90_ms'), '.0f')}"
                                      " ms"],
            ["operating point", report.get("operating_point_note", "")]]
    parts = [f'<p class="sub">{markup.esc(stream_dir)}</p>',
             markup.table(None, rows, left_columns=2)]
    for name, title, css in (("det.png", "DET curve (threshold sweep)", "det"),
                             ("scores.png", "Scores over time, with the ground truth", "plot")):
        parts.append(f"<h3>{title}</h3>")
        parts.append(markup.img(found[name], title, css) if found[name]
                     else markup.unavailable(f"no {name} in {stream_dir}"))
    return "".join(parts)


def _flatten(values: dict, prefix: str = "") -> list[list[str]]:
    rows = []
    for key, value in sorted(values.items()):
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append([f"{prefix}{key}", value if isinstance(value, str) else str(value)])
    return rows


def config(values: dict) -> str:
    """The resolved config.json as a table (folded)."""
    return ("<details><summary>config.json: every setting of the run</summary>"
            + markup.table(["setting", "value"], _flatten(values), left_columns=2)
            + "</details>")
