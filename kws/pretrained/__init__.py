"""Pretrained models shipped with kws: kws-export folders (the device files only), one per name.

Each folder holds what kws-infer loads (labels.txt, frontend.json, model_int8.tflite and, for
streamable models, stream_int8.tflite + streaming.json), the features-in int8 model for TFLite
Micro (model_features_int8.tflite), the flagfile that trains it again (train.flags, see its
header for the whole recipe) and its scorecard (scorecard.json, measured by the benchmarks named
there). No TensorFlow here: the device script uses this module.

``speech_embedding_head`` is the larger kind (kws.device.embedding): a head trained on the time
axis over Google's frozen speech_embedding, 2.7 MB with the front end, for Raspberry-Pi-class
devices. It holds head.tflite, labels.txt, embedding.json, its calibrated detector.json, the
recipe.json of benchmarks/embedding_stream_head.py and scorecard.json (with the commands that make
it again); the two front-end models come from tools/install.sh, not from this folder.
"""

from __future__ import annotations

import os

from kws.errors import UserError

DEFAULT = "ds_cnn_s_real"
"""The model kws-infer runs when no --model_dir is given."""

_HERE = os.path.dirname(os.path.abspath(__file__))


def names() -> tuple[str, ...]:
    """The shipped models' names."""
    return tuple(sorted(n for n in os.listdir(_HERE)
                        if os.path.isfile(os.path.join(_HERE, n, "labels.txt"))))


def model_dir(name: str = DEFAULT) -> str:
    """The folder of the shipped model ``name``."""
    if name not in names():
        raise UserError(f"no pretrained model {name!r}; shipped: {', '.join(names()) or 'none'}")
    return os.path.join(_HERE, name)
