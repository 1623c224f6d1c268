"""Sample-rate conversion in numpy: rational polyphase filtering with a Kaiser-windowed sinc.

For rates from_hz -> to_hz with gcd g, the signal is conceptually upsampled by up = to_hz / g
(zeros in between), low-pass filtered below the lower of the two Nyquist frequencies, and every
(down = from_hz / g)-th sample kept; only the products that the kept samples need are computed.
Output sample n lies at input time n * from_hz / to_hz (no delay), so resampled audio lines up
with the original.
"""

from __future__ import annotations

import math

import numpy as np

ZERO_CROSSINGS = 16
"""Half-length of the filter in zero crossings of the sinc (longer: sharper cut-off, slower)."""
KAISER_BETA = 8.6
"""Kaiser window shape: about 80 dB stop-band attenuation."""
_CHUNK = 8192  # output samples computed per vectorised step (bounds the index matrix)


def _filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """Taps of the low-pass filter at the upsampled rate, and its half-length."""
    factor = max(up, down)
    half = ZERO_CROSSINGS * factor
    m = np.arange(-half, half + 1, dtype=np.float64)
    cutoff = 1.0 / factor  # of the upsampled rate's Nyquist frequency
    taps = up * cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half + 1, KAISER_BETA)
    return taps, half


def resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Mono audio float [n] at ``from_hz`` -> float32 [ceil(n * to_hz / from_hz)] at ``to_hz``."""
    x = np.asarray(samples, np.float64)
    if x.ndim != 1:
        raise ValueError(f"resample wants mono [samples], got shape {x.shape}")
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {from_hz} -> {to_hz}")
    g = math.gcd(int(from_hz), int(to_hz))
    up, down = int(to_hz) // g, int(from_hz) // g
    if up == down:
        return x.astype(np.float32)
    taps, half = _filter(up, down)
    n_out = -(-len(x) * up // down)
    per_output = 2 * half // up + 1  # input samples that can fall under the filter
    pad = per_output + 1
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    out = np.empty(n_out, np.float64)
    j = np.arange(per_output)
    for start in range(0, n_out, _CHUNK):
        n = np.arange(start, min(start + _CHUNK, n_out), dtype=np.int64)
        position = n * down  # at the upsampled rate
        first = -((half - position) // up)  # ceil((position - half) / up): first input index
        k = first[:, None] + j[None, :]
        tap = position[:, None] - k * up + half
        valid = (tap >= 0) & (tap <= 2 * half)
        weights = np.where(valid, taps[np.clip(tap, 0, 2 * half)], 0.0)
        out[n] = np.sum(weights * padded[k + pad], axis=1)
    return out.astype(np.float32)
