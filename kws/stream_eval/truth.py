"""Ground truth of a long recording: which word is where, as events and as a CSV file.

The CSV has a header row. Columns, in the order they are written:

=============  =================================================================================
start_s        where the word becomes audible, in seconds from the start of the recording
end_s          where it stops (start_s..end_s is the word's active part, not its whole clip)
label          the model label it should be detected as; a label the detector never reports
               (``_unknown_``, ``_silence_``) marks a non-keyword event: detections on it are
               false accepts
clip_start_s   where the whole inserted clip starts (generated recordings; else empty)
clip_end_s     where it ends (generated recordings; else empty)
snr_db         the event's signal-to-noise ratio (generated recordings; else empty)
source         the clip file that was inserted (generated recordings; else empty)
=============  =================================================================================

A user's own CSV needs only start_s, end_s and label (other columns are ignored). Rows must be
sorted by start_s and must not overlap; labels must be labels of the model, or ``_unknown_`` for
any other speech. Every problem is refused with the file, the line and the fix.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import tempfile
from typing import Sequence

from kws.errors import UserError

UNKNOWN_LABEL = "_unknown_"
REQUIRED_COLUMNS = ("start_s", "end_s", "label")
COLUMNS = REQUIRED_COLUMNS + ("clip_start_s", "clip_end_s", "snr_db", "source")
_OPTIONAL_FLOATS = ("clip_start_s", "clip_end_s", "snr_db")


@dataclasses.dataclass(kw_only=True, frozen=True)
class Event:
    """One spoken word in a recording."""

    start_s: float
    """Start of the word's active part, in s from the start of the recording."""
    end_s: float
    """End of the word's active part, in s."""
    label: str
    """The label it should be detected as (``_unknown_`` and other background labels: none)."""
    clip_start_s: float | None = None
    """Start of the whole inserted clip, in s (generated recordings)."""
    clip_end_s: float | None = None
    """End of the whole inserted clip, in s (generated recordings)."""
    snr_db: float | None = None
    """Signal-to-noise ratio of the word's active part over the noise under it (generated)."""
    source: str = ""
    """The inserted clip file (generated recordings)."""


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (temp file + rename), creating parent folders."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.7f}".rstrip("0").rstrip(".")


def write_csv(path: str, events: Sequence[Event]) -> None:
    """Writes ``events`` as a ground-truth CSV (the columns of the module docstring)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in events:
        writer.writerow([_number(e.start_s), _number(e.end_s), e.label, _number(e.clip_start_s),
                         _number(e.clip_end_s), _number(e.snr_db), e.source])
    write_text(path, out.getvalue())


def _parse_float(path: str, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{path}, line {line}: {column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UserError(f"{path}, line {line}: {column} must be a finite number, got {text!r}")
    return value


def read_csv(path: str, known_labels: Sequence[str], duration_s: float | None = None
             ) -> tuple[Event, ...]:
    """The events of a ground-truth CSV, checked (see the module docstring).

    Args:
      path: the CSV file.
      known_labels: the model's labels; ``_unknown_`` is accepted as well.
      duration_s: the recording's length; events must end within it (None: not checked).
    Raises:
      UserError: naming the file, the line and the fix.
    """
    allowed = tuple(known_labels) + (() if UNKNOWN_LABEL in known_labels else (UNKNOWN_LABEL,))
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise UserError(f"{path}: no such labels file; pass --labels_csv=<CSV with columns "
                        f"{','.join(REQUIRED_COLUMNS)}>") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a labels CSV") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text ({e}); save it as a UTF-8 CSV") from e
    if not rows:
        raise UserError(f"{path}: empty file; the first line must be the header "
                        f"{','.join(REQUIRED_COLUMNS)}")
    header = [name.strip() for name in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; the header must name "
                        f"{','.join(REQUIRED_COLUMNS)} (found: {','.join(header)})")
    if len(set(header)) != len(header):
        raise UserError(f"{path}: the header repeats a column ({','.join(header)})")
    events: list[Event] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise UserError(f"{path}, line {line}: {len(row)} fields, the header has "
                            f"{len(header)}")
        cells = {name: cell.strip() for name, cell in zip(header, row)}
        events.append(_event(path, line, cells, allowed, events, duration_s))
    return tuple(events)


def _event(path: str, line: int, cells: dict[str, str], allowed: tuple[str, ...],
           previous: list[Event], duration_s: float | None) -> Event:
    start = _parse_float(path, line, "start_s", cells["start_s"])
    end = _parse_float(path, line, "end_s", cells["end_s"])
    label = cells["label"]
    if start < 0:
        raise UserError(f"{path}, line {line}: start_s {start:g} is negative")
    if end <= start:
        raise UserError(f"{path}, line {line}: end_s {end:g} is not after start_s {start:g}")
    if duration_s is not None and end > duration_s:
        raise UserError(f"{path}, line {line}: ends at {end:g} s, after the end of the recording "
                        f"({duration_s:g} s); is it the labels file of this recording?")
    if label not in allowed:
        raise UserError(f"{path}, line {line}: label {label!r} is not a label of the model; use "
                        f"one of {', '.join(allowed)} ({UNKNOWN_LABEL} for any other speech)")
    if previous:
        last = previous[-1]
        if start < last.start_s:
            raise UserError(f"{path}, line {line}: starts at {start:g} s, before the row above "
                            f"({last.start_s:g} s); sort the rows by start_s")
        if start < last.end_s:
            raise UserError(f"{path}, line {line}: {start:g}-{end:g} s overlaps the row above "
                            f"({last.start_s:g}-{last.end_s:g} s); events must not overlap")
    extra = {name: (_parse_float(path, line, name, cells[name]) if cells.get(name) else None)
             for name in _OPTIONAL_FLOATS}
    return Event(start_s=start, end_s=end, label=label, source=cells.get("source", ""), **extra)
