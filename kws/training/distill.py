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
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

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
