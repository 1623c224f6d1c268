"""One streaming evaluation: a model over a recording, scored, swept, reported and drawn.

``evaluate`` computes the posteriors once (``PosteriorSource.posteriors``), detects with the
device script's Detector at the configured threshold, scores the detections against the ground
truth (kws.stream_eval.metrics gives the rules), sweeps the threshold, and picks the best miss
rate at <= ``max_fa_per_hour``. With an output folder it writes detections.csv, det.csv, det.png,
scores.png and report.json there.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import time
from typing import Sequence

from kws.device import detect
from kws.stream_eval import metrics as sm
from kws.stream_eval import plots
from kws.stream_eval import recording as rec
from kws.stream_eval import sources
from kws.stream_eval import truth

OUTPUT_FILES = ("report.json", "detections.csv", "det.csv", "det.png", "scores.png")


@dataclasses.dataclass(kw_only=True, frozen=True)
class EvalConfig:
    """How detections are made and scored."""

    detector: detect.DetectorConfig = detect.DetectorConfig()
    """Smoothing, threshold and suppression, as on the device."""
    tolerance_ms: float = 1000.0
    """A detection up to this long after a word's end still counts for it."""
    thresholds: tuple[float, ...] = sm.DEFAULT_THRESHOLDS
    """Thresholds of the sweep; the detector's own threshold is always added."""
    max_fa_per_hour: float = 1.0
    """The operating point: the best miss rate with at most this many false accepts per hour."""
    plot_start_s: float = 0.0
    """scores.png starts here."""
    plot_seconds: float = 60.0
    """scores.png shows this long."""

    def __post_init__(self):
        if self.tolerance_ms < 0 or self.max_fa_per_hour < 0:
            raise ValueError("tolerance_ms and max_fa_per_hour must be >= 0")
        if any(not 0 < t <= 1 for t in self.thresholds):
            raise ValueError(f"thresholds must be in (0, 1], got {list(self.thresholds)}")
        if self.plot_start_s < 0 or self.plot_seconds <= 0:
            raise ValueError("plot_start_s must be >= 0 and plot_seconds > 0")


@dataclasses.dataclass(kw_only=True, frozen=True)
class EvalResult:
    """What one evaluation found."""

    metrics: sm.StreamMetrics
    """At the detector's threshold."""
    sweep: tuple[sm.SweepRow, ...]
    """At every threshold, ascending."""
    operating_point: sm.SweepRow | None
    """The best miss rate at <= max_fa_per_hour FA/h, or None (see ``note``)."""
    note: str
    """The operating point in words, or why there is none."""
    report: dict
    """Everything, as written to report.json."""


def _note(metrics: sm.StreamMetrics, rows: Sequence[sm.SweepRow], chosen: sm.SweepRow | None,
          target: float) -> str:
    resolution = 3600.0 / metrics.duration_s
    if metrics.keyword_events == 0:
        return "no keyword events in the recording: no miss rate"
    if chosen is None:
        return (f"no swept threshold reaches <= {target:g} FA/h (one false accept here is "
                f"{resolution:.3g} FA/h); lowest: {min(r.fa_per_hour for r in rows):.3g} FA/h")
    return (f"miss rate at <= {target:g} FA/h: {percent(chosen.miss_rate)} at threshold "
            f"{chosen.threshold:g} ({chosen.metrics.false_accepts} FA in "
            f"{metrics.duration_s / 60:.1f} min; one FA = {resolution:.3g} FA/h)")


