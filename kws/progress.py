"""A dependency-free progress bar for long loops (synthesis, conversion, indexing)."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")


class Progress:
    """Prints `label [#####.....] n/total  rate/s  eta` on one line, at most every ``interval_s``.

    On a terminal the line is redrawn in place; elsewhere (logs, CI) a line is printed at most every
    ``interval_s`` seconds and once at the end, so logs stay short.
    """

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None,
                 interval_s: float | None = None, width: int = 30):
        self.total = max(0, int(total))
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval_s = interval_s if interval_s is not None else (0.1 if self.tty else 10.0)
        self.count = 0
        self.start = time.monotonic()
        self._last = -1e9

    def update(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if now - self._last >= self.interval_s or self.count >= self.total:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        frac = self.count / self.total if self.total else 1.0
        filled = int(round(self.width * min(frac, 1.0)))
        elapsed = max(now - self.start, 1e-9)
        rate = self.count / elapsed
        eta = (self.total - self.count) / rate if rate > 0 else 0.0
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{self.count}/{self.total}  {rate:.1f}/s  eta {eta:.0f}s")
        end = "" if self.tty and self.count < self.total else "\n"
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.count < self.total:
            self.stream.write("\n")
            self.stream.flush()


def progress(items: Iterable[T], total: int, label: str = "", stream: TextIO | None = None
             ) -> Iterator[T]:
    """Yields ``items`` while drawing a progress bar of ``total`` steps."""
    bar = Progress(total, label, stream)
    try:
        for item in items:
            yield item
            bar.update()
    finally:
        bar.close()
