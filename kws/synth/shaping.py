"""Signal shaping for the synthetic dataset (numpy, no TF): TTS output trimmed and placed in a clip,
and the background noise (colored noise, mains hum, babble) written to _background_noise_.

The noise generators return float64 [num_samples] at an arbitrary level; the caller sets the level
(``NOISE_RMS_DBFS``) and writes the file. Randomness comes only from the ``rng`` passed in.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from kws import audio

BABBLE_WORDS = (
    "about after again always answer before better black bring brother called children city coffee "
    "color country different doctor early evening family father friend garden great green heavy "
    "later letter listen money mother music never number often paper party people picture place "
    "police quiet really river school second small something summer table today travel under "
    "water weather window winter work world yellow").split()
BABBLE_TALKERS = 7
NOISE_RMS_DBFS = -20.0
TRIM_FLOOR_DB = -40.0
TRIM_PAD_MS = 20


def trim_silence(samples: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Cuts leading/trailing 10 ms frames quieter than -40 dB re the loudest frame, keeps 20 ms pad."""
    hop = sample_rate_hz // 100
    frames = len(samples) // hop
    if frames == 0:
        return samples
    rms = np.sqrt(np.mean(samples[:frames * hop].reshape(frames, hop) ** 2, axis=1))
    active = np.nonzero(rms > rms.max() * 10 ** (TRIM_FLOOR_DB / 20))[0]
    pad = sample_rate_hz * TRIM_PAD_MS // 1000
    return samples[max(0, active[0] * hop - pad):min(len(samples), (active[-1] + 1) * hop + pad)]


def place(word_samples: np.ndarray, clip_duration_samples: int, min_peak_dbfs: float,
          max_peak_dbfs: float, rng: np.random.Generator) -> np.ndarray:
    """The word at a random offset and random peak level in a silent clip: float32 [clip samples]."""
    clip = np.zeros(clip_duration_samples, np.float32)
    offset = int(rng.integers(0, len(clip) - len(word_samples) + 1))
    peak = 10 ** (rng.uniform(min_peak_dbfs, max_peak_dbfs) / 20)
    clip[offset:offset + len(word_samples)] = word_samples * (peak / np.abs(word_samples).max())
    return clip


def colored_noise(rng: np.random.Generator, num_samples: int, exponent: float,
                  sample_rate_hz: int) -> np.ndarray:
    """Gaussian noise with power spectrum 1/f**exponent (0 white, 1 pink, 2 brown), none below 20 Hz."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    if exponent:
        freqs = np.fft.rfftfreq(num_samples, 1.0 / sample_rate_hz)
        spectrum *= np.where(freqs >= 20.0, np.maximum(freqs, 20.0) ** (-exponent / 2), 0.0)
    return np.fft.irfft(spectrum, num_samples)


def hum(rng: np.random.Generator, num_samples: int, mains_hz: float,
        sample_rate_hz: int) -> np.ndarray:
    """Mains hum: a slowly wandering fundamental with 10 harmonics (odd ones stronger) and a hiss."""
    t = np.arange(num_samples) / sample_rate_hz
    wander = 1.0 + 0.002 * np.sin(2 * np.pi * 0.05 * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * mains_hz * np.cumsum(wander) / sample_rate_hz
    x = sum(rng.uniform(0.3, 1.0) * (1.5 if k % 2 else 1.0) / k * np.sin(k * phase + rng.uniform(0, 6.3))
            for k in range(1, 11))
    return x + 0.003 * rng.standard_normal(num_samples)


def babble(phrases: Sequence[np.ndarray], rng: np.random.Generator, num_samples: int) -> np.ndarray:
    """BABBLE_TALKERS streams of back-to-back phrases (random order, gaps, levels), summed."""
    out = np.zeros(num_samples)
    for _ in range(BABBLE_TALKERS):
        position = int(rng.integers(0, len(phrases[0])))  # talkers start out of step
        while position < num_samples:
            phrase = phrases[int(rng.integers(len(phrases)))]
            phrase = phrase / (np.sqrt(np.mean(phrase ** 2)) + 1e-9) * 10 ** (rng.uniform(-8, 0) / 20)
            end = min(num_samples, position + len(phrase))
            out[position:end] += phrase[:end - position]
            position = end + int(rng.integers(len(phrase) // 20, len(phrase) // 3 + 2))
    return out


def write_background_noise(folder: str, num_samples: int, sample_rate_hz: int, seed: int,
                           babble_phrases: Sequence[np.ndarray]) -> list[str]:
    """Writes white/pink/brown noise, 50 and 60 Hz hum and (with phrases) babble at NOISE_RMS_DBFS.

    Returns the file names. The same arguments give the same bytes.
    """
    n, rate = num_samples, sample_rate_hz
    sounds = {"white_noise.wav": lambda rng: colored_noise(rng, n, 0, rate),
              "pink_noise.wav": lambda rng: colored_noise(rng, n, 1, rate),
              "brown_noise.wav": lambda rng: colored_noise(rng, n, 2, rate),
              "hum_50hz.wav": lambda rng: hum(rng, n, 50.0, rate),
              "hum_60hz.wav": lambda rng: hum(rng, n, 60.0, rate)}
    if babble_phrases:
        sounds["babble.wav"] = lambda rng: babble(babble_phrases, rng, n)
    for index, (name, make) in enumerate(sounds.items()):
        x = make(np.random.default_rng([seed, 3, index]))
        x = x * 10 ** (NOISE_RMS_DBFS / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-12)
        audio.write_wav(os.path.join(folder, name), np.clip(x, -1.0, 1.0), rate)
    return list(sounds)
