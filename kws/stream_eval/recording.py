"""Long test recordings: dataset clips placed at random times over a bed of background noise.

How a recording is made (``make_recording``), all from ``RecordingConfig.seed``:

1. Events, one after the other: each is a keyword clip (a keyword drawn uniformly, then its next
   clip) or, with probability ``unknown_share``, a clip of another word (label ``_unknown_``).
   The clips of each pool are used in a seeded random order and reshuffled when used up, so a
   long recording repeats clips only after it has used all of them. Clips are inserted whole and
   unchanged (at their recorded level, the levels the model was trained on), never overlapping:
   between the end of one clip and the start of the next lies ``min_gap_s`` plus an exponential
   draw (mean ``mean_gap_s`` in all). No clip starts before ``lead_in_s`` or ends after
   ``duration_s - tail_s``.
2. The noise bed: segments of 5-20 s (``noise_segment_s``) cut at random offsets from random
   background-noise files, each scaled to the same RMS, joined with equal-power crossfades
   (sin/cos ramps, so the power of uncorrelated noise stays level across a join).
3. SNR: each event draws one of ``snr_db``, and the noise level follows the events: under a whole
   clip the bed has the one gain that puts the mean power of the word's active part
   (``active_span``) exactly that many dB above the mean power of the noise under that part;
   between two clips the gain moves from one level to the next (linearly in dB across the gap);
   before the first clip and after the last it stays at their level. So low SNRs mean loud noise,
   not quiet words.
4. Samples beyond full scale are clipped, as a microphone's converter clips them; nothing is
   scaled, so every word stays at its recorded level (the level models are trained on).
   ``Recording.clipped_samples`` counts them. (Scaling the whole mix to fit instead let one
   noise spike, such as a dish clank under a loud word at 5 dB SNR, turn an hour 28 dB quieter.)

The events and the noise bed use separate seeded generators, so the events (times, clips, SNRs)
do not depend on the noise files. The result is quantized to 16-bit, exactly what the WAV file
holds, and that is what the model hears. An hour at 16 kHz is 115 MB of int16 (230 MB of float32
while it is made).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import numpy as np

from kws import audio
from kws.data import decode
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.stream_eval import truth

SILENCE_LABEL = sc.SILENCE_LABEL
UNKNOWN_LABEL = sc.UNKNOWN_LABEL
_FRAME_MS = 10
_FLOOR_MARGIN_DB = 6.0
_QUANTIZE_CHUNK_SAMPLES = 1 << 20


@dataclasses.dataclass(kw_only=True, frozen=True)
class RecordingConfig:
    """How a long test recording is made (see the module docstring)."""

    duration_s: float = 600.0
    """Length of the recording."""
    seed: int = 0
    """Seed of everything random: the same seed and clips give a byte-identical recording."""
    snr_db: tuple[float, ...] = (5.0, 10.0, 20.0)
    """Each event's SNR is drawn uniformly from these."""
    mean_gap_s: float = 4.0
    """Mean time from the end of one clip to the start of the next."""
    min_gap_s: float = 1.0
    """Shortest time from the end of one clip to the start of the next."""
    unknown_share: float = 0.25
    """Share of events that are other words (label ``_unknown_``) rather than keywords."""
    lead_in_s: float = 1.0
    """No clip starts before this (a model needs one window of audio before its first output)."""
    tail_s: float = 2.0
    """No clip ends within this of the end (room for the last detection)."""
    noise_segment_s: tuple[float, float] = (5.0, 20.0)
    """Noise bed segments last a uniform draw from this range (or the whole file when shorter)."""
    crossfade_ms: float = 100.0
    """Length of the equal-power crossfade between noise segments."""
    active_floor_db: float = 30.0
    """A clip's active part: its 10 ms frames within this many dB of the loudest frame (and at
    least 6 dB above the clip's own floor, the 20th percentile frame)."""

    def __post_init__(self):
        if self.duration_s <= self.lead_in_s + self.tail_s:
            raise ValueError(f"duration_s {self.duration_s} must exceed lead_in_s + tail_s "
                             f"({self.lead_in_s + self.tail_s})")
        if not self.snr_db:
            raise ValueError("snr_db needs at least one value")
        if not 0 <= self.min_gap_s <= self.mean_gap_s:
            raise ValueError("need 0 <= min_gap_s <= mean_gap_s")
        if not 0 <= self.unknown_share <= 1:
            raise ValueError("unknown_share must be in [0, 1]")
        low, high = self.noise_segment_s
        if not 1.0 <= low <= high:
            raise ValueError("noise_segment_s must be (low, high) with 1 <= low <= high")
        if not 0 < self.crossfade_ms <= 500:
            raise ValueError("crossfade_ms must be in (0, 500]")
        if self.lead_in_s < 0 or self.tail_s < 0 or self.active_floor_db <= 0:
            raise ValueError("lead_in_s and tail_s must be >= 0, active_floor_db > 0")


