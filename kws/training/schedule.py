"""Learning-rate schedules as serialisable Keras schedules of the optimizer's step counter.

They depend only on the step, which the optimizer state restores on resume, so a resumed run continues
the schedule where it stopped.
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="kws")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``peak`` over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warm = self.peak * (step + 1.0) / max(self.warmup_steps, 1)
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        progress = keras.ops.clip(progress, 0.0, 1.0)
        cosine = 0.5 * self.peak * (1.0 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="kws")
class Piecewise(keras.optimizers.schedules.LearningRateSchedule):
    """``peak``, then x0.1 at 50 % and x0.01 at 75 % of ``total_steps`` (TF speech_commands style)."""

    def __init__(self, peak: float, total_steps: int):
        self.peak = float(peak)
        self.total_steps = int(total_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        factor = keras.ops.where(step < 0.5 * self.total_steps, 1.0,
                                 keras.ops.where(step < 0.75 * self.total_steps, 0.1, 0.01))
        return self.peak * factor

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps}


def make_schedule(name: str, peak: float, warmup_steps: int, total_steps: int):
    if name == "cosine":
        return WarmupCosine(peak, warmup_steps, total_steps)
    if name == "piecewise":
        return Piecewise(peak, total_steps)
    if name == "constant":
        return peak
    raise ValueError(f"unknown schedule {name!r}; valid: cosine, piecewise, constant")


def make_optimizer(name: str, learning_rate, weight_decay: float) -> keras.optimizers.Optimizer:
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True,
                                    weight_decay=weight_decay or None)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, adamw, sgd")
