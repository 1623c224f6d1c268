"""What `kws-infer` does with files: classify a clip, stream a recording, score a folder to CSV.

A file at most one window long is classified once (zero-padded when shorter, and said so). A longer
file is streamed: the model runs every hop over a sliding one-window buffer and the Detector turns
the posteriors into ``time label score`` detections (a speech-embedding model's file is first
padded with quiet before and after, its file_padding, and times are the file's own). A folder gives
one CSV row per clip, or per detection of a long recording.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from typing import IO, Iterator

import numpy as np

from kws.device import detect
from kws.device import stream
from kws.device import wav
from kws.device.model import KeywordModel

CSV_COLUMNS = ("path", "time_s", "label", "score", "top_k", "note")


@dataclasses.dataclass(kw_only=True, frozen=True)
class InferOptions:
    """How files are read and scored."""

    top_k: int = 3
    """Labels listed per clip, best first."""
    hop_ms: float = 50.0
    """Streaming: the model runs every hop_ms over the last window."""
    stereo: str = "mix"
    """Multi-channel files: 'mix' (average, noted) or 'refuse'."""
    resample: bool = True
    """Other sample rates: resample (noted) or refuse."""
    detector: detect.DetectorConfig = detect.DetectorConfig()
    """Streaming: smoothing, threshold and suppression."""

    def __post_init__(self):
        if self.top_k < 1:
            raise ValueError("top_k must be >= 1")
        low, high = stream.HOP_MS_RANGE
        if not low <= self.hop_ms <= high:
            raise ValueError(f"hop_ms must be in {low}..{high} ms, got {self.hop_ms}")


@dataclasses.dataclass(kw_only=True, frozen=True)
class ClipResult:
    """The classification of one clip."""

    path: str
    """The file."""
    top: tuple[tuple[str, float], ...]
    """(label, probability) of the top_k labels, best first."""
    notes: tuple[str, ...]
    """What was done to the audio (mixed, resampled, padded)."""

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def score(self) -> float:
        return self.top[0][1]


@dataclasses.dataclass(kw_only=True, frozen=True)
class StreamResult:
    """The detections of a recording longer than one window."""

    path: str
    """The file."""
    duration_s: float
    """Length of the recording."""
    detections: tuple[detect.Detection, ...]
    """Detections in time order."""
    notes: tuple[str, ...]
    """What was done to the audio (mixed, resampled)."""


def top_k(labels, posteriors: np.ndarray, k: int) -> tuple[tuple[str, float], ...]:
    order = np.argsort(-np.asarray(posteriors), kind="stable")[:k]
    return tuple((labels[i], float(posteriors[i])) for i in order)


def run_file(model: KeywordModel, path: str, options: InferOptions) -> ClipResult | StreamResult:
    """Classifies ``path`` (at most one window) or streams it (longer)."""
    loaded = wav.load_audio(path, model.sample_rate_hz, stereo=options.stereo,
                            resample=options.resample)
    if len(loaded.samples) <= model.clip_samples:
        clip, note = wav.pad_to_window(loaded.samples, model.clip_samples, model.sample_rate_hz)
        posteriors = model.predict(clip)
        return ClipResult(path=path, top=top_k(model.labels, posteriors, options.top_k),
                          notes=loaded.notes + ((note,) if note else ()))
    recognizer = stream.StreamingRecognizer.for_model(
        model, options.hop_ms, detect.Detector(model.labels, options.detector))
    samples, lead_ms = loaded.samples, 0.0
    if hasattr(model, "file_padding"):  # speech-embedding models: see their file_padding
        samples, lead_ms = model.file_padding(samples)
    detections = [dataclasses.replace(d, time_ms=max(0.0, d.time_ms - lead_ms))
                  for d in recognizer.feed(samples)]
    return StreamResult(path=path, duration_s=loaded.duration_s, detections=tuple(detections),
                        notes=loaded.notes)


def format_result(result: ClipResult | StreamResult) -> str:
    """`path  label  score  (top-k)  [notes]` for a clip; a streamed file's detections."""
    notes = f"  [{'; '.join(result.notes)}]" if result.notes else ""
    if isinstance(result, ClipResult):
        ranked = ", ".join(f"{label} {p:.3f}" for label, p in result.top)
        return f"{result.path}  {result.label}  {result.score:.3f}  ({ranked}){notes}"
    lines = [f"{result.path}: {result.duration_s:.2f} s, streamed; {len(result.detections)} "
             f"detection(s){notes}", f"{'time_s':>8}  label  score"]
    lines += [f"{d.time_ms / 1000:8.3f}  {d.label}  {d.score:.3f}" for d in result.detections]
    return "\n".join(lines)


def wav_files(folder: str) -> list[str]:
    """Every *.wav under ``folder`` (any depth), sorted; hidden files and folders left out."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files)
                  if f.lower().endswith(".wav") and not f.startswith(".")]
    return sorted(found)


def csv_rows(result: ClipResult | StreamResult) -> Iterator[dict]:
    """CSV_COLUMNS rows: one per clip, one per detection of a streamed file (one empty if none)."""
    if isinstance(result, ClipResult):
        yield {"path": result.path, "time_s": "", "label": result.label,
               "score": f"{result.score:.4f}",
               "top_k": " ".join(f"{label}:{p:.4f}" for label, p in result.top),
               "note": "; ".join(result.notes)}
        return
    notes = "; ".join(result.notes + (f"streamed {result.duration_s:.2f} s",))
    if not result.detections:
        yield {"path": result.path, "time_s": "", "label": "", "score": "", "top_k": "",
               "note": notes + "; no detection"}
    for d in result.detections:
        yield {"path": result.path, "time_s": f"{d.time_ms / 1000:.3f}", "label": d.label,
               "score": f"{d.score:.4f}", "top_k": "", "note": notes}


def csv_writer(out: IO[str]) -> csv.DictWriter:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    return writer


def error_row(path: str, message: str) -> dict:
    return {"path": path, "time_s": "", "label": "", "score": "", "top_k": "",
            "note": f"error: {message}"}
