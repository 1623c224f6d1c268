"""Knowledge distillation: train a small model against a larger, finished kws run's probabilities.

The teacher is a checkpoint (best, last or a file) of another, finished kws-train working directory
with the same labels and the same front end. It runs (inference mode) on each augmented training
batch inside the input pipeline, so the student sees exactly the batches it would see without a
teacher, and a resumed run sees the targets an uninterrupted one would have seen. The student's
target becomes

    (1 - weight) * one_hot(label) + weight * softmax(log(p_teacher) / temperature)

and the loss stays the run's cross-entropy (with its label smoothing). A temperature above 1
flattens the teacher's distribution, so the student also learns which wrong words the teacher finds
similar.

A teacher that is not a kws run (another front end: a head over a frozen speech embedding) comes
as a file of its probabilities on every training clip instead (--teacher_probs; the second half
of this module).
"""

from __future__ import annotations

import json
import os
import zipfile

import keras
import numpy as np
import tensorflow as tf

from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.training import checkpoint as ckpt
from kws.training import config as tc


class TeacherError(UserError):
    """A teacher run that cannot teach this student (missing, unfinished, other labels/features)."""


def load_teacher(teacher_dir: str, labels: list[str], features: dict,
                 checkpoint: str = "best") -> keras.Model:
    """A checkpoint of the finished kws run in ``teacher_dir``, checked against the student.

    Args:
      checkpoint: best, last or a .keras file (kws.training.checkpoint.resolve).
      labels: the student's labels, in order; the teacher's labels.txt must list the same.
      features: the student's front-end config as a dict (TrainConfig.to_dict()["features"]).
    """
    config_path = os.path.join(teacher_dir, "config.json")
    if not os.path.isfile(config_path):
        raise TeacherError(f"--teacher_dir {teacher_dir}: no config.json there; give the working "
                           "directory of a finished kws-train run")
    with open(config_path, encoding="utf-8") as f:
        teacher_features = json.load(f).get("features", {})
    diff = tc.differences(teacher_features, features)
    if diff:
        raise TeacherError(f"--teacher_dir {teacher_dir} was trained on other features (teacher -> "
                           f"student: {'; '.join(diff)}); the teacher must use the student's "
                           "front end")
    labels_path = os.path.join(teacher_dir, "labels.txt")
    if not os.path.isfile(labels_path):
        raise TeacherError(f"--teacher_dir {teacher_dir}: no labels.txt; its run never started")
    with open(labels_path, encoding="utf-8") as f:
        teacher_labels = f.read().split()
    if teacher_labels != list(labels):
        raise TeacherError(f"--teacher_dir {teacher_dir} has labels {teacher_labels}, the "
                           f"student's data has {list(labels)}")
    state = ckpt.read_state(os.path.join(teacher_dir, "checkpoints"))
    if state is None or not state.done:
        raise TeacherError(f"--teacher_dir {teacher_dir}: its training has not finished (no "
                           "finished checkpoints/); run its kws-train to the end first")
    teacher = ckpt.load_model(ckpt.resolve(teacher_dir, checkpoint), compile=False)
    teacher.trainable = False
    return teacher


def soft_targets(teacher: keras.Model, weight: float, temperature: float):
    """A dataset map (features, one-hot) -> (features, mixed target), see the module docstring.

    ``weight`` in (0, 1] and ``temperature`` > 0 (TrainConfig checks them).
    """

    def mix(x, y):
        probs = teacher(x, training=False)
        soft = tf.nn.softmax(tf.math.log(tf.maximum(probs, 1e-7)) / temperature, axis=-1)
        return x, (1.0 - weight) * y + weight * tf.cast(soft, y.dtype)

    return mix


# A teacher that is not a kws run (e.g. a head over a frozen speech embedding): its probabilities on
# every clean training clip, computed once and saved as an .npz of `keys` (each clip's real path),
# `probs` [clips, classes] and `labels`. Each training row then has a fixed target, mixed as above;
# the row's augmented copies share it, and rows whose label the pipeline changes (a reversed or cut
# keyword) and _silence_ rows keep their one-hot label.


def load_teacher_probs(path: str, labels: list[str]) -> dict[str, np.ndarray]:
    """{clip real path: probabilities} of a --teacher_probs file, checked against ``labels``."""
    if not os.path.isfile(path):
        raise TeacherError(f"--teacher_probs {path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, probs, teacher_labels = data["keys"], data["probs"], data["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise TeacherError(f"--teacher_probs {path}: not a teacher file (an .npz of keys, probs "
                           f"and labels): {e}") from e
    if [str(s) for s in teacher_labels] != list(labels):
        raise TeacherError(f"--teacher_probs {path} has labels {[str(s) for s in teacher_labels]}, "
                           f"the student's data has {list(labels)}")
    if probs.ndim != 2 or probs.shape != (len(keys), len(labels)):
        raise TeacherError(f"--teacher_probs {path}: probs of shape {probs.shape} for {len(keys)} "
                           f"clips and {len(labels)} labels")
    if not np.all(np.isfinite(probs)) or np.any(probs < 0) or not np.allclose(probs.sum(1), 1,
                                                                              atol=1e-3):
        raise TeacherError(f"--teacher_probs {path}: probs must be finite, >= 0, and sum to 1 "
                           "per clip (a softmax output)")
    return {str(k): p.astype(np.float32) for k, p in zip(keys, probs)}


def save_teacher_probs(path: str, keys: list[str], probs: np.ndarray, labels: list[str]) -> None:
    """Writes a --teacher_probs file atomically (keys: the clips' real paths)."""
    tmp = path + ".tmp.npz"
    np.savez(tmp, keys=np.array(keys, dtype=str), probs=np.asarray(probs, np.float32),
             labels=np.array(labels, dtype=str))
    os.replace(tmp, path)


def mix_targets(onehot: np.ndarray, probs: np.ndarray, weight: float,
                temperature: float) -> np.ndarray:
    """NumPy form of soft_targets' mix: (1 - weight) * onehot + weight * softened probs."""
    logits = np.log(np.maximum(probs, 1e-7)) / temperature
    soft = np.exp(logits - logits.max(-1, keepdims=True))
    soft /= soft.sum(-1, keepdims=True)
    return ((1.0 - weight) * onehot + weight * soft).astype(np.float32)


def row_targets(table: dict[str, np.ndarray], weight: float, temperature: float):
    """The pipeline's row_targets (kws.data.pipeline.make_dataset): (paths, label ids, label names)
    -> float32 [rows, classes]. _silence_ rows (generated, path '', or recorded) keep their one-hot:
    the teacher is for speech. A speech clip the teacher never saw is an error (its file was made on
    another tree or split)."""

    def targets(paths: list[str], labels: np.ndarray, names: list[str]) -> np.ndarray:
        onehot = np.eye(len(names), dtype=np.float32)[labels]
        out = onehot.copy()
        silence = names.index(sc.SILENCE_LABEL) if sc.SILENCE_LABEL in names else -1
        missing = []
        for row, path in enumerate(paths):
            if not path or labels[row] == silence:
                continue
            probs = table.get(os.path.realpath(path))
            if probs is None:
                missing.append(path)
            else:
                out[row] = mix_targets(onehot[row], probs, weight, temperature)
        if missing:
            raise TeacherError(f"--teacher_probs has no probabilities for {len(missing)} of the "
                               f"{len(paths)} training clips (first: {missing[0]}): it was made "
                               "on another data folder or split; make it again on this one")
        return out

    return targets
