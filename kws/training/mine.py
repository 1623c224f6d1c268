"""Hard-negative mining: the windows of other speech on which a trained model fires.

``mine`` runs a model (any kws.stream_eval.sources.PosteriorSource: a run's Keras checkpoint in
``kws mine``) over every clip of other speech in a run's training split (its _unknown_ pool: other
words and the --negative_dirs clips of training speakers), hop by hop, as a stream detector would
see them: each clip with ``pad_s`` of silence before and after, so its words pass through the whole
window. A window "fires" when a keyword's posterior reaches ``threshold``; each clip gives at most
its highest-scoring window. The ``max_windows`` highest-scoring windows over all clips are written
as 16-bit WAVs into the output folder, named ``<speaker>_nohash_mined<k>.wav`` after their source
clip's speaker, so the speaker rule puts them in the split of the clip they came from. Train again
with that folder in --negative_dirs (and --init_from to continue from the run): the next round.

Only clips whose speaker the rule puts in training are mined (a data folder with lists may hold
others in its training split; they are counted and left out), so mined windows never reach
validation or test. The work is resumable: the clips already scored are recorded in
``mine_state.json`` in the output folder after every chunk, and a rerun with the same settings
continues where it stopped; other settings are refused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from typing import Callable, Sequence

import numpy as np

from kws import audio
from kws.data import decode
from kws.data import speech_commands as sc
from kws.errors import UserError

STATE_FILE = "mine_state.json"
MANIFEST_FILE = "mined.csv"


@dataclasses.dataclass(kw_only=True, frozen=True)
class MineConfig:
    """What is mined."""

    threshold: float = 0.5
    """A window fires when a keyword's posterior reaches this."""
    max_windows: int = 2000
    """At most this many windows are kept (the highest-scoring ones)."""
    pad_s: float = 0.5
    """Silence before and after each clip."""
    chunk_clips: int = 256
    """Clips scored between two saves of the state."""

    def __post_init__(self):
        if not 0 < self.threshold <= 1:
            raise ValueError("threshold must be in (0, 1]")
        if self.max_windows < 1 or self.chunk_clips < 1 or self.pad_s < 0:
            raise ValueError("need max_windows >= 1, chunk_clips >= 1, pad_s >= 0")


def fired_window(times_ms: np.ndarray, posteriors: np.ndarray, keyword_ids: Sequence[int],
                 threshold: float) -> tuple[int, float, int] | None:
    """(window index, score, keyword id) of the highest keyword posterior if it reaches
    ``threshold``; None when no window fires."""
    if len(times_ms) == 0:
        return None
    scores = posteriors[:, list(keyword_ids)]
    i, k = np.unravel_index(int(np.argmax(scores)), scores.shape)
    score = float(scores[i, k])
    return (int(i), score, int(keyword_ids[k])) if score >= threshold else None


def _save_json(path: str, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def mine(clips: Sequence[str], source, output_dir: str, config: MineConfig,
         progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Mines ``clips`` with ``source`` into ``output_dir`` (module docstring).

    Returns the written windows: dicts of file, source clip, score, label, end_s (the window's end
    in the padded clip).
    """
    labels = tuple(source.labels)
    keyword_ids = [i for i, label in enumerate(labels)
                   if label not in (sc.SILENCE_LABEL, sc.UNKNOWN_LABEL)]
    if not keyword_ids:
        raise UserError("the model has no keyword labels to mine for")
    os.makedirs(output_dir, exist_ok=True)
    state_path = os.path.join(output_dir, STATE_FILE)
    settings = {"config": dataclasses.asdict(config), "labels": list(labels),
                "model": source.description, "clips": len(clips)}
    state = {"settings": settings, "done": 0, "fired": []}
    if os.path.isfile(state_path):
        with open(state_path, encoding="utf-8") as f:
            old = json.load(f)
        if old.get("settings") != settings:
            raise UserError(f"{output_dir} holds a mining run with other settings; use another "
                            "--output_dir or delete it")
        state = old
    rate, window = source.sample_rate_hz, source.clip_samples
    pad = np.zeros(int(round(config.pad_s * rate)), np.int16)
    while state["done"] < len(clips):
        chunk = clips[state["done"]:state["done"] + config.chunk_clips]
        for path in chunk:
            clip = audio.to_int16(decode.read_clip(path, rate))
            samples = np.concatenate([pad, clip, pad])
            if len(samples) < window:
                samples = np.concatenate([samples, np.zeros(window - len(samples), np.int16)])
            times, post = source.posteriors(samples)
            found = fired_window(times, post, keyword_ids, config.threshold)
            if found is not None:
                i, score, k = found
                state["fired"].append({"source": path, "end_ms": float(times[i]),
                                       "score": score, "label": labels[k]})
        state["done"] += len(chunk)
        _save_json(state_path, state)
        if progress is not None:
            progress(state["done"], len(clips))
    return _write(state, output_dir, config, rate, window, pad)


def _write(state: dict, output_dir: str, config: MineConfig, rate: int, window: int,
           pad: np.ndarray) -> list[dict]:
    kept = sorted(state["fired"], key=lambda f: -f["score"])[:config.max_windows]
    written = []
    for k, f in enumerate(kept):
        clip = audio.to_int16(decode.read_clip(f["source"], rate))
        samples = np.concatenate([pad, clip, pad, np.zeros(window, np.int16)])
        end = int(round(f["end_ms"] * rate / 1000))
        cut = samples[max(0, end - window):end]
        cut = np.concatenate([np.zeros(window - len(cut), np.int16), cut])
        name = f"{sc.speaker_id(f['source'])}_nohash_mined{k}.wav"
        audio.write_wav(os.path.join(output_dir, name), cut.astype(np.float32) / 32768.0, rate)
        written.append({"file": name, **f})
    with open(os.path.join(output_dir, MANIFEST_FILE), "w", encoding="utf-8") as out:
        out.write("file,source,score,label,end_ms\n")
        for w in written:
            out.write(f"{w['file']},{w['source']},{w['score']:.4f},{w['label']},"
                      f"{w['end_ms']:.1f}\n")
    return written


def training_negatives(index: sc.DatasetIndex, data: sc.DataConfig) -> tuple[list[str], int]:
    """(clips of other speech in the training split whose speaker the rule puts in training, how
    many others were left out)."""
    pool = index.unknown_pool.get("train", ()) + index.negative_pool.get("train", ())
    kept = [p for p in pool
            if sc.split_of(os.path.basename(p), data.validation_percentage,
                           data.testing_percentage) == "train"]
    return kept, len(pool) - len(kept)
