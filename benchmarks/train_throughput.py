"""Training throughput (examples/s) of each model family on this machine, same features and batches.

    python benchmarks/train_throughput.py [--steps=60 --batch_size=100]

Times `train_on_batch` steps of each model on fixed random feature batches (the input pipeline is
measured separately by pipeline_throughput.py), after a warm-up that traces the step.
"""

from __future__ import annotations

from kws import quiet

quiet.install()  # before anything imports TensorFlow: no C++ start-up lines

import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import app
from absl import flags

from kws import frontend
from kws.models import ModelConfig, build_model

_STEPS = flags.DEFINE_integer("steps", 60, "Timed steps per model.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 100, "Batch size.")

MODELS = [  # (name, config, feature type)
    ("tiny_conv", ModelConfig(name="tiny_conv"), "log_mel"),
    ("cnn (trad-fpool3)", ModelConfig(name="cnn"), "log_mel"),
    ("ds_cnn S", ModelConfig(name="ds_cnn", size="s"), "mfcc"),
    ("ds_cnn M", ModelConfig(name="ds_cnn", size="m"), "mfcc"),
    ("bc_resnet 1", ModelConfig(name="bc_resnet", width=1), "log_mel"),
    ("bc_resnet 3", ModelConfig(name="bc_resnet", width=3), "log_mel"),
    ("crnn", ModelConfig(name="crnn"), "log_mel"),
]


def main(argv):
    del argv
    batch = _BATCH_SIZE.value
    rng = np.random.default_rng(0)
    print(f"cores: {os.cpu_count()}  tensorflow {tf.__version__}  batch {batch}")
    print(f"{'model':<20} {'params':>9} {'features':>10} {'train ex/s':>11}")
    for name, config, feature_type in MODELS:
        shape = frontend.FrontendConfig(feature_type=feature_type).feature_shape
        model = build_model(config, shape)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        x = rng.normal(size=(batch,) + shape).astype(np.float32)
        y = rng.integers(0, config.num_classes, batch)
        for _ in range(5):
            model.train_on_batch(x, y)
        start = time.perf_counter()
        for _ in range(_STEPS.value):
            model.train_on_batch(x, y)
        rate = _STEPS.value * batch / (time.perf_counter() - start)
        print(f"{name:<20} {model.count_params():>9,} {'x'.join(map(str, shape)):>10} {rate:>11.0f}",
              flush=True)
        keras.backend.clear_session()


if __name__ == "__main__":
    app.run(main)
