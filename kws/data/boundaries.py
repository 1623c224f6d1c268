"""Where the word is in a clip: energy-based word boundaries, computed once per clip and cached.

A clip of one spoken word is mostly silence or noise around a short loud part. ``word_bounds`` finds
that part from 10 ms frame energies: the frames within ``floor_db`` of the loudest frame and at least
``margin_db`` above the clip's own floor (its 20th-percentile frame) are active; active runs closer
than ``bridge_ms`` are joined (the stop closure inside "stop" or "left"), and the word is the joined
run that holds the most energy, widened by ``pad_ms`` on each side. Clips with no such part (all
silence, constant noise) get the whole clip.

``BoundaryCache`` keeps the bounds of every clip it has seen in one JSON file keyed by the clip's
path, size and modification time, so a clip is analysed once however many runs read it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import numpy as np

_FRAME_MS = 10.0
_FLOOR_PERCENTILE = 20.0


@dataclasses.dataclass(kw_only=True, frozen=True)
class BoundsConfig:
    """How active frames are found."""

    floor_db: float = 35.0
    """Active frames are within this many dB of the clip's loudest frame."""
    margin_db: float = 8.0
    """... and at least this many dB above the clip's floor (its 20th-percentile frame)."""
    bridge_ms: float = 150.0
    """Active runs separated by at most this much are one word."""
    pad_ms: float = 20.0
    """The bounds are widened by this much on each side (within the clip)."""


def frame_energies_db(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """float64 [frames]: mean power of each whole 10 ms frame of ``samples``, in dB."""
    frame = max(1, int(round(sample_rate_hz * _FRAME_MS / 1000)))
    n = len(samples) // frame
    x = np.asarray(samples[:n * frame], np.float64).reshape(n, frame)
    return 10.0 * np.log10(np.mean(x * x, axis=1) + 1e-12)


def word_bounds(samples: np.ndarray, sample_rate_hz: int,
                config: BoundsConfig = BoundsConfig()) -> tuple[int, int]:
    """(start, end) sample indices of the word in ``samples`` (module docstring); end exclusive."""
    samples = np.asarray(samples)
    if samples.ndim != 1 or len(samples) == 0:
        raise ValueError(f"need a non-empty 1-D clip, got shape {samples.shape}")
    frame = max(1, int(round(sample_rate_hz * _FRAME_MS / 1000)))
    energy = frame_energies_db(samples, sample_rate_hz)
    if len(energy) == 0:
        return 0, len(samples)
    floor = np.percentile(energy, _FLOOR_PERCENTILE)
    active = (energy >= energy.max() - config.floor_db) & (energy >= floor + config.margin_db)
    if not active.any():
        return 0, len(samples)
    bridge = int(round(config.bridge_ms / _FRAME_MS))
    runs = []  # [first frame, last frame] of joined active runs
    for i in np.flatnonzero(active):
        if runs and i - runs[-1][1] - 1 <= bridge:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    power = 10.0 ** (energy / 10.0)
    first, last = max(runs, key=lambda r: power[r[0]:r[1] + 1].sum())
    pad = int(round(config.pad_ms * sample_rate_hz / 1000))
    return max(0, first * frame - pad), min(len(samples), (last + 1) * frame + pad)


def crop_around(samples: np.ndarray, bounds: tuple[int, int], window_samples: int
                ) -> tuple[np.ndarray, tuple[int, int]]:
    """A window of ``window_samples`` cut from ``samples`` around the word at ``bounds``.

    A clip no longer than the window is returned whole (the pipeline pads it). A longer one is cut
    so that the word is centred, or, when the word is longer than the window, so that the window
    ends with the word's end (the end of a word is what a stream detector fires on). Returns the cut
    and the word's bounds within it.
    """
    start, end = bounds
    if len(samples) <= window_samples:
        return samples, (start, end)
    if end - start >= window_samples:
        begin = end - window_samples
    else:
        begin = (start + end) // 2 - window_samples // 2
    begin = int(np.clip(begin, 0, len(samples) - window_samples))
    cut = samples[begin:begin + window_samples]
    return cut, (max(0, start - begin), min(window_samples, end - begin))


class BoundaryCache:
    """Word bounds of clips by (path, size, mtime), kept in one JSON file (module docstring).

    ``get`` returns cached bounds or None; ``put`` adds some; ``save`` writes the file atomically
    when anything was added. A file that is not such a cache is an error, not silently replaced.
    """

    VERSION = 1

    def __init__(self, path: str, config: BoundsConfig = BoundsConfig()):
        self.path = path
        self.config = config
        self._entries: dict[str, list] = {}
        self._dirty = False
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                try:
                    data = json.load(f)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}: not a word-boundary cache ({e}); delete it") from e
            if not isinstance(data, dict) or data.get("version") != self.VERSION:
                raise ValueError(f"{path}: not a version-{self.VERSION} word-boundary cache; "
                                 "delete it")
            if data.get("config") == dataclasses.asdict(config):
                self._entries = data["clips"]

    @staticmethod
    def _key(path: str) -> str:
        st = os.stat(path)
        return f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}"

    def get(self, path: str) -> tuple[int, int, int] | None:
        """(start, end, clip samples at the analysed rate) of a clip seen before, else None."""
        entry = self._entries.get(self._key(path))
        return None if entry is None else (int(entry[0]), int(entry[1]), int(entry[2]))

    def put(self, path: str, start: int, end: int, num_samples: int) -> None:
        self._entries[self._key(path)] = [int(start), int(end), int(num_samples)]
        self._dirty = True

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        if not self._dirty:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": self.VERSION, "config": dataclasses.asdict(self.config),
                       "clips": self._entries}, f)
        os.replace(tmp, self.path)
        self._dirty = False