@dataclasses.dataclass(kw_only=True, frozen=True)
class ClipPools:
    """The clips a recording draws from: per keyword, and other words."""

    keywords: dict[str, tuple[str, ...]]
    """Keyword label -> its clip files (every keyword has at least one)."""
    unknown: tuple[str, ...]
    """Clip files of other words."""
    noise: tuple[str, ...] = ()
    """Background noise files of the dataset (or of its background_noise_dir)."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class Recording:
    """A recording and its ground truth."""

    samples: np.ndarray
    """int16 [num_samples], mono."""
    sample_rate_hz: int
    """Samples per second."""
    events: tuple[truth.Event, ...]
    """The words in it, in time order."""
    clipped_samples: int = 0
    """Samples of the generated mix that were beyond full scale and are clipped."""

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


def clip_pools(data: sc.DataConfig, split: str, keywords: Sequence[str]) -> ClipPools:
    """The clips of ``split`` ('all': every split) of ``data``, by keyword and other words.

    Every word folder counts (the index is made in all_words mode); folders named like a keyword
    give that keyword, ``_silence_`` is left out, every other folder is an other word.
    """
    if split not in sc.SPLITS + ("all",):
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(sc.SPLITS + ('all',))}")
    # The data folder alone (its negative_dirs, if any, are with_negatives' part).
    index = sc.index_dataset(dataclasses.replace(data, label_mode="all_words", negative_dirs=(),
                                                 negative_percentage=None))
    examples = [e for s in sc.SPLITS for e in index.splits[s]] if split == "all" \
        else list(index.splits[split])
    by_word: dict[str, list[str]] = {}
    for e in examples:
        by_word.setdefault(e.label, []).append(e.path)
    missing = [k for k in keywords if not by_word.get(k)]
    if missing:
        raise UserError(f"{data.data_dir}: split {split!r} has no clips of the model's keyword(s) "
                        f"{', '.join(missing)}; use a dataset with a folder per keyword "
                        f"(--data_dir) or another --split")
    unknown = tuple(p for word in sorted(by_word) if word not in keywords and word != SILENCE_LABEL
                    for p in by_word[word])
    return ClipPools(keywords={k: tuple(by_word[k]) for k in keywords}, unknown=unknown,
                     noise=index.noise_files)


def with_negatives(pools: ClipPools, data: sc.DataConfig, split: str,
                   negative_dirs: Sequence[str]) -> ClipPools:
    """``pools`` with the clips of ``split`` ('all': every split) of ``negative_dirs`` (folders of
    other speech, split by the speaker rule with ``data``'s percentages) among the other words."""
    if not negative_dirs:
        return pools
    negatives = sc.negative_clips(dataclasses.replace(
        data, label_mode="keywords", negative_dirs=tuple(negative_dirs)), [])
    chosen = tuple(p for s in (sc.SPLITS if split == "all" else (split,)) for p in negatives[s])
    return dataclasses.replace(pools, unknown=pools.unknown + chosen)


def active_span(clip: np.ndarray, sample_rate_hz: int, floor_db: float = 30.0
                ) -> tuple[int, int]:
    """[start, end) samples of the word in ``clip``: first to last loud 10 ms frame.

    A frame is loud when its RMS is within ``floor_db`` of the loudest frame and at least 6 dB
    above the clip's floor (its 20th-percentile frame RMS), capped at the loudest frame's RMS.
    A clip shorter than one frame is active throughout.
    """
    hop = max(1, sample_rate_hz * _FRAME_MS // 1000)
    frames = len(clip) // hop
    if frames == 0:
        return 0, len(clip)
    rms = np.sqrt(np.mean(np.square(clip[:frames * hop].reshape(frames, hop), dtype=np.float64),
                          axis=1))
    peak = rms.max()
    threshold = max(peak * 10 ** (-floor_db / 20),
                    np.percentile(rms, 20) * 10 ** (_FLOOR_MARGIN_DB / 20))
    loud = np.nonzero(rms >= min(threshold, peak))[0]
    return int(loud[0] * hop), int((loud[-1] + 1) * hop)


def read_noises(paths: Sequence[str], sample_rate_hz: int) -> list[np.ndarray]:
    """Background noise recordings float32, each at least 1 s long."""
    if not paths:
        raise UserError("no background noise files: the dataset has no _background_noise_ folder "
                        "with WAVs; pass --noise_dir=<folder of noise WAVs>")
    noises = []
    for path in paths:
        samples = decode.read_clip(path, sample_rate_hz)
        if len(samples) < sample_rate_hz:
            raise UserError(f"{path}: background noise of {len(samples) / sample_rate_hz:.2f} s is "
                            "shorter than 1 s; remove it or use a longer one")
        noises.append(samples)
    return noises


def noise_bed(noises: Sequence[np.ndarray], num_samples: int, sample_rate_hz: int,
              config: RecordingConfig, paths: Sequence[str] = ()) -> np.ndarray:
    """float32 [num_samples] of noise segments, each scaled to RMS 1 (module docstring)."""
    rng = np.random.default_rng([config.seed, 1])
    fade = max(1, int(round(config.crossfade_ms * sample_rate_hz / 1000)))
    fade_in = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade)
    out = np.zeros(num_samples, np.float32)
    pos = 0
    while True:
        k = int(rng.integers(len(noises)))
        source = noises[k]
        length = int(rng.uniform(*config.noise_segment_s) * sample_rate_hz)
        length = min(length, len(source), num_samples - pos)
        offset = int(rng.integers(0, len(source) - length + 1))
        piece = source[offset:offset + length].astype(np.float64)
        power = np.mean(np.square(piece))
        if power == 0:
            name = paths[k] if paths else f"noise #{k}"
            raise UserError(f"{name}: digital silence at {offset / sample_rate_hz:.1f} s; "
                            "remove the file from the noise folder")
        piece /= np.sqrt(power)
        if pos > 0:
            piece[:fade] *= fade_in[:length]
        end = pos + length
        if end < num_samples:
            piece[-fade:] *= fade_in[::-1]
        out[pos:end] += piece.astype(np.float32)
        if end >= num_samples:
            return out
        pos = end - fade


class _Cycle:
    """Items in a seeded random order, reshuffled each time they are used up."""

    def __init__(self, items: Sequence[str], rng: np.random.Generator):
        self.items, self.rng, self.order = tuple(items), rng, []

    def next(self) -> str:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.items)))
        return self.items[self.order.pop()]


