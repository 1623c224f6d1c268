"""The summary of a `kws synth` run and its manifest, ``synth_manifest.json``, written last."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

MANIFEST_NAME = "synth_manifest.json"
BACKGROUND_NOISE_DIR = "_background_noise_"
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(kw_only=True, frozen=True)
class SynthSummary:
    """What ``synthesize_dataset`` wrote."""

    output_dir: str
    """The dataset folder."""
    words: tuple[str, ...]
    """The word folders."""
    engines: dict[str, str]
    """Engine name -> version of every engine used."""
    speakers_per_split: dict[str, int]
    """Split -> speakers."""
    groups_per_split: dict[str, tuple[str, ...]]
    """Split -> voice groups (held out whole)."""
    clips_per_split: dict[str, int]
    """Split -> clips (all words)."""
    clips_per_word: int
    """Clips in each word folder."""
    noise_files: tuple[str, ...]
    """Files written to _background_noise_."""
    pronunciations: dict[str, dict[str, dict[str, str]]]
    """Engine -> accent -> text -> phonemes, for the engines that show them (Kokoro)."""
    elapsed_s: float
    """Wall time of the run."""

    @property
    def num_speakers(self) -> int:
        return sum(self.speakers_per_split.values())

    def report(self) -> str:
        """A few lines for people: sizes, splits, engines, time."""
        lines = [f"wrote {self.output_dir}: {len(self.words)} words x {self.clips_per_word} clips "
                 f"({self.num_speakers} speakers) in {self.elapsed_s:.0f} s"]
        lines += [f"  {sp:<10} {self.speakers_per_split[sp]:5d} speakers {self.clips_per_split[sp]:7d} "
                  f"clips  voices: {', '.join(self.groups_per_split[sp])}" for sp in SPLITS]
        lines += [f"  engine {name}: {version}" for name, version in self.engines.items()]
        lines += [f"  {name} {accent}: " + ", ".join(f"{t} {p}" for t, p in table.items())
                  for name, accents in self.pronunciations.items() for accent, table in accents.items()]
        lines.append(f"  {BACKGROUND_NOISE_DIR}: {', '.join(self.noise_files) or 'none'}")
        return "\n".join(lines)


def write(config, summary: SynthSummary, speakers: Sequence, split_of: dict[str, str]) -> None:
    """Writes the manifest (atomically: it marks a finished dataset). ``config``: the SynthConfig;
    ``speakers``: its Speakers; ``split_of``: speaker hash -> split."""
    manifest = {
        "config": dataclasses.asdict(config),
        "engines": summary.engines,
        "splits": {sp: {"speakers": summary.speakers_per_split[sp], "clips": summary.clips_per_split[sp],
                        "voice_groups": list(summary.groups_per_split[sp])} for sp in SPLITS},
        "clips_per_word": summary.clips_per_word,
        "background_noise": list(summary.noise_files),
        "pronunciations": summary.pronunciations,
        "speakers": [{"hash": s.hash, "description": s.description, "engine": s.voice.engine,
                      "voice": s.voice.name, "group": s.voice.group,
                      "pitch_semitones": s.pitch_semitones, "rate": s.rate, "split": split_of[s.hash]}
                     for s in sorted(speakers, key=lambda s: s.hash)],
    }
    path = os.path.join(config.output_dir, MANIFEST_NAME)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)
