"""The MLPerf Tiny KWS reference model (../shared/peers/mlperf_tiny_kws_ref) as a scorer of kws datasets.

Its input features are computed as its README describes: each clip divided by its maximum sample
(not the maximum absolute value, as its training code does), then an MFCC that kws.frontend computes
with the reference's parameters. Clips come from kws's own evaluation pipeline
(kws.export.clips.waveform_batches), so the reference sees exactly the clips a kws model is scored on.
Used by export_benchmark.py and real_voices.py.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from kws import frontend
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.export import clips
from kws.export import runner
from kws.export import tflite

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SHARED = os.path.join(os.path.dirname(_REPO), "shared")
MODEL_PATH = os.path.join(_SHARED, "peers", "mlperf_tiny_kws_ref", "kws_ref_model.tflite")
"""The reference model beside the checkout (53,936 bytes, int8 features in)."""
DATA_DIR = os.path.join(_SHARED, "data", "speech_commands_test_v0.02_dev")
"""The 2,542 real test clips in the reference's twelve labels."""

LABELS = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_",
          "_unknown_")
"""The reference's output order."""
FEATURES = frontend.FrontendConfig(
    feature_type="mfcc", window_size_ms=30.0, window_stride_ms=20.0, fft_length=512,
    num_mel_bins=40, lower_edge_hz=20.0, upper_edge_hz=4000.0, num_mfcc=10, log_floor=1e-6)
"""The reference's MFCC: 49 frames x 10 coefficients of a 1 s clip at 16 kHz."""


def features(waveforms: np.ndarray) -> np.ndarray:
    """The reference's MFCC [n, 49, 10] of clips [n, 16000]: each clip divided by its maximum sample
    (left as is when that is <= 0)."""
    peak = waveforms.max(axis=1, keepdims=True)
    normalised = np.where(peak > 0, waveforms / np.where(peak > 0, peak, 1), waveforms)
    return tflite.compute_features_batched(normalised.astype(np.float32), FEATURES)


def predict(model: bytes, index: sc.DatasetIndex, split: str, noise
            ) -> tuple[np.ndarray, np.ndarray]:
    """(true label ids, predicted label ids) over ``split`` of ``index``, in the index's label order
    and clip order. The index's labels must be the reference's twelve (any order)."""
    if set(index.labels) != set(LABELS):
        raise UserError(f"the reference model knows {list(LABELS)}; this dataset's labels are "
                        f"{list(index.labels)}")
    classifier = runner.TfliteClassifier(model)
    from_reference = np.array([index.labels.index(label) for label in LABELS])
    truth, predicted = [], []
    for waves, y in clips.waveform_batches(index, split, FEATURES, pl.PipelineConfig(batch_size=200),
                                           noise):
        scores = classifier.predict(features(waves)[..., None])
        truth.append(y)
        predicted.append(from_reference[np.argmax(scores, -1)])
    return np.concatenate(truth), np.concatenate(predicted)


def accuracy(model: bytes, index: sc.DatasetIndex, split: str, noise) -> dict:
    """{'accuracy': top-1, 'examples': clips} of the reference on ``split`` of ``index``."""
    truth, predicted = predict(model, index, split, noise)
    return {"accuracy": float(np.mean(truth == predicted)), "examples": int(len(truth))}


def whole_folder(folder: str) -> sc.DatasetIndex:
    """Every clip of a 12-class folder tree (keywords mode) as the 'test' split."""
    index = sc.index_dataset(sc.DataConfig(data_dir=folder, label_mode="keywords",
                                           validation_percentage=0, testing_percentage=0))
    everything = tuple(e for s in sc.SPLITS for e in index.splits[s])
    return dataclasses.replace(index, skipped=(),
                               splits={"train": (), "validation": (), "test": everything})


def read(path: str) -> bytes:
    if not os.path.isfile(path):
        raise UserError(f"{path} does not exist; pass --peer_model=<kws_ref_model.tflite>")
    with open(path, "rb") as f:
        return f.read()
