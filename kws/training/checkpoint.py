"""Checkpoints of a working directory, written so that a kill at any moment loses nothing.

Layout under ``<workdir>/checkpoints``: ``epoch-NNNN.keras`` (model + optimizer state), ``best.keras``,
and ``state.json`` naming the last complete epoch's file. Each file is written to a temporary name and
renamed into place; ``state.json`` is renamed last, so it always names a complete file, and the file it
replaced is deleted only afterwards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile

import keras

from kws.errors import UserError

STATE = "state.json"


class CheckpointError(UserError):
    """A checkpoint that cannot be read."""


@dataclasses.dataclass(kw_only=True, frozen=True)
class State:
    """Progress of a run."""

    epoch: int = 0
    """Epochs completed."""
    step: int = 0
    """Optimizer steps completed."""
    last: str = ""
    """File name (in the checkpoint folder) of the model after ``epoch`` epochs."""
    best_val_accuracy: float = -1.0
    """Best validation accuracy so far."""
    best_epoch: int = 0
    """The epoch that reached it (best.keras)."""
    done: bool = False
    """Training reached its end (epochs or steps)."""


def _replace_atomically(path: str, write) -> None:
    """Calls ``write(tmp_path)``, fsyncs the file, then renames it to ``path``; no partial file stays."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str, data: bytes | str) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)

    _replace_atomically(path, write)


def save_model_atomic(model: keras.Model, path: str) -> None:
    """model.save() to a temporary .keras name, then renamed into place."""
    _replace_atomically(path, model.save)


def read_state(folder: str) -> State | None:
    path = os.path.join(folder, STATE)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return State(**json.load(f))
    except (json.JSONDecodeError, TypeError) as e:
        raise CheckpointError(f"{path} is corrupt ({e}); delete the working directory's checkpoints "
                              "folder or pass --overwrite to start again") from e


def write_state(folder: str, state: State) -> None:
    write_atomic(os.path.join(folder, STATE), json.dumps(dataclasses.asdict(state), indent=2))


def resolve(workdir: str, name: str) -> str:
    """The checkpoint file that ``name`` means in run ``workdir``.

    'best' (best validation accuracy), 'last' (the last finished epoch; with a cosine schedule, the
    end of training), 'stream_best' (fewest misses on the validation stream,
    kws.training.stream_select) or a path to a .keras file.
    """
    folder = os.path.join(workdir, "checkpoints")
    if name == "best":
        return os.path.join(folder, "best.keras")
    if name == "last":
        state = read_state(folder)
        if state is None or not state.last:
            raise CheckpointError(f"{workdir} has no finished epoch yet")
        return os.path.join(folder, state.last)
    if name == "stream_best":
        path = os.path.join(folder, "stream_best.keras")
        if not os.path.isfile(path):
            raise CheckpointError(f"{workdir} has no stream_best.keras: it was trained without "
                                  "--stream_select_fa_per_hour (or has not finished an epoch)")
        return path
    if name.endswith(".keras"):
        return name
    raise CheckpointError(f"checkpoint {name!r}: use best, last, stream_best, or a .keras file")


def load_model(path: str, compile: bool = True) -> keras.Model:  # pylint: disable=redefined-builtin
    """Loads a .keras checkpoint (safe mode), turning unreadable files into a CheckpointError."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        return keras.models.load_model(path, compile=compile, safe_mode=True)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(e).__name__}: "
                              f"{e}); delete it (and state.json) or pass --overwrite to start "
                              "again") from e


def remove_stale(folder: str, keep: set[str]) -> None:
    """Deletes epoch files and temporaries other than ``keep``."""
    for name in os.listdir(folder):
        if (name.startswith("epoch-") or name.startswith(".tmp-")) and name not in keep:
            os.unlink(os.path.join(folder, name))
