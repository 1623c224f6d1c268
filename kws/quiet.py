"""A quiet console: TensorFlow's and LiteRT's start-up notices kept off the terminal.

Every command calls ``install()`` before anything imports TensorFlow. ``KWS_TF_LOGS=1`` in the
environment turns all of this off and lets every line through.

What prints, and what stops it (measured, TF 2.21 / ai-edge-litert 2.3 on a CPU-only machine):

* ``cpu_feature_guard.cc] This TensorFlow binary is optimized to use available CPU
  instructions`` and the converter's ``W`` lines: ``TF_CPP_MIN_LOG_LEVEL=2`` (unless already set).
* ``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR``,
  ``port.cc] oneDNN custom operations are on`` and ``cudart_stub.cc] Could not find cuda
  drivers``: each of TF's two big shared libraries logs them through absl while
  ``import tensorflow`` loads it, before any log level applies. No environment variable stops
  them (``TF_ENABLE_ONEDNN_OPTS=0`` drops the oneDNN line only by switching oneDNN off, which
  changes numerics and speed: not used).
* ``E ... cuda_platform.cc] failed call to cuInit``: logged when TF first looks for devices; only
  ``TF_CPP_MIN_LOG_LEVEL=3`` stops it, together with every real TF error: not used.
* ``fully_quantize: 0, inference_type: 6, ...`` (the TFLite converter's quantizer) and
  ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` (LiteRT, once per process): printed by
  C++ to stderr, no switch.

So ``install()`` sets the log level and arranges that the import of TensorFlow, followed by a
device listing, runs under ``native_stderr()``: file descriptor 2 goes to a temporary file, and
afterwards the lines matching ``NOTICES`` are dropped and everything else is written to stderr. The
exporter and the interpreters use ``native_stderr()`` around conversion and tensor allocation.

Standard library only: the TF-free device side uses it too.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import os
import re
import sys
import tempfile
from collections.abc import Iterator

from kws.errors import UserError

ENV_VAR = "KWS_TF_LOGS"
"""``1``: show TensorFlow's and LiteRT's start-up lines; unset or ``0``: hide them."""

_TF_PREFIX = r"[IWEF]\d{4} [\d:.]+\s+\d+ "  # absl/TF C++ log line: I0000 00:00:... pid
NOTICES = tuple(re.compile(p) for p in (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    _TF_PREFIX + r"port\.cc:\d+\] oneDNN custom operations are on\.",
    _TF_PREFIX + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine",
    _TF_PREFIX + r"cuda_platform\.cc:\d+\] failed call to cuInit: ",
    r"fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, "
    r"output_inference_type: \w+$",
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",
))
"""Lines dropped inside ``native_stderr()``: start-up notices that say nothing about the run."""


def logs_wanted() -> bool:
    """Whether ``KWS_TF_LOGS`` asks for TensorFlow's lines ('1') or not (unset, '' or '0')."""
    value = os.environ.get(ENV_VAR, "").strip()
    if value not in ("", "0", "1"):
        raise UserError(f"{ENV_VAR}={value!r}: set it to 1 to show TensorFlow's start-up logs, or "
                        "to 0 (or unset it) to hide them")
    return value == "1"


def drop_notices(text: str) -> str:
    """``text`` without the lines that match ``NOTICES`` (other lines kept, in order)."""
    kept = [line for line in text.splitlines(keepends=True)
            if not any(p.match(line.rstrip("\r\n")) for p in NOTICES)]
    return "".join(kept)


@contextlib.contextmanager
def captured_stderr_fd() -> Iterator[list[str]]:
    """Captures what anything (C/C++ code included) writes to file descriptor 2 during the block:
    the yielded list holds those lines once the block ends (also when it raises)."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines.extend(held.read().decode("utf-8", errors="replace").splitlines(keepends=True))


@contextlib.contextmanager
def native_stderr() -> Iterator[None]:
    """Runs the block with file descriptor 2 captured; afterwards, also when the block raises,
    writes what it held minus ``NOTICES`` to stderr.

    For short blocks only (imports, conversions, allocations): their output appears when they end.
    With ``KWS_TF_LOGS=1`` it does nothing.
    """
    if logs_wanted():
        yield
        return
    held: list[str] = []
    try:
        with captured_stderr_fd() as lines:
            held = lines
            yield
    finally:
        rest = drop_notices("".join(held))
        if rest:
            sys.stderr.write(rest)
            sys.stderr.flush()


class _QuietLoader:
    """Wraps TensorFlow's package loader: runs the import, then a device listing (which logs the
    cuInit line on machines without a GPU), under native_stderr()."""

    def __init__(self, loader, finder: "_TensorFlowFinder"):
        self._loader = loader
        self._finder = finder

    def __getattr__(self, name):  # get_source, get_resource_reader, is_package, ...
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._finder.remove()
        with native_stderr():
            self._loader.exec_module(module)
            module.config.list_physical_devices()


class _TensorFlowFinder:
    """A sys.meta_path entry: finds ``tensorflow`` as the path finder does, wraps its loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def install() -> None:
    """Makes this process's TensorFlow quiet (see the module docstring); call it before anything
    imports TensorFlow. Imports nothing itself; does nothing with ``KWS_TF_LOGS=1`` or once
    TensorFlow is loaded; calling it again changes nothing."""
    if logs_wanted() or "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not any(isinstance(f, _TensorFlowFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _TensorFlowFinder())
