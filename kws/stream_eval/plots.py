"""Pictures and tables of a streaming evaluation: the DET curve (PNG + CSV), scores over time.

The DET curve plots miss rate against false accepts per hour, one point per swept threshold.
FA/h is drawn on a log axis; thresholds with no false accept sit at half the resolution (one false
accept in the recording) and that tick reads "0". Matplotlib runs with the Agg backend (files
only, no display).
"""

from __future__ import annotations

import csv
import io
import os
from typing import Sequence

import numpy as np

from kws.device import detect
from kws.stream_eval import metrics as sm
from kws.stream_eval import truth

DET_COLUMNS = ("threshold", "miss_rate", "fa_per_hour", "false_accepts", "hits", "keyword_events",
               "wrong_label", "duplicates", "fa_unknown", "fa_background", "latency_median_ms",
               "latency_p90_ms")
_OUTCOME_STYLE = {sm.HIT: ("tab:green", "o", "hit"),
                  sm.WRONG_LABEL: ("tab:orange", "s", "wrong label"),
                  sm.DUPLICATE: ("tab:red", "x", "false accept"),
                  sm.FA_UNKNOWN: ("tab:red", "x", "false accept"),
                  sm.FA_BACKGROUND: ("tab:red", "x", "false accept")}


def _pyplot():
    # pylint: disable=import-outside-toplevel
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str) -> None:
    """Saves atomically (temp name + rename) and closes the figure."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.png"
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        _pyplot().close(fig)


def _cell(value) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def det_table(rows: Sequence[sm.SweepRow]) -> str:
    """The sweep as CSV text (DET_COLUMNS; empty cells where a value is undefined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DET_COLUMNS)
    for row in rows:
        m = row.metrics.to_dict()
        writer.writerow([_cell(row.threshold)] + [_cell(m[c]) for c in DET_COLUMNS[1:]])
    return out.getvalue()


def write_det_csv(path: str, rows: Sequence[sm.SweepRow]) -> None:
    truth.write_text(path, det_table(rows))


def write_det_png(path: str, rows: Sequence[sm.SweepRow], duration_s: float,
                  max_fa_per_hour: float, chosen: sm.SweepRow | None, title: str = "") -> None:
    """Miss rate vs FA/h over the sweep; the target FA/h line and the chosen point marked."""
    plt = _pyplot()
    rows = [r for r in rows if r.miss_rate is not None]
    zero = 0.5 * 3600.0 / duration_s
    fa = np.array([max(r.fa_per_hour, zero) for r in rows])
    miss = np.array([100.0 * r.miss_rate for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot(fa, miss, "-o", color="tab:blue", markersize=3)
    for r, x, y in zip(rows, fa, miss):
        ax.annotate(f"{r.threshold:g}", (x, y), textcoords="offset points", xytext=(3, 3),
                    fontsize=6, color="gray")
    resolution = 3600.0 / duration_s
    target = f"{max_fa_per_hour:g} FA/h" + (" (no FA at this length)"
                                             if max_fa_per_hour < resolution else "")
    ax.axvline(max(max_fa_per_hour, zero), color="tab:red", linestyle="--", linewidth=1,
               label=target)
    if chosen is not None:
        ax.plot([max(chosen.fa_per_hour, zero)], [100.0 * chosen.miss_rate], "*", color="tab:red",
                markersize=12, label=f"threshold {chosen.threshold:g}: miss "
                                     f"{100 * chosen.miss_rate:.1f}%")
    ax.set_xscale("log")
    high = max([3.0 * resolution, 2.0 * max_fa_per_hour] + [2.0 * x for x in fa])
    ticks = sorted({10.0 ** k for k in range(-2, 7) if zero * 1.5 < 10.0 ** k < high
                    and not resolution / 1.5 < 10.0 ** k < resolution * 1.5} | {resolution})
    ax.set_xticks([zero] + ticks, ["0"] + [f"{t:.3g}" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.set_xlim(zero / 1.5, high)
    ax.set_xlabel(f"false accepts per hour (one FA = {resolution:.3g} FA/h)")
    ax.set_ylabel("miss rate (%)")
    ax.set_ylim(-2, 102)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "DET curve (labels: thresholds)", fontsize=9)
    fig.tight_layout()
    _save(fig, path)


def write_scores_png(path: str, labels: Sequence[str], times_ms: np.ndarray,
                     smoothed: np.ndarray, events: Sequence[truth.Event],
                     matches: Sequence[sm.Match], config: detect.DetectorConfig,
                     start_s: float, seconds: float, title: str = "") -> None:
    """The Detector's averaged posteriors of every keyword over [start_s, start_s + seconds].

    Ground truth spans are shaded (keywords in their label's colour, other words grey) and
    labelled; detections are marked by outcome; the threshold is a dashed line.
    """
    plt = _pyplot()
    keywords = sm.keywords_of(labels, config)
    colors = {k: plt.get_cmap("tab10")(i % 10) for i, k in enumerate(keywords)}
    t = times_ms / 1000.0
    shown = (t >= start_s) & (t <= start_s + seconds)
    fig, ax = plt.subplots(figsize=(max(8.0, min(24.0, seconds / 4)), 4.0))
    for k in keywords:
        ax.plot(t[shown], smoothed[shown, list(labels).index(k)], color=colors[k], linewidth=1,
                label=k)
    ax.axhline(config.threshold, color="black", linestyle="--", linewidth=0.8,
               label=f"threshold {config.threshold:g}")
    for e in events:
        if e.end_s < start_s or e.start_s > start_s + seconds:
            continue
        color = colors.get(e.label, "gray")
        ax.axvspan(e.start_s, e.end_s, color=color, alpha=0.2, linewidth=0)
        ax.text(0.5 * (e.start_s + e.end_s), 1.02, e.label, ha="center", va="bottom", fontsize=6,
                color=color if e.label in colors else "dimgray", rotation=90)
    marked = set()
    for m in matches:
        ts = m.detection.time_ms / 1000.0
        if not start_s <= ts <= start_s + seconds:
            continue
        color, marker, name = _OUTCOME_STYLE[m.outcome]
        ax.plot([ts], [m.detection.score], marker, color=color, markersize=7,
                label=None if name in marked else name)
        marked.add(name)
    ax.set_xlim(start_s, start_s + seconds)
    ax.set_ylim(0, 1.15)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("averaged posterior")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7)
    ax.set_title(title or "scores over time (shaded: ground truth)", fontsize=9, pad=30)
    fig.tight_layout()
    _save(fig, path)
