"""The command line of `python export/infer.py`, for the tests that run the device script."""

from __future__ import annotations

import sys

# Run through runpy so that the import line names the file for tools/gen_build.py (Bazel puts it in
# the runfiles); export/infer.py defines no flags itself.
_INFER_SCRIPT = """
import runpy
from export import infer
runpy.run_path(infer.__file__, run_name="__main__")
"""
INFER = [sys.executable, "-c", _INFER_SCRIPT]
"""Add flags and paths; run it with the repository root as the working directory."""
