"""`kws prepare`: convert a folder of any audio into 16 kHz mono 16-bit WAV in the same layout.

    kws prepare --input_dir=raw/ --output_dir=data/ [--skip_bad_files] [--backend=soundfile]

Bad files, missing folders and an unusable backend are ``kws.errors.UserError``s: `kws` prints them
as one line and exits 1.
"""

from __future__ import annotations

from absl import app
from absl import flags

from kws.data import decode
from kws.data import prepare

_INPUT_DIR = flags.DEFINE_string(
    "input_dir", None, "Folder tree of audio (WAV of any depth, FLAC, OGG, MP3, ...).",
    required=True)
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", None, "Where the same tree of 16-bit mono WAV files goes (outside input_dir).",
    required=True)
_SAMPLE_RATE_HZ = flags.DEFINE_integer(
    "sample_rate_hz", 16000, "Sample rate of every output file.", lower_bound=1)
_SKIP_BAD_FILES = flags.DEFINE_bool(
    "skip_bad_files", False,
    "Skip unreadable files (counted and listed at the end) instead of stopping at the first one.")
_BACKEND = flags.DEFINE_enum(
    "backend", "auto", decode.BACKENDS,
    "Decoder: soundfile (libsndfile + soxr), tfio (tensorflow-io, only where its native ops load: "
    "TF 2.16/2.17), or auto (tfio where it loads, else soundfile; the choice is logged).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    summary = prepare.prepare_folder(
        _INPUT_DIR.value, _OUTPUT_DIR.value, sample_rate_hz=_SAMPLE_RATE_HZ.value,
        skip_bad_files=_SKIP_BAD_FILES.value, backend=_BACKEND.value)
    print(summary.report())