@dataclasses.dataclass(kw_only=True, frozen=True)
class _Planned:
    """An event before it is mixed in."""

    at: int
    """First sample of the clip in the recording."""
    clip: np.ndarray
    """The clip, float32."""
    active: tuple[int, int]
    """The word's [start, end) samples in the clip."""
    event: truth.Event
    """Its ground truth."""


def _plan(pools: ClipPools, num_samples: int, rate: int, config: RecordingConfig
          ) -> list[_Planned]:
    """Which clips go where, at which SNR (step 1 of the module docstring)."""
    rng = np.random.default_rng([config.seed, 2])
    keywords = sorted(pools.keywords)
    cycles = {k: _Cycle(pools.keywords[k], rng) for k in keywords}
    unknown = _Cycle(pools.unknown, rng) if pools.unknown else None
    at = int(round(config.lead_in_s * rate))
    last_end = num_samples - int(round(config.tail_s * rate))
    min_gap = config.min_gap_s * rate
    mean_extra = (config.mean_gap_s - config.min_gap_s) * rate
    planned = []
    while True:
        if unknown is not None and rng.random() < config.unknown_share:
            label, path = UNKNOWN_LABEL, unknown.next()
        else:
            label = keywords[int(rng.integers(len(keywords)))]
            path = cycles[label].next()
        snr = float(config.snr_db[int(rng.integers(len(config.snr_db)))])
        gap = int(round(min_gap + (rng.exponential(mean_extra) if mean_extra > 0 else 0.0)))
        clip = decode.read_clip(path, rate)
        if at + len(clip) > last_end:
            return planned
        lo, hi = active_span(clip, rate, config.active_floor_db)
        if not np.any(clip[lo:hi]):
            raise UserError(f"{path}: the clip is digital silence; remove it from the dataset")
        planned.append(_Planned(at=at, clip=clip, active=(lo, hi), event=truth.Event(
            start_s=(at + lo) / rate, end_s=(at + hi) / rate, label=label, clip_start_s=at / rate,
            clip_end_s=(at + len(clip)) / rate, snr_db=snr, source=path)))
        at += len(clip) + gap


