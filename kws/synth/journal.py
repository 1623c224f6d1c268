"""What makes `kws synth` resumable: a journal of finished speakers in the output folder.

A run writes ``<output_dir>/synth_journal.jsonl``: a first line with the run's fingerprint (every
setting that changes the bytes, the engines' versions and the planned speakers), then one line per
speaker once all of that speaker's clips are on disk. A killed run leaves the journal behind; the same
command again finds it, keeps the speakers it lists (their files are checked) and synthesizes only
the rest. Since every clip follows from the seed, the finished folder is byte for byte the one an
uninterrupted run writes. The manifest, written last, marks a finished dataset; the journal is then
removed. A journal of other settings is never mixed in: that is an error naming what differs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Iterable, Mapping

from kws.errors import UserError

JOURNAL_NAME = "synth_journal.jsonl"


class StaleJournal(UserError):
    """The output folder holds an unfinished run of other settings."""


class Journal:
    """Speakers already finished in one output folder; ``record`` appends one durably."""

    def __init__(self, path: str, fingerprint: Mapping[str, object], done: dict[str, list[str]]):
        self.path = path
        self.fingerprint = dict(fingerprint)
        self.done = done
        """Speaker hash -> the clip paths (relative to the folder) it wrote."""

    def record(self, speaker_hash: str, paths: Iterable[str]) -> None:
        paths = list(paths)
        _append(self.path, {"speaker": speaker_hash, "paths": paths})
        self.done[speaker_hash] = paths

    def remove(self) -> None:
        os.remove(self.path)


def _append(path: str, entry: Mapping[str, object]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read(path: str) -> tuple[dict, dict[str, list[str]]]:
    """(fingerprint, speaker hash -> paths) of a journal. A last line cut short by a kill is
    ignored (that speaker is redone); any other unreadable line is an error."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    complete = lines[:-1]  # every finished line ends with a newline; the rest was being written
    entries = []
    for number, line in enumerate(complete, 1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise UserError(f"{path} line {number} is damaged ({e.msg}); remove the folder, or "
                            "pass --overwrite to start the synthesis again") from e
    if not entries or "fingerprint" not in entries[0]:
        raise UserError(f"{path} has no settings line; remove the folder, or pass --overwrite to "
                        "start the synthesis again")
    done = {}
    for number, entry in enumerate(entries[1:], 2):
        if not isinstance(entry.get("speaker"), str) or not isinstance(entry.get("paths"), list):
            raise UserError(f"{path} line {number} is not a speaker entry; remove the folder, or "
                            "pass --overwrite to start the synthesis again")
        done[entry["speaker"]] = entry["paths"]
    return entries[0]["fingerprint"], done


def _differences(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def open_output_dir(output_dir: str, fingerprint: Mapping[str, object], overwrite: bool,
                    manifest_name: str, word_pattern: re.Pattern, extra_names: Iterable[str]
                    ) -> Journal:
    """Gets ``output_dir`` ready and returns its journal, resuming an unfinished run of the same
    fingerprint. ``fingerprint["config"]`` and a finished dataset's manifest (``manifest_name``)
    ``["config"]`` hold the settings, whose ``words`` name its folders. ``overwrite`` deletes a
    previous dataset there: its word folders (only names that ``word_pattern`` accepts, so nothing
    else), ``extra_names``, the manifest and the journal."""
    path = os.path.join(output_dir, JOURNAL_NAME)
    fingerprint = json.loads(json.dumps(dict(fingerprint)))  # as a journal reads it back
    if os.path.isdir(output_dir) and os.listdir(output_dir):
        manifest = os.path.join(output_dir, manifest_name)
        finished = os.path.isfile(manifest)
        unfinished = os.path.isfile(path) and not finished
        if unfinished and not overwrite:
            old, done = read(path)
            changed = _differences(old, fingerprint)
            if changed:
                raise StaleJournal(
                    f"{output_dir} holds an unfinished synthesis of other settings ({', '.join(changed)} "
                    "differ); rerun the command that started it to continue, or pass --overwrite to "
                    "start again")
            kept = {h: p for h, p in done.items()
                    if all(os.path.isfile(os.path.join(output_dir, x)) for x in p)}
            return Journal(path, fingerprint, kept)
        if not overwrite:
            raise UserError(f"{output_dir} is not empty; choose a new folder, or pass --overwrite to "
                            "replace the synthetic dataset there")
        if not (finished or unfinished):
            raise UserError(f"{output_dir} is not empty and holds no {manifest_name}, so it is not a "
                            "synthetic dataset; --overwrite refuses to delete it: remove it yourself")
        if finished:
            with open(manifest, encoding="utf-8") as f:
                old_config = json.load(f).get("config", {})
        else:
            old_config = read(path)[0].get("config", {})
        words = [w for w in old_config.get("words", ()) if isinstance(w, str) and word_pattern.match(w)]
        for name in words + list(extra_names) + [manifest_name, JOURNAL_NAME]:
            target = os.path.join(output_dir, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
    os.makedirs(output_dir, exist_ok=True)
    _append(path, {"fingerprint": fingerprint})
    return Journal(path, fingerprint, {})

