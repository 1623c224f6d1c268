"""The built-in synthetic dataset: Speech Commands layout, spoken by many synthetic speakers.

A synthetic speaker is one voice of one TTS engine (espeak-ng accent+variant, a flite/festival voice,
piper joe; opt-in: a Kokoro voice or blend, an RHVoice or pico voice) at one pitch shift and one
speaking rate. Every speaker says every word
``clips_per_speaker`` times; each clip is the word trimmed of silence, placed at a random offset in a
``clip_duration_ms`` clip at a random peak level, written as 16-bit mono WAV:

    <output_dir>/<word>/<speaker-hash>_nohash_<n>.wav   speaker-hash: 8 hex of sha1(description)
    <output_dir>/validation_list.txt, testing_list.txt   `word/file.wav` per line
    <output_dir>/_background_noise_/*.wav                white, pink, brown, 50/60 Hz hum, babble
    <output_dir>/synth_manifest.json                     config, engines, speakers and counts

Validation and test hold out whole voice groups (an espeak accent, or the person behind recorded
voices such as slt or kal), so they measure unseen voices. Everything follows from ``seed`` and the
installed engines: the same seed on the same machine gives the same bytes.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import re
import shutil
import time
from typing import Sequence, TextIO

import numpy as np

from kws import audio
from kws import progress
from kws.synth import engines as tts_engines
from kws.synth import journal
from kws.synth import manifest
from kws.synth import shaping
from kws.synth import tts
from kws.errors import UserError

DEFAULT_SYNTH_DIR = os.path.join(os.path.expanduser("~"), ".cache", "kws", "synthetic")
"""Where kws-train generates (and later finds) the built-in synthetic dataset."""

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow",
                 "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "backward", "forward", "follow", "learn", "visual")
DEFAULT_WORDS = KEYWORDS + UNKNOWN_WORDS
"""The 35 words of Speech Commands v0.02: 10 keywords plus 25 that feed _unknown_."""
BACKGROUND_NOISE_DIR = manifest.BACKGROUND_NOISE_DIR
MANIFEST_NAME = manifest.MANIFEST_NAME
SPLITS = manifest.SPLITS
_LIST_FILES = {"validation": "validation_list.txt", "test": "testing_list.txt"}
_WORD_RE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


@dataclasses.dataclass(kw_only=True, frozen=True)
class SynthConfig:
    """What `kws synth` generates."""

    output_dir: str
    """Folder to create (must be empty or absent, unless ``overwrite``)."""
    words: tuple[str, ...] = DEFAULT_WORDS
    """Words or phrases; ``hey_kiwi`` is spoken "hey kiwi" and kept as folder ``hey_kiwi``."""
    num_speakers: int = 250
    """Synthetic speakers; each says every word (so clips per word = num_speakers x clips_per_speaker)."""
    clips_per_speaker: int = 1
    """Utterances of each word per speaker; repeats vary rate and pitch slightly."""
    seed: int = 59185
    """Seeds speaker choice, splits, offsets, levels and noise: same seed, same files."""
    sample_rate_hz: int = 16000
    """Rate of every written WAV."""
    clip_duration_ms: int = 1000
    """Length of each clip; the word sits at a random offset inside."""
    validation_percentage: float = 15.0
    """Target share of speakers in validation (whole voice groups, so only approximately met)."""
    testing_percentage: float = 15.0
    """Target share of speakers in test (whole voice groups, so only approximately met)."""
    num_workers: int = 2
    """Parallel synthesis threads (each drives its own TTS subprocesses)."""
    engines: tuple[str, ...] = ()
    """TTS engines to use, from ``engines.ENGINE_NAMES``; empty: every installed DEFAULT_ENGINES one."""
    kokoro_lexicon: tuple[tuple[str, str], ...] = ()
    """(word, misaki phonemes) pairs that override Kokoro's G2P for both accents."""
    pitches_semitones: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    """Pitch shifts a speaker can have."""
    rates: tuple[float, ...] = (0.8, 0.9, 1.0, 1.1, 1.2)
    """Speaking rates a speaker can have, relative to the engine's pace for a lone word."""
    min_peak_dbfs: float = -20.0
    """Lowest peak level of a clip, dB re full scale."""
    max_peak_dbfs: float = -1.0
    """Highest peak level of a clip, dB re full scale."""
    max_speedup: float = 2.0
    """A word longer than the clip is re-synthesized up to this much faster, else refused."""
    background_noise_duration_ms: int = 60000
    """Length of each _background_noise_ file; 0 writes none."""
    overwrite: bool = False
    """Replace a previous synthetic dataset in ``output_dir`` (the one its manifest lists)."""

    def __post_init__(self):
        if not self.words:
            raise UserError("words is empty: give at least one word (e.g. --words=yes,no)")
        bad = [w for w in self.words if not _WORD_RE.match(w)]
        if bad:
            raise UserError(f"bad words {bad}: use lower-case letters and digits, with '_' between "
                            "the words of a phrase (hey_kiwi)")
        if len(set(self.words)) != len(self.words):
            raise UserError(f"words repeat: {list(self.words)}")
        unknown = [e for e in self.engines if e not in tts_engines.ENGINE_NAMES]
        if unknown:
            raise UserError(f"unknown TTS engine(s) {unknown}; valid: "
                            f"{', '.join(tts_engines.ENGINE_NAMES)}")
        for name in ("num_speakers", "clips_per_speaker", "num_workers", "sample_rate_hz"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.clip_duration_ms < 100:
            raise UserError(f"clip_duration_ms must be >= 100, got {self.clip_duration_ms}")
        if min(self.validation_percentage, self.testing_percentage) < 0 or \
                self.validation_percentage + self.testing_percentage >= 100:
            raise UserError("validation/testing percentages must be >= 0 and add up to < 100")
        if not self.pitches_semitones or not self.rates or min(self.rates) <= 0:
            raise UserError("pitches_semitones and rates must be non-empty, rates > 0")
        for name in ("pitches_semitones", "rates"):
            values = getattr(self, name)
            if not np.all(np.isfinite(values)) or len(set(values)) != len(values):
                raise UserError(f"{name} must be finite numbers without repeats, "
                                f"got {list(values)}")
        if not self.min_peak_dbfs <= self.max_peak_dbfs <= 0:
            raise UserError("need min_peak_dbfs <= max_peak_dbfs <= 0")
        if self.max_speedup < 1 or self.background_noise_duration_ms < 0:
            raise UserError("need max_speedup >= 1 and background_noise_duration_ms >= 0")

    @property
    def clip_duration_samples(self) -> int:
        return self.sample_rate_hz * self.clip_duration_ms // 1000


@dataclasses.dataclass(kw_only=True, frozen=True)
class Speaker:
    """One synthetic speaker: a voice at a pitch and a rate."""

    voice: tts.Voice
    """Engine, voice name and hold-out group."""
    pitch_semitones: float
    """Pitch shift of the voice."""
    rate: float
    """Speaking rate relative to the engine's pace for a lone word."""

    @property
    def description(self) -> str:
        return (f"{self.voice.engine}|{self.voice.name}|pitch={self.pitch_semitones:+.2f}st|"
                f"rate={self.rate:.3f}")

    @property
    def hash(self) -> str:
        return hashlib.sha1(self.description.encode()).hexdigest()[:8]


def spoken_text(word: str) -> str:
    """The text a TTS engine says for a word folder name: ``hey_kiwi`` -> ``hey kiwi``."""
    return word.replace("_", " ")


def plan_speakers(voices: Sequence[tts.Voice], config: SynthConfig) -> list[Speaker]:
    """Draws ``num_speakers`` distinct speakers, spread evenly over the voice groups (seeded)."""
    rng = np.random.default_rng([config.seed, 0])
    groups = sorted({v.group for v in voices})
    candidates = {}
    for group in groups:
        pool = [Speaker(voice=v, pitch_semitones=float(p), rate=float(r))
                for v in voices if v.group == group
                for p in config.pitches_semitones for r in config.rates]
        candidates[group] = [pool[i] for i in rng.permutation(len(pool))]
    capacity = sum(len(c) for c in candidates.values())
    if config.num_speakers > capacity:
        raise UserError(f"num_speakers={config.num_speakers} but the voices x pitches x rates give "
                        f"only {capacity} distinct speakers; ask for fewer or add pitches/rates")
    order = [groups[i] for i in rng.permutation(len(groups))]
    taken = dict.fromkeys(order, 0)
    total = 0
    while total < config.num_speakers:
        for group in order:
            if total < config.num_speakers and taken[group] < len(candidates[group]):
                taken[group] += 1
                total += 1
    speakers = [s for g in order for s in candidates[g][:taken[g]]]
    if len({s.hash for s in speakers}) != len(speakers):
        raise RuntimeError("two speakers share a hash; change the pitches or rates slightly")
    return speakers


def assign_splits(speakers: Sequence[Speaker], config: SynthConfig) -> dict[str, str]:
    """Voice group -> split. Whole groups go to test, then validation, closest to the percentages."""
    counts: dict[str, int] = {}
    for s in speakers:
        counts[s.voice.group] = counts.get(s.voice.group, 0) + 1
    wanted = [(split, pct) for split, pct in (("test", config.testing_percentage),
                                               ("validation", config.validation_percentage)) if pct > 0]
    if len(counts) < len(wanted) + 1:
        raise UserError(
            f"holding out whole voices needs at least {len(wanted) + 1} voice groups, these speakers "
            f"have {len(counts)} ({', '.join(sorted(counts))}); add engines or speakers, or set "
            "validation/testing percentages to 0")
    rng = np.random.default_rng([config.seed, 1])
    order = [sorted(counts)[i] for i in rng.permutation(len(counts))]
    split_of = {}
    for index, (split, pct) in enumerate(wanted):
        share = 0.0
        while len(order) > len(wanted) - index:  # keep a group for each later split and for train
            new = share + 100.0 * counts[order[0]] / len(speakers)
            if share > 0 and abs(new - pct) >= abs(share - pct):
                break
            split_of[order.pop(0)] = split
            share = new
    split_of.update(dict.fromkeys(order, "train"))
    return split_of


def _clip_rng(seed: int, *parts: object) -> np.random.Generator:
    key = hashlib.sha1("|".join(map(str, (seed,) + parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


def _say(engine: tts.Engine, speaker: Speaker, requests: list[tts.Request],
         config: SynthConfig) -> list[np.ndarray]:
    """Synthesizes (one engine call) and trims; speeds up what does not fit the clip, or refuses."""
    limit = int(config.clip_duration_samples * 0.95)
    out = [shaping.trim_silence(x, config.sample_rate_hz) for x in
           engine.synthesize_many(requests, speaker.voice.name, config.sample_rate_hz)]
    for i, request in enumerate(requests):
        speedup = 1.0
        while len(out[i]) > limit:
            speedup *= 1.03 * len(out[i]) / limit
            if speedup > config.max_speedup:
                raise UserError(
                    f"{request.text!r} by speaker {speaker.description} lasts "
                    f"{len(out[i]) / config.sample_rate_hz:.2f} s even {config.max_speedup}x faster: "
                    f"too long for a {config.clip_duration_ms} ms clip; use a shorter phrase or a "
                    "longer --clip_duration_ms")
            faster = dataclasses.replace(request, rate=request.rate * speedup)
            out[i] = shaping.trim_silence(engine.synthesize_many(
                [faster], speaker.voice.name, config.sample_rate_hz)[0], config.sample_rate_hz)
    return out


def _speaker_task(engine: tts.Engine, speaker: Speaker, config: SynthConfig) -> list[str]:
    """Writes every clip of one speaker (one engine call for all); returns paths under output_dir."""
    keys, requests = [], []
    for word in config.words:
        for n in range(config.clips_per_speaker):
            pitch, rate = speaker.pitch_semitones, speaker.rate
            if n > 0:  # a repeat: slightly different delivery
                jitter = _clip_rng(config.seed, speaker.hash, word, n, "jitter")
                pitch += float(jitter.uniform(-0.5, 0.5))
                rate *= float(jitter.uniform(0.92, 1.08))
            keys.append((word, n))
            requests.append(tts.Request(text=spoken_text(word), pitch_semitones=pitch, rate=rate))
    written = []
    for (word, n), samples in zip(keys, _say(engine, speaker, requests, config)):
        relative = f"{word}/{speaker.hash}_nohash_{n}.wav"
        rng = _clip_rng(config.seed, speaker.hash, word, n, "place")
        clip = shaping.place(samples, config.clip_duration_samples, config.min_peak_dbfs,
                                 config.max_peak_dbfs, rng)
        audio.write_wav(os.path.join(config.output_dir, relative), clip, config.sample_rate_hz)
        written.append(relative)
    return written


def synthesize_dataset(config: SynthConfig, progress_stream: TextIO | None = None
                       ) -> manifest.SynthSummary:
    """Generates the dataset described by ``config`` (see the module docstring for the layout)."""
    start = time.monotonic()
    engines = tts_engines.resolve(config.engines, dict(config.kokoro_lexicon))
    by_name = {e.name: e for e in engines}
    voices = [v for e in engines for v in e.voices()]
    pronunciations = {e.name: e.pronunciations([spoken_text(w) for w in config.words])
                      for e in engines}
    speakers = plan_speakers(voices, config)
    split_of_group = assign_splits(speakers, config)
    log = journal.open_output_dir(
        config.output_dir, _fingerprint(config, engines, speakers), config.overwrite, MANIFEST_NAME,
        _WORD_RE, [BACKGROUND_NOISE_DIR] + list(_LIST_FILES.values()))
    paths_by_speaker = {s.hash: log.done[s.hash] for s in speakers if s.hash in log.done}
    todo = [s for s in speakers if s.hash not in paths_by_speaker]
    per_speaker = len(config.words) * config.clips_per_speaker
    label = f"synth (resuming: {len(paths_by_speaker)} of {len(speakers)} speakers done)" \
        if paths_by_speaker else "synth"
    bar = progress.Progress(len(todo) * per_speaker, label, progress_stream)
    with concurrent.futures.ThreadPoolExecutor(config.num_workers) as pool:
        futures = {pool.submit(_speaker_task, by_name[s.voice.engine], s, config): s for s in todo}
        try:
            for future in concurrent.futures.as_completed(futures):
                speaker = futures[future]
                paths_by_speaker[speaker.hash] = future.result()
                log.record(speaker.hash, paths_by_speaker[speaker.hash])
                bar.update(len(paths_by_speaker[speaker.hash]))
        finally:
            bar.close()
            for future in futures:
                future.cancel()
        train_speakers = [s for s in speakers if split_of_group[s.voice.group] == "train"]
        noise_files = _write_background_noise(config, by_name, train_speakers, pool) \
            if config.background_noise_duration_ms else []

    split_of = {s.hash: split_of_group[s.voice.group] for s in speakers}
    for split, name in _LIST_FILES.items():
        lines = sorted(p for h, ps in paths_by_speaker.items() if split_of[h] == split for p in ps)
        with open(os.path.join(config.output_dir, name), "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for line in lines))
    summary = manifest.SynthSummary(
        output_dir=config.output_dir,
        words=config.words,
        engines={e.name: e.version() for e in engines if any(s.voice.engine == e.name for s in speakers)},
        speakers_per_split={sp: sum(v == sp for v in split_of.values()) for sp in SPLITS},
        groups_per_split={sp: tuple(sorted(g for g, v in split_of_group.items() if v == sp))
                          for sp in SPLITS},
        clips_per_split={sp: sum(len(paths_by_speaker[h]) for h, v in split_of.items() if v == sp)
                         for sp in SPLITS},
        clips_per_word=len(speakers) * config.clips_per_speaker,
        noise_files=tuple(noise_files),
        pronunciations={name: table for name, table in pronunciations.items() if table},
        elapsed_s=time.monotonic() - start)
    manifest.write(config, summary, speakers, split_of)
    log.remove()
    return summary


def _fingerprint(config: SynthConfig, engines: Sequence[tts.Engine], speakers: Sequence[Speaker]
                 ) -> dict:
    """What decides the bytes of a run: a resumed run must match it exactly."""
    settings = {k: v for k, v in dataclasses.asdict(config).items()
                if k not in ("output_dir", "num_workers", "overwrite")}
    return {"config": settings, "engines": {e.name: e.version() for e in engines},
            "speakers": sorted(s.hash for s in speakers)}


def _write_background_noise(config: SynthConfig, engines: dict[str, tts.Engine],
                            train_speakers: Sequence[Speaker],
                            pool: concurrent.futures.Executor) -> list[str]:
    """Has up to 16 training speakers say random phrases for the babble, then writes every noise."""
    rng = np.random.default_rng([config.seed, 2])
    talkers = [train_speakers[i] for i in rng.permutation(len(train_speakers))[:16]]
    words = [w for w in shaping.BABBLE_WORDS if w not in {spoken_text(x) for x in config.words}]
    scripts = [[tts.Request(text=" ".join(rng.choice(words, int(rng.integers(3, 6)))),
                            pitch_semitones=s.pitch_semitones, rate=s.rate) for _ in range(5)]
               for s in talkers]
    futures = [pool.submit(engines[s.voice.engine].synthesize_many, script, s.voice.name,
                           config.sample_rate_hz) for s, script in zip(talkers, scripts)]
    phrases = [shaping.trim_silence(x, config.sample_rate_hz) for f in futures for x in f.result()]
    return shaping.write_background_noise(
        os.path.join(config.output_dir, BACKGROUND_NOISE_DIR),
        config.background_noise_duration_ms * config.sample_rate_hz // 1000, config.sample_rate_hz,
        config.seed, phrases)


def ensure_default_dataset(output_dir: str, progress_stream: TextIO | None = None) -> str:
    """The default synthetic dataset in ``output_dir``: reused when finished (its manifest exists),
    else generated into ``<output_dir>.partial`` and renamed into place, so a killed generation never
    leaves a half dataset that looks finished. A killed generation continues where it stopped; one
    of other settings (another kws version, other engines installed) is discarded and started again."""
    if os.path.isfile(os.path.join(output_dir, MANIFEST_NAME)):
        return output_dir
    if os.path.exists(output_dir) and os.listdir(output_dir):
        raise UserError(f"{output_dir} is not empty and holds no {MANIFEST_NAME}: not a synthetic "
                        "dataset; remove it or pass another --synth_dir")
    partial = output_dir.rstrip(os.sep) + ".partial"
    if os.path.exists(partial) and not os.path.isfile(os.path.join(partial, journal.JOURNAL_NAME)):
        shutil.rmtree(partial)  # ours, from a kws that did not resume: nothing to continue
    print(f"generating the synthetic default dataset in {output_dir} (once; a few minutes)",
          flush=True)
    try:
        synthesize_dataset(SynthConfig(output_dir=partial), progress_stream)
    except journal.StaleJournal as e:
        print(f"starting again: {e}", flush=True)
        synthesize_dataset(SynthConfig(output_dir=partial, overwrite=True), progress_stream)
    if os.path.isdir(output_dir):
        os.rmdir(output_dir)
    os.replace(partial, output_dir)
    return output_dir