def _noise_gains(bed: np.ndarray, planned: Sequence[_Planned]) -> list[float]:
    """Per event, the bed gain that gives its SNR (bed as made by noise_bed, before any gain)."""
    gains = []
    for p in planned:
        lo, hi = p.active
        word = np.mean(np.square(p.clip[lo:hi], dtype=np.float64))
        noise = np.mean(np.square(bed[p.at + lo:p.at + hi], dtype=np.float64))
        gains.append(float(np.sqrt(word / (noise * 10 ** (p.event.snr_db / 10)))))
    return gains


def _apply_gains(bed: np.ndarray, planned: Sequence[_Planned], gains: Sequence[float]) -> None:
    """Scales ``bed`` in place: flat under each clip, ramps in dB between clips."""
    bed[:planned[0].at] *= np.float32(gains[0])
    for i, (p, gain) in enumerate(zip(planned, gains)):
        end = p.at + len(p.clip)
        bed[p.at:end] *= np.float32(gain)
        if i + 1 == len(planned):
            bed[end:] *= np.float32(gain)
            break
        n = planned[i + 1].at - end
        if n > 0:
            steps = (np.arange(n) + 0.5) / n
            bed[end:end + n] *= (gain * (gains[i + 1] / gain) ** steps).astype(np.float32)


def make_recording(pools: ClipPools, noise_files: Sequence[str], sample_rate_hz: int,
                   config: RecordingConfig) -> Recording:
    """A recording of keyword and other-word clips over noise, with its ground truth."""
    if config.unknown_share > 0 and not pools.unknown:
        raise UserError("the data has no clips of non-keyword words for the unknown-word events; "
                        "pass --unknown_share=0 or use a dataset with other word folders")
    rate = sample_rate_hz
    num_samples = int(round(config.duration_s * rate))
    planned = _plan(pools, num_samples, rate, config)
    if not planned:
        raise UserError(f"a recording of {config.duration_s:g} s has no room for a clip after "
                        f"{config.lead_in_s:g} s of lead-in and before {config.tail_s:g} s of "
                        "tail; make it longer")
    mix = noise_bed(read_noises(noise_files, rate), num_samples, rate, config, noise_files)
    _apply_gains(mix, planned, _noise_gains(mix, planned))
    for p in planned:
        mix[p.at:p.at + len(p.clip)] += p.clip
    pcm, clipped = _quantize(mix)
    return Recording(samples=pcm, sample_rate_hz=rate, events=tuple(p.event for p in planned),
                     clipped_samples=clipped)


def _quantize(samples: np.ndarray) -> tuple[np.ndarray, int]:
    """float -> int16, chunk by chunk (no float64 copy of a long recording), and how many samples
    were beyond full scale (rounded out of [-32768, 32767]) and so clipped."""
    pcm = np.empty(len(samples), np.int16)
    clipped = 0
    for i in range(0, len(samples), _QUANTIZE_CHUNK_SAMPLES):
        chunk = samples[i:i + _QUANTIZE_CHUNK_SAMPLES]
        clipped += int(np.count_nonzero((chunk < -32768.5 / 32768) | (chunk >= 32767.5 / 32768)))
        pcm[i:i + _QUANTIZE_CHUNK_SAMPLES] = audio.to_int16(chunk)
    return pcm, clipped


def write_recording(recording: Recording, wav_path: str, csv_path: str) -> None:
    """The recording as 16-bit mono WAV and its ground truth as CSV (both written atomically)."""
    audio.write_wav(wav_path, recording.samples, recording.sample_rate_hz)
    truth.write_csv(csv_path, recording.events)


def read_recording(wav_path: str, csv_path: str, known_labels: Sequence[str],
                   sample_rate_hz: int, min_samples: int = 1) -> Recording:
    """A user's recording (16-bit mono WAV at ``sample_rate_hz``) and labels CSV, both checked."""
    if not os.path.isfile(wav_path):
        raise UserError(f"{wav_path}: no such recording; pass --recording=<16-bit mono WAV>")
    try:
        info = audio.check_training_wav(wav_path, sample_rate_hz)
    except audio.AudioFileError as e:
        raise UserError(f"{e} (the model needs 16-bit mono at {sample_rate_hz} Hz)") from e
    if info.num_frames < min_samples:
        raise UserError(f"{wav_path}: {info.duration_s:.2f} s is shorter than one model window "
                        f"({min_samples / sample_rate_hz:g} s)")
    with open(wav_path, "rb") as f:
        f.seek(info.data_offset)
        samples = np.fromfile(f, "<i2", count=info.num_frames).astype(np.int16, copy=False)
    events = truth.read_csv(csv_path, known_labels, duration_s=info.duration_s)
    return Recording(samples=samples, sample_rate_hz=sample_rate_hz, events=events)