def evaluate(source: sources.PosteriorSource, recording: rec.Recording, config: EvalConfig,
             output_dir: str | None = None, recording_info: dict | None = None) -> EvalResult:
    """Runs ``source`` over ``recording`` and scores it (module docstring)."""
    started = time.monotonic()
    times_ms, posteriors = source.posteriors(recording.samples)
    model_s = time.monotonic() - started
    labels, detector = source.labels, config.detector
    keywords = sm.keywords_of(labels, detector)
    duration_s = recording.duration_s
    detections, smoothed = sm.run_detector(labels, detector, times_ms, posteriors,
                                           keep_smoothed=output_dir is not None)
    metrics, matches = sm.score(recording.events, detections, keywords, duration_s,
                                config.tolerance_ms)
    rows = sm.sweep(labels, detector, times_ms, posteriors, recording.events, duration_s,
                    tuple(config.thresholds) + (detector.threshold,), config.tolerance_ms)
    chosen = sm.operating_point(rows, config.max_fa_per_hour)
    note = _note(metrics, rows, chosen, config.max_fa_per_hour)
    report = {
        "model": source.description, "labels": list(labels),
        "recording": {**(recording_info or {}), "duration_s": duration_s,
                      "events": len(recording.events), "keyword_events": metrics.keyword_events},
        "detector": dataclasses.asdict(detector), "hop_samples": source.hop_samples,
        "windows": len(times_ms), "model_seconds": round(model_s, 2),
        "tolerance_ms": config.tolerance_ms, "metrics": metrics.to_dict(),
        "max_fa_per_hour": config.max_fa_per_hour, "fa_resolution_per_hour": 3600.0 / duration_s,
        "operating_point": None if chosen is None else {"threshold": chosen.threshold,
                                                        **chosen.metrics.to_dict()},
        "operating_point_note": note,
        "sweep": [{"threshold": r.threshold, **r.metrics.to_dict()} for r in rows],
    }
    if output_dir is not None:
        join = lambda name: os.path.join(output_dir, name)  # noqa: E731
        truth.write_text(join("detections.csv"), detections_csv(matches, recording.events))
        plots.write_det_csv(join("det.csv"), rows)
        plots.write_det_png(join("det.png"), rows, duration_s, config.max_fa_per_hour, chosen)
        plots.write_scores_png(join("scores.png"), labels, times_ms, smoothed, recording.events,
                               matches, detector, config.plot_start_s, config.plot_seconds)
        truth.write_text(join("report.json"), json.dumps(report, indent=2) + "\n")
    return EvalResult(metrics=metrics, sweep=rows, operating_point=chosen, note=note,
                      report=report)


def detections_csv(matches: Sequence[sm.Match], events: Sequence[truth.Event]) -> str:
    """time_s,label,score,outcome,event_start_s,event_end_s,event_label: one row per detection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["time_s", "label", "score", "outcome", "event_start_s", "event_end_s",
                     "event_label"])
    for m in matches:
        e = events[m.event] if m.event is not None else None
        writer.writerow([f"{m.detection.time_ms / 1000:.3f}", m.detection.label,
                         f"{m.detection.score:.4f}", m.outcome,
                         f"{e.start_s:.3f}" if e else "", f"{e.end_s:.3f}" if e else "",
                         e.label if e else ""])
    return out.getvalue()


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_summary(result: EvalResult) -> str:
    """A few lines: the recording, the default and best thresholds, the note, per keyword."""
    report = result.report
    r = report["recording"]
    lines = [f"model      {report['model']}",
             f"recording  {r['duration_s']:.1f} s, {r['events']} events ({r['keyword_events']} "
             f"keyword, {r['events'] - r['keyword_events']} other words)"
             + (f", {r['clipped_samples']} samples clipped at full scale"
                if r.get("clipped_samples") else ""),
             f"{'threshold':>9} {'miss':>7} {'FA/h':>8} {'FA':>4} {'wrong':>5} {'lat.med':>8} "
             f"{'lat.p90':>8}"]

    def row(threshold: float, m: sm.StreamMetrics) -> str:
        lat = lambda v: "n/a" if v is None else f"{v:.0f}ms"  # noqa: E731
        return (f"{threshold:>9g} {percent(m.miss_rate):>7} {m.fa_per_hour:>8.2f} "
                f"{m.false_accepts:>4} {m.wrong_label:>5} {lat(m.latency_median_ms):>8} "
                f"{lat(m.latency_p90_ms):>8}")

    lines.append(row(report["detector"]["threshold"], result.metrics))
    if result.operating_point is not None:
        lines.append(row(result.operating_point.threshold, result.operating_point.metrics)
                     + f"   <- best at <= {report['max_fa_per_hour']:g} FA/h")
    lines.append(result.note)
    lines.append("per keyword: " + ", ".join(
        f"{k} {v['hits']}/{v['events']}" for k, v in report["metrics"]["per_label"].items()))
    return "\n".join(lines)
