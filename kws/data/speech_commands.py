"""The dataset layout: Speech Commands folders (v0.01, v0.02) or any folder-per-label tree.

Scans a data folder into a DatasetIndex: for each split, a list of (path, label) examples, with the
labels of the chosen task. Splits follow ``validation_list.txt`` / ``testing_list.txt`` when present,
otherwise the original speaker-hash rule, so a speaker never crosses splits. Every clip is checked
(header only) to be 16-bit mono WAV at the configured rate; bad files raise an error naming the file and
the fix, or, with ``skip_bad_files``, are counted and reported.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import os
import random
import re

from kws import audio
from kws.data import decode
from kws.errors import UserError

SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"
BACKGROUND_NOISE_DIR = "_background_noise_"
SPLITS = ("train", "validation", "test")
LABEL_MODES = ("keywords", "all_words")
SPEECH_COMMANDS_KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
_MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # the original split rule's constant


class DatasetError(UserError):
    """A data folder that cannot be used as asked. The message names what and how to fix it."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class DataConfig:
    """Where the clips are and how they become a labelled task with three splits."""

    data_dir: str
    """Root of the dataset: one folder per word (plus optional _background_noise_, lists)."""
    label_mode: str = "keywords"
    """'keywords': wanted words + _silence_ + _unknown_ (the 12-class task); 'all_words': every folder."""
    wanted_words: tuple[str, ...] = SPEECH_COMMANDS_KEYWORDS
    """The keywords of the 'keywords' mode; every other word folder feeds _unknown_."""
    silence_percentage: float = 10.0
    """_silence_ examples per split, as a percentage of the split's keyword examples."""
    unknown_percentage: float = 10.0
    """_unknown_ examples per split, as a percentage of the split's keyword examples."""
    validation_percentage: float = 10.0
    """Share of speakers in validation, when the folder has no validation_list.txt."""
    testing_percentage: float = 10.0
    """Share of speakers in test, when the folder has no testing_list.txt."""
    background_noise_dir: str = ""
    """Folder of long noise WAVs; '' means <data_dir>/_background_noise_ (may be absent)."""
    sample_rate_hz: int = 16000
    """Every clip must be at this rate."""
    skip_bad_files: bool = False
    """Count and report unusable files instead of stopping at the first."""
    seed: int = 59185
    """Seed of the _unknown_ subsampling."""
    negative_dirs: tuple[str, ...] = ()
    """Folders of other speech (any depth, any audio format, any length: a FLAC tree of another
    language, long wake-word recordings, ...) whose clips are _unknown_ examples of their split
    (keywords mode). Split by the speaker rule (``split_of``) whatever lists the data folder has.
    They join the data folder's other words in one pool (``unknown_percentage`` of the split is
    drawn from both) unless ``negative_percentage`` gives them their own share."""
    negative_percentage: float | None = None
    """_unknown_ examples drawn from negative_dirs alone, as a percentage of the split's keyword
    examples, on top of the ``unknown_percentage`` drawn from the data folder's other words. None:
    negative_dirs clips join that pool instead. Their own share lets real other speech weigh what
    it should when the folder's other words are mostly of another kind (synthetic voices)."""
    resample_on_load: bool = False
    """Accept clips at any rate and channel count: they are mixed to mono and resampled to
    sample_rate_hz when decoded. Off: any clip not at sample_rate_hz mono is refused."""

    def __post_init__(self):
        if self.label_mode not in LABEL_MODES:
            raise ValueError(f"unknown label mode {self.label_mode!r}; valid: {', '.join(LABEL_MODES)}")
        for name in ("silence_percentage", "unknown_percentage", "validation_percentage",
                     "testing_percentage"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.validation_percentage + self.testing_percentage >= 100:
            raise ValueError("validation_percentage + testing_percentage must be < 100")
        if self.label_mode == "keywords" and not self.wanted_words:
            raise ValueError("label_mode 'keywords' needs at least one wanted word")
        if len(set(self.wanted_words)) != len(self.wanted_words):
            raise ValueError(f"wanted words repeat: {list(self.wanted_words)}")
        if self.negative_dirs and self.label_mode != "keywords":
            raise ValueError("negative_dirs feed _unknown_: they need label_mode 'keywords'")
        if self.negative_percentage is not None:
            if self.negative_percentage < 0:
                raise ValueError("negative_percentage must be >= 0")
            if not self.negative_dirs:
                raise ValueError("negative_percentage is the share of negative_dirs clips: it "
                                 "needs negative_dirs")

    @property
    def noise_dir(self) -> str:
        return self.background_noise_dir or os.path.join(self.data_dir, BACKGROUND_NOISE_DIR)


@dataclasses.dataclass(kw_only=True, frozen=True)
class Example:
    """One labelled clip. ``path`` is '' for a generated _silence_ example (noise only)."""

    path: str
    label: str


@dataclasses.dataclass(kw_only=True, frozen=True)
class DatasetIndex:
    """The labels and, per split, the examples of a task; plus the noise files and skipped files."""

    labels: tuple[str, ...]
    splits: dict[str, tuple[Example, ...]]
    noise_files: tuple[str, ...]
    skipped: tuple[str, ...]
    """Messages for the files skipped with skip_bad_files."""
    unknown_pool: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Per split, every clip that can be _unknown_ (keywords mode): the split's _unknown_ examples are
    a sample of it, which training can draw afresh each epoch (PipelineConfig.unknown_resample)."""
    negative_pool: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Per split, the negative_dirs clips when they have their own share
    (DataConfig.negative_percentage); empty otherwise (they are in unknown_pool)."""

    def label_ids(self, split: str) -> list[int]:
        ids = {label: i for i, label in enumerate(self.labels)}
        return [ids[e.label] for e in self.splits[split]]

    def counts(self) -> dict[str, collections.Counter]:
        return {s: collections.Counter(e.label for e in self.splits[s]) for s in SPLITS}


def speaker_id(filename: str) -> str:
    """Speaker part of `<speaker>_nohash_<n>.wav` (or `<word>_<speaker>_nohash_<n>.wav` in _unknown_)."""
    stem = re.sub(r"_nohash_.*$", "", os.path.basename(filename))
    return stem.rsplit("_", 1)[-1] if "_nohash_" in filename else stem


def split_of(filename: str, validation_percentage: float, testing_percentage: float) -> str:
    """The original Speech Commands rule: SHA-1 of the speaker picks the split, stable over time."""
    digest = hashlib.sha1(speaker_id(filename).encode("utf-8")).hexdigest()
    percent = (int(digest, 16) % (_MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / _MAX_NUM_WAVS_PER_CLASS)
    if percent < validation_percentage:
        return "validation"
    if percent < validation_percentage + testing_percentage:
        return "test"
    return "train"


def _read_list(path: str) -> set[str]:
    if not os.path.isfile(path):
        return set()
    with open(path, encoding="utf-8") as f:
        return {line.strip().replace("\\", "/") for line in f if line.strip()}


AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")
"""Clip files of negative_dirs (label folders check every file they hold)."""


def check_clip(path: str, config: DataConfig) -> None:
    """Raises AudioFileError unless ``path`` is a clip the pipeline can decode as configured.

    WAV must be 16-bit mono at the configured rate (checked from the header alone) unless
    ``resample_on_load``; FLAC and OGG are checked by libsndfile, their rate and channels likewise.
    """
    if path.lower().endswith(".wav") and not config.resample_on_load:
        audio.check_training_wav(path, config.sample_rate_hz)
        return
    info = decode.sniff(path)
    if config.resample_on_load:
        return
    problems = []
    if info.channels != 1:
        problems.append(f"{info.channels} channels (need mono)")
    if info.samplerate != config.sample_rate_hz:
        problems.append(f"{info.samplerate} Hz (need {config.sample_rate_hz} Hz)")
    if problems:
        raise audio.AudioFileError(f"{path}: {', '.join(problems)}; pass --resample_on_load to "
                                   "mix and resample on load, or convert it with `kws prepare`")


def _label_folders(data_dir: str) -> list[str]:
    if not os.path.isdir(data_dir):
        raise DatasetError(f"data dir {data_dir} does not exist; pass --data_dir=<folder of word "
                           "folders>, or generate the default one with `kws synth`")
    folders = sorted(d for d in os.listdir(data_dir)
                     if os.path.isdir(os.path.join(data_dir, d)) and d != BACKGROUND_NOISE_DIR
                     and not d.startswith("."))
    if not folders:
        raise DatasetError(f"data dir {data_dir} holds no label folders (expected one folder of "
                           "WAV clips per word)")
    return folders


def _scan_clips(config: DataConfig, folders: list[str], skipped: list[str]
                ) -> dict[str, list[str]]:
    """word folder -> relative paths `word/file.wav` of its valid clips."""
    clips = {}
    for folder in folders:
        names = sorted(os.listdir(os.path.join(config.data_dir, folder)))
        good = []
        for name in names:
            rel = f"{folder}/{name}"
            full = os.path.join(config.data_dir, folder, name)
            if not os.path.isfile(full) or name.startswith("."):
                continue
            if _usable(full, config, skipped):
                good.append(rel)
        if not good:
            raise DatasetError(f"label folder {os.path.join(config.data_dir, folder)} holds no "
                               "usable WAV clips; remove the folder or add clips")
        clips[folder] = good
    return clips


def _usable(path: str, config: DataConfig, skipped: list[str]) -> bool:
    """check_clip, with skip_bad_files: False (and the message in ``skipped``) for a bad file."""
    try:
        check_clip(path, config)
    except audio.AudioFileError as e:
        if not config.skip_bad_files:
            raise DatasetError(f"{e} (or pass --skip_bad_files to count and skip such "
                               "files)") from e
        skipped.append(str(e))
        return False
    return True


def negative_clips(config: DataConfig, skipped: list[str]) -> dict[str, list[str]]:
    """split -> absolute paths of the usable clips under negative_dirs, by the speaker rule."""
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for folder in config.negative_dirs:
        if not os.path.isdir(folder):
            raise DatasetError(f"negative folder {folder} does not exist; pass --negative_dirs="
                               "<folders of other speech>")
        found = 0
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != BACKGROUND_NOISE_DIR)
            for name in sorted(names):
                if name.startswith(".") or not name.lower().endswith(AUDIO_EXTENSIONS):
                    continue
                full = os.path.join(root, name)
                if not _usable(full, config, skipped):
                    continue
                rel = os.path.relpath(full, folder)
                split = split_of(rel, config.validation_percentage, config.testing_percentage)
                out[split].append(full)
                found += 1
        if not found:
            raise DatasetError(f"negative folder {folder} holds no usable audio clips "
                               f"({', '.join(AUDIO_EXTENSIONS)})")
    return out


def _noise_files(config: DataConfig, skipped: list[str]) -> tuple[str, ...]:
    folder = config.noise_dir
    if not os.path.isdir(folder):
        if config.background_noise_dir:
            raise DatasetError(f"background noise folder {folder} does not exist")
        return ()
    files = []
    for name in sorted(os.listdir(folder)):
        full = os.path.join(folder, name)
        if name.lower().endswith(AUDIO_EXTENSIONS) and _usable(full, config, skipped):
            files.append(full)
    return tuple(files)


def index_dataset(config: DataConfig) -> DatasetIndex:
    """Scans, checks and splits the data folder into a DatasetIndex (see the module docstring)."""
    folders = _label_folders(config.data_dir)
    skipped: list[str] = []
    if config.label_mode == "keywords":
        missing = [w for w in config.wanted_words if w not in folders]
        if missing:
            raise DatasetError(f"wanted word(s) {missing} have no folder in {config.data_dir}; "
                               f"words there: {', '.join(folders)}")
    clips = _scan_clips(config, folders, skipped)
    validation = _read_list(os.path.join(config.data_dir, "validation_list.txt"))
    testing = _read_list(os.path.join(config.data_dir, "testing_list.txt"))
    by_split: dict[str, dict[str, list[str]]] = {s: collections.defaultdict(list) for s in SPLITS}
    for folder, rels in clips.items():
        for rel in rels:
            if validation or testing:
                split = "validation" if rel in validation else "test" if rel in testing else "train"
            else:
                split = split_of(rel, config.validation_percentage, config.testing_percentage)
            by_split[split][folder].append(rel)

    noise = _noise_files(config, skipped)
    pools, negative_pools = {}, {}
    if config.label_mode == "all_words":
        labels = tuple(folders)
        splits = {s: tuple(Example(path=os.path.join(config.data_dir, rel), label=word)
                           for word in folders for rel in by_split[s][word]) for s in SPLITS}
    else:
        labels = (SILENCE_LABEL, UNKNOWN_LABEL) + tuple(config.wanted_words)
        negatives = {s: tuple(clips) for s, clips in negative_clips(config, skipped).items()}
        own_share = config.negative_percentage is not None
        pools = {s: _unknown_pool(config, by_split[s]) + (() if own_share else negatives[s])
                 for s in SPLITS}
        if own_share:
            negative_pools = negatives
        splits = {s: _keyword_split(config, by_split[s], s, pools[s],
                                    negative_pools[s] if own_share else ()) for s in SPLITS}
    return DatasetIndex(labels=labels, splits=splits, noise_files=noise, skipped=tuple(skipped),
                        unknown_pool=pools, negative_pool=negative_pools)


def _unknown_pool(config: DataConfig, clips: dict[str, list[str]]) -> tuple[str, ...]:
    """Paths of the clips of every folder that is neither a wanted word nor _silence_."""
    return tuple(os.path.join(config.data_dir, rel) for folder, rels in sorted(clips.items())
                 if folder not in config.wanted_words and folder != SILENCE_LABEL for rel in rels)


def _keyword_split(config: DataConfig, clips: dict[str, list[str]], split: str,
                   unknown_pool: tuple[str, ...], negative_pool: tuple[str, ...]
                   ) -> tuple[Example, ...]:
    """Keyword examples, a sampled share of _unknown_ ones (and of negatives with their own share),
    and _silence_ ones, as in TF's example."""
    join = lambda rel: os.path.join(config.data_dir, rel)  # noqa: E731
    wanted = [Example(path=join(rel), label=w) for w in config.wanted_words for rel in clips.get(w, [])]
    real_silence = [join(rel) for rel in clips.get(SILENCE_LABEL, [])]
    rng = random.Random(f"{config.seed}:{split}")
    if UNKNOWN_LABEL in clips:
        # A folder named _unknown_ (as in the canonical test set) is used whole.
        unknown = list(unknown_pool)
    else:
        n_unknown = min(len(unknown_pool), math.ceil(len(wanted) * config.unknown_percentage / 100))
        unknown = rng.sample(list(unknown_pool), n_unknown)
    if negative_pool:
        n_negative = min(len(negative_pool),
                         math.ceil(len(wanted) * config.negative_percentage / 100))
        unknown += random.Random(f"{config.seed}:{split}:negatives").sample(list(negative_pool),
                                                                          n_negative)
    if real_silence:
        silence = real_silence
    else:
        silence = [""] * math.ceil(len(wanted) * config.silence_percentage / 100)
    return tuple(wanted + [Example(path=p, label=UNKNOWN_LABEL) for p in unknown]
                 + [Example(path=p, label=SILENCE_LABEL) for p in silence])


def format_table(index: DatasetIndex) -> str:
    """Clips per split and label as a fixed-width text table, with totals."""
    counts = index.counts()
    width = max(len(label) for label in index.labels + ("label", "total"))
    lines = [f"{'label':<{width}} " + " ".join(f"{s:>10}" for s in SPLITS)]
    for label in index.labels:
        lines.append(f"{label:<{width}} " + " ".join(f"{counts[s][label]:>10}" for s in SPLITS))
    lines.append(f"{'total':<{width}} " + " ".join(f"{len(index.splits[s]):>10}" for s in SPLITS))
    if index.unknown_pool:
        lines.append(f"{'(other words)':<{width}} " + " ".join(
            f"{len(index.unknown_pool.get(s, ())):>10}" for s in SPLITS)
            + "   _unknown_ is drawn from these clips")
    if index.negative_pool:
        lines.append(f"{'(negatives)':<{width}} " + " ".join(
            f"{len(index.negative_pool.get(s, ())):>10}" for s in SPLITS)
            + "   and their own share from these")
    if index.skipped:
        lines.append(f"skipped {len(index.skipped)} unusable file(s):")
        lines.extend(f"  {msg}" for msg in index.skipped)
    lines.append(f"background noise files: {len(index.noise_files)}")
    return "\n".join(lines)
