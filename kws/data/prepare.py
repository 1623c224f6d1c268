"""Converts a folder tree of any audio into the same tree of 16-bit mono WAV at one rate.

``input_dir/yes/a.flac`` becomes ``output_dir/yes/a.wav``; split lists (``validation_list.txt``,
``testing_list.txt``) are copied with their entries renamed the same way. Training then reads only
the strict format that ``kws.audio.check_training_wav`` accepts.

Re-running is cheap: an output whose header is valid and whose modification time equals its source's
(set after each conversion) is left alone, so an interrupted run resumes where it stopped. Outputs
are written atomically, so a crash never leaves a half-written WAV behind.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import TextIO

import numpy as np
from absl import logging

from kws import audio
from kws import progress
from kws.data import decode
from kws.errors import UserError

AUDIO_EXTENSIONS = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                    ".aifc", ".au")
"""Source files converted (case-insensitive); everything else is listed as ignored."""

SPLIT_LISTS = ("validation_list.txt", "testing_list.txt")
"""Split lists copied with their entries renamed to ``.wav``."""

_INT16_FULL_SCALE = 32767 / 32768


class PrepareError(UserError):
    """The folders themselves cannot be prepared (missing, overlapping, clashing names)."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class PrepareSummary:
    """What one ``prepare_folder`` run did."""

    converted: int
    """Audio files decoded and written in this run."""
    skipped: int
    """Audio files whose output was already up to date, left as they were."""
    errors: tuple[tuple[str, str], ...]
    """(source path, reason) for each bad file skipped because ``skip_bad_files`` was set."""
    clipped: tuple[str, ...]
    """Sources whose samples went beyond 16-bit full scale and were clipped."""
    ignored: tuple[str, ...]
    """Input files (relative paths) that are neither audio nor split lists; not copied."""
    lists: tuple[str, ...]
    """Split lists written (relative paths)."""
    backend: str
    """The decoding backend that ran ("soundfile" or "tfio")."""

    def report(self) -> str:
        """A few lines for people: counts, then every bad file and the first ignored ones."""
        lines = [f"prepared with backend {self.backend}: {self.converted} converted, "
                 f"{self.skipped} already up to date, {len(self.errors)} bad files skipped, "
                 f"{len(self.clipped)} clipped, {len(self.ignored)} non-audio files ignored, "
                 f"{len(self.lists)} split lists written"]
        lines += [f"  bad file skipped: {reason}" for _, reason in self.errors]
        lines += [f"  clipped: {path}" for path in self.clipped[:10]]
        lines += [f"  ignored: {path}" for path in self.ignored[:10]]
        if len(self.ignored) > 10:
            lines.append(f"  ... and {len(self.ignored) - 10} more ignored")
        return "\n".join(lines)


def _is_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_EXTENSIONS


def _wav_name(rel_path: str) -> str:
    """``yes/a.flac`` -> ``yes/a.wav``; non-audio names are returned as they are."""
    root, ext = os.path.splitext(rel_path)
    return root + ".wav" if ext.lower() in AUDIO_EXTENSIONS else rel_path


def _check_folders(input_dir: str, output_dir: str) -> tuple[str, str]:
    if not os.path.isdir(input_dir):
        what = "is a file, not a folder" if os.path.exists(input_dir) else "does not exist"
        raise PrepareError(f"input folder {input_dir} {what}; pass --input_dir=FOLDER holding the "
                           "audio to convert")
    src, dst = os.path.realpath(input_dir), os.path.realpath(output_dir)
    if dst == src or dst.startswith(src + os.sep):
        raise PrepareError(f"output folder {output_dir} is {input_dir} or inside it, so the outputs "
                           "would be converted again; choose an output folder outside the input")
    return src, dst


def _scan(src: str) -> tuple[list[str], list[str], list[str]]:
    """Relative paths of audio files, split lists and ignored files under ``src``, sorted."""
    sources, lists, ignored = [], [], []
    for folder, subfolders, names in os.walk(src):
        subfolders.sort()
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(folder, name), src)
            if name.startswith("."):  # .DS_Store, macOS "._x.wav" resource forks, editor files
                ignored.append(rel)
            elif name in SPLIT_LISTS:
                lists.append(rel)
            elif _is_audio(name):
                sources.append(rel)
            else:
                ignored.append(rel)
    by_output: dict[str, str] = {}
    for rel in sources:
        other = by_output.setdefault(_wav_name(rel), rel)
        if other != rel:
            raise PrepareError(f"{os.path.join(src, other)} and {os.path.join(src, rel)} would both "
                               f"become {_wav_name(rel)}; rename or remove one of them")
    return sources, lists, ignored


