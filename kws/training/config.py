"""The full, resolved configuration of a training run, written to the working directory as JSON."""

from __future__ import annotations

import dataclasses
import json

from kws import frontend
from kws.data import augment
from kws.data import pipeline
from kws.data import placement as placement_lib
from kws.data import speech_commands as sc
from kws.models.config import ModelConfig

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "piecewise", "constant")
STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(kw_only=True, frozen=True)
class StreamSelectConfig:
    """Checkpoint selection on a validation stream (kws.training.stream_select). Off when
    fa_per_hour is 0."""

    fa_per_hour: float = 0.0
    """The false-accept budget the detector is calibrated for; 0: no stream selection."""
    minutes: float = 20.0
    """Length of the validation recording."""
    from_epoch: int = 1
    """First epoch (1-based) evaluated."""
    unknown_share: float = 0.45
    """Share of the recording's words that are other words."""
    hop_ms: float = 50.0
    """The model runs every hop_ms over the recording."""
    seed: int = 0
    """Seed of the recording."""

    def __post_init__(self):
        if self.fa_per_hour < 0:
            raise ValueError("stream_select fa_per_hour must be >= 0")
        if self.minutes <= 0.1 or self.from_epoch < 1:
            raise ValueError("stream_select needs minutes > 0.1 and from_epoch >= 1")


@dataclasses.dataclass(kw_only=True, frozen=True)
class TrainConfig:
    """Everything that decides what a run trains. Two runs with equal configs train the same model."""

    data: sc.DataConfig
    """Dataset folder, labels and splits."""
    features: frontend.FrontendConfig = frontend.FrontendConfig()
    """The front end."""
    augment: augment.AugmentConfig = augment.AugmentConfig()
    """Training augmentation."""
    pipeline: pipeline.PipelineConfig = pipeline.PipelineConfig()
    """Batch size, seed, caching."""
    placement: placement_lib.PlacementConfig = placement_lib.PlacementConfig()
    """Where words sit in training windows (stream training)."""
    model: ModelConfig = ModelConfig()
    """The network."""
    epochs: int = 30
    """Passes over the training split."""
    steps: int = 0
    """If > 0, stop after this many steps in all (overrides the end of the last epoch)."""
    optimizer: str = "adam"
    """adam, adamw or sgd (with Nesterov momentum 0.9)."""
    learning_rate: float = 3e-3
    """Peak learning rate."""
    schedule: str = "cosine"
    """cosine (linear warm-up, then cosine decay to 0), piecewise (x0.1 at 50 % and 75 % of steps),
    or constant."""
    warmup_epochs: float = 1.0
    """Linear warm-up length for the cosine schedule."""
    weight_decay: float = 1e-4
    """Decoupled weight decay (adamw, sgd)."""
    label_smoothing: float = 0.05
    """Label smoothing of the cross-entropy."""
    teacher_dir: str = ""
    """Knowledge distillation (kws.training.distill): working directory of a finished, usually
    larger run with the same labels and front end, whose probabilities join the labels as targets.
    Empty: none."""
    teacher_probs: str = ""
    """Knowledge distillation from a teacher that is not a kws run: an .npz of its probabilities
    on every training clip (kws.training.distill.save_teacher_probs). Empty: none."""
    teacher_checkpoint: str = "best"
    """Which of the teacher run's checkpoints teaches: best, last, or a .keras file."""
    distill_weight: float = 0.5
    """Share of the target that is the teacher's (softened) probabilities."""
    distill_temperature: float = 2.0
    """Temperature that softens the teacher's probabilities."""
    strategy: str = "default"
    """default (one device), mirrored (all local GPUs/devices), multi_worker (TF_CONFIG)."""
    stream_select: StreamSelectConfig = StreamSelectConfig()
    """Also keep the checkpoint that misses fewest keywords at a false-accept budget on a
    validation stream (kws.training.stream_select); off by default."""
    init_from: str = ""
    """Start from the weights of another run's last checkpoint (a kws-train working directory with
    the same model and labels), e.g. to continue after hard-negative mining; '' starts afresh."""

    def __post_init__(self):
        for name, valid in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                            ("strategy", STRATEGIES)):
            if getattr(self, name) not in valid:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; valid: {', '.join(valid)}")
        if self.epochs < 1 and self.steps < 1:
            raise ValueError("need epochs >= 1 or steps >= 1")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be > 0")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError("label_smoothing must be in [0, 1)")
        if self.augment.vtlp_probability and self.features.feature_type == "micro":
            raise ValueError("vtlp_probability needs a spectrogram-based front end (mfcc, log_mel, "
                             "spectrogram), not micro")
        if self.pipeline.unknown_resample and self.data.label_mode != "keywords":
            raise ValueError("unknown_resample draws _unknown_ examples: it needs label_mode "
                             "keywords")
        if self.teacher_dir and self.teacher_probs:
            raise ValueError("teacher_dir and teacher_probs are two teachers: give one")
        if not 0 < self.distill_weight <= 1:
            raise ValueError("distill_weight must be in (0, 1]")
        if self.distill_temperature <= 0:
            raise ValueError("distill_temperature must be > 0")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        nested = {"data": sc.DataConfig, "features": frontend.FrontendConfig,
                  "augment": augment.AugmentConfig, "pipeline": pipeline.PipelineConfig,
                  "placement": placement_lib.PlacementConfig, "model": ModelConfig,
                  "stream_select": StreamSelectConfig}
        kwargs = {}
        for key, value in values.items():
            if key in nested:
                value = dict(value)
                if key == "data":
                    value["wanted_words"] = tuple(value["wanted_words"])
                    value["negative_dirs"] = tuple(value.get("negative_dirs", ()))
                value = nested[key](**value)
            kwargs[key] = value
        return cls(**kwargs)


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' for every leaf that differs between two config dicts (as read from JSON)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out