def _up_to_date(src_path: str, out_path: str, sample_rate_hz: int) -> bool:
    if not os.path.exists(out_path):
        return False
    if os.stat(out_path).st_mtime_ns != os.stat(src_path).st_mtime_ns:
        return False
    try:
        audio.check_training_wav(out_path, sample_rate_hz)
    except audio.AudioFileError:
        return False
    return True


def _write_list(src_list: str, out_list: str, dropped: set[str]) -> None:
    """Copies a split list, renaming entries to ``.wav`` and leaving out the skipped bad files."""
    base = os.path.dirname(src_list)
    with open(src_list, encoding="utf-8") as f:
        entries = [line.strip() for line in f if line.strip()]
    kept = [_wav_name(e) for e in entries if os.path.normpath(os.path.join(base, e)) not in dropped]
    if len(kept) < len(entries):
        logging.warning("%s: left out %d entries whose source files were bad and skipped",
                        out_list, len(entries) - len(kept))
    missing = [e for e in entries if not os.path.exists(os.path.join(base, e))]
    if missing:
        logging.warning("%s lists %d files that are not in the input (first: %s); they stay listed",
                        src_list, len(missing), missing[0])
    os.makedirs(os.path.dirname(out_list), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(out_list), suffix=".txt.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(e + "\n" for e in kept))
        os.replace(tmp, out_list)
    except BaseException:
        os.unlink(tmp)
        raise


def prepare_folder(input_dir: str, output_dir: str, *, sample_rate_hz: int = 16000,
                   skip_bad_files: bool = False, backend: str = "auto",
                   stream: TextIO | None = None) -> PrepareSummary:
    """Converts every audio file under ``input_dir`` to mono 16-bit WAV under ``output_dir``.

    Args:
      input_dir: folder tree of audio in any format ``kws.data.decode`` reads.
      output_dir: where the same tree of ``.wav`` files goes (created; outside ``input_dir``).
      sample_rate_hz: rate of every output file.
      skip_bad_files: False: the first bad file stops the run with an error naming it. True: bad
        files are skipped, left out of the split lists, counted and listed in the summary.
      backend: decoding backend, "auto" | "soundfile" | "tfio" (see ``kws.data.decode``).
      stream: where the progress bar goes (stderr by default).

    Returns:
      What was converted, skipped and refused.

    Raises:
      PrepareError: missing input folder, output inside input, two sources with one output name.
      kws.audio.AudioFileError: a bad file, when ``skip_bad_files`` is False.
    """
    src_root, out_root = _check_folders(input_dir, output_dir)
    chosen = decode.resolve_backend(backend)
    sources, lists, ignored = _scan(src_root)
    if not sources:
        logging.warning("no audio files (%s) under %s", ", ".join(AUDIO_EXTENSIONS), input_dir)
    converted = skipped = 0
    errors: list[tuple[str, str]] = []
    clipped: list[str] = []
    for rel in progress.progress(sources, len(sources), label="prepare", stream=stream):
        src_path = os.path.join(src_root, rel)
        out_path = os.path.join(out_root, _wav_name(rel))
        if _up_to_date(src_path, out_path, sample_rate_hz):
            skipped += 1
            continue
        try:
            samples = decode.decode_audio(src_path, sample_rate_hz, backend=backend)
        except audio.AudioFileError as e:
            if not skip_bad_files:
                raise audio.AudioFileError(
                    f"{e}; or rerun with --skip_bad_files (skip_bad_files=True) to skip bad files, "
                    "which are then counted and listed at the end") from e
            logging.warning("skipping bad file: %s", e)
            errors.append((src_path, str(e)))
            continue
        if samples.size and float(np.max(np.abs(samples))) > _INT16_FULL_SCALE:
            clipped.append(src_path)
        audio.write_wav(out_path, samples, sample_rate_hz)
        stat = os.stat(src_path)
        os.utime(out_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        converted += 1
    dropped = {os.path.normpath(path) for path, _ in errors}
    for rel in lists:
        _write_list(os.path.join(src_root, rel), os.path.join(out_root, rel), dropped)
    summary = PrepareSummary(converted=converted, skipped=skipped, errors=tuple(errors),
                             clipped=tuple(clipped), ignored=tuple(ignored), lists=tuple(lists),
                             backend=chosen)
    if errors or clipped:
        logging.warning("%s", summary.report())
    else:
        logging.info("%s", summary.report())
    return summary
