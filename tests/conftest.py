"""Shared fixtures: where the real clips live, and small generated audio."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_data_dir() -> pathlib.Path:
    """../shared/data beside the checkout, or $KWS_SHARED_DATA. Missing is an error, never a skip."""
    path = pathlib.Path(os.environ.get("KWS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (path / "speech_commands_test_v0.02_dev").is_dir():
        raise RuntimeError(f"real test data not found at {path}: the tests need ../shared/data "
                           "beside the checkout (or KWS_SHARED_DATA pointing at it)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    return shared_data_dir()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_tone_dataset(root: pathlib.Path, words=("alpha", "beta", "gamma"), speakers=24,
                      noise=True) -> pathlib.Path:
    """A small learnable folder-per-word dataset: each 'word' is a distinct two-tone pattern, each
    'speaker' shifts its pitch and timing. 16 kHz mono 16-bit, `<speaker>_nohash_0.wav` names."""
    from kws import audio  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(7)
    t = np.arange(16000) / 16000
    for w, word in enumerate(words):
        for s in range(speakers):
            pitch = 1 + 0.05 * rng.standard_normal()
            start = rng.uniform(0.1, 0.4)
            f1, f2 = (300 + 250 * w) * pitch, (900 + 400 * w) * pitch
            env1 = ((t > start) & (t < start + 0.2)).astype(float)
            env2 = ((t > start + 0.2) & (t < start + 0.45)).astype(float)
            clip = 0.3 * (env1 * np.sin(2 * np.pi * f1 * t) + env2 * np.sin(2 * np.pi * f2 * t))
            clip += 0.01 * rng.standard_normal(len(t))
            audio.write_wav(str(root / word / f"{s:04x}{w:04x}_nohash_0.wav"), clip, 16000)
    if noise:
        audio.write_wav(str(root / "_background_noise_" / "noise.wav"),
                        0.3 * rng.standard_normal(5 * 16000), 16000)
    return root


@pytest.fixture
def tone_dataset(tmp_path) -> pathlib.Path:
    return make_tone_dataset(tmp_path / "tones", speakers=48)


QUIET_AUGMENTATION = dict(time_shift_ms=0.0, gain_db=0.0, background_frequency=0.0, time_masks=0,
                          freq_masks=0)
"""AugmentConfig keywords that leave training clips as they are (a tone stays its frequency)."""


def unknown_tones_per_epoch(index, resample, epochs=(0, 6)):
    """Per epoch of training on an index of tone clips, the frequencies (peak bin, Hz) of its
    _unknown_ examples, sorted; and the spectrogram features of every example."""
    # pylint: disable=import-outside-toplevel
    from kws import frontend
    from kws.data import augment
    from kws.data import pipeline as pl
    from kws.data import speech_commands as sc

    ds = pl.make_dataset(index, "train", frontend.FrontendConfig(feature_type="spectrogram"),
                         pl.PipelineConfig(batch_size=10, seed=3, unknown_resample=resample),
                         augment.AugmentConfig(**QUIET_AUGMENTATION), None, epochs=epochs)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds.take(1000)])
    x, y = np.concatenate(xs), np.concatenate(ys)
    per_epoch = len(index.splits["train"])
    assert len(y) == per_epoch * (epochs[1] - epochs[0])
    bin_hz = 16000 / (2 * (x.shape[-1] - 1))
    peaks = np.argmax(x.mean(axis=1), axis=-1) * bin_hz
    unknown = index.labels.index(sc.UNKNOWN_LABEL)
    return [sorted(peaks[e:e + per_epoch][y[e:e + per_epoch] == unknown])
            for e in range(0, len(y), per_epoch)], x


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory):
    """The tone demo trained and exported once per session (kws.export.demo): the report, folders,
    the run's config, labels, Keras body, index and noise."""
    # pylint: disable=import-outside-toplevel
    from kws.data import pipeline as pl
    from kws.data import speech_commands as sc
    from kws.export import demo
    from kws.export import exporter

    work = tmp_path_factory.mktemp("demo")
    result = demo.make_demo_export(str(work), str(work / "export"))
    config, labels, body = exporter.load_run(str(work / "run"))
    index = sc.index_dataset(config.data)
    noise = pl.load_noise(index, config.features.clip_samples, config.data.sample_rate_hz)
    return {"report": result, "out": work / "export", "run": work / "run", "config": config,
            "labels": labels, "body": body, "index": index, "noise": noise}


@pytest.fixture(scope="module")
def demo_copy(request, tmp_path_factory) -> pathlib.Path:
    """The export folder of a fresh copy of the session's tone demo (data, run, export), for a
    module that may write into it; or, without TensorFlow, the folder $KWS_TEST_EXPORT_DIR names
    (an export of `python export/make_demo.py`, as CI's TF-free device venv gives it)."""
    given = os.environ.get("KWS_TEST_EXPORT_DIR")
    if given:
        return pathlib.Path(given)
    source = request.getfixturevalue("demo_export")["out"].parent
    target = tmp_path_factory.mktemp("demo_copy") / "demo"
    shutil.copytree(source, target)
    return target / "export"


@pytest.fixture(scope="session")
def espeak():
    """Fails (not skips) where espeak-ng is missing: the synthesis tests need it."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed: apt-get install espeak-ng (the synth tests need it)")


def tree_digest(out) -> dict[str, str]:
    """sha1 of every file of a synthetic dataset but the manifest (which records output_dir)."""
    from kws.synth import dataset as synth  # pylint: disable=import-outside-toplevel

    digests = {}
    for root, _, files in os.walk(out):
        for name in files:
            path = os.path.join(root, name)
            if name != synth.MANIFEST_NAME:
                with open(path, "rb") as f:
                    digests[os.path.relpath(path, out)] = hashlib.sha1(f.read()).hexdigest()
    return digests


STREAM_PARITY_ATOL = 1e-5
"""Largest |streaming - window| probability allowed (float32 rounding of the same arithmetic)."""


def trained_like(model, dim: int, rng: np.random.Generator, frames: int = 49):
    """Gives a Keras model statistics and weights like a trained one: an adapted feature_norm (mean
    and variance far from 0 and 1), random batch-norm scales and shifts with moving statistics
    of real activations, and a classifier whose outputs are far from one-hot."""
    data = rng.normal(3.0, 2.0, (64, frames, dim)).astype(np.float32)
    model.get_layer("feature_norm").adapt(data)
    for weight in model.weights:
        if weight.path.endswith(("gamma", "beta")):
            low, high = (0.5, 1.5) if weight.path.endswith("gamma") else (-0.2, 0.2)
            weight.assign(rng.uniform(low, high, weight.shape).astype(np.float32))
    for _ in range(25):  # momentum 0.9: the moving statistics settle on these activations
        model(data, training=True)
    kernel, bias = model.get_layer("classifier").get_weights()
    model.get_layer("classifier").set_weights(
        [rng.normal(0, 3.0 / np.sqrt(kernel.shape[0]), kernel.shape).astype(np.float32), bias])
    return model


BENCHMARKS = REPO_ROOT / "benchmarks"


def run_benchmark_code(imports: str, code: str) -> dict:
    """Runs ``imports`` + ``code`` in a fresh Python with benchmarks/ on the path (benchmark scripts
    define absl flags at import, some with kws-train's names, so each test gets its own process);
    numpy is there as ``np``. Returns the JSON object the code printed last."""
    done = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(BENCHMARKS)!r})\n"
                           "import json\nimport numpy as np\n" + imports + "\n" + code],
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def spaced_words(paths: list[str], rate: int, spacing_s: int) -> np.ndarray:
    """float32 audio: each clip starting at (i + 1) * spacing_s seconds over light noise (seed 0),
    with one more gap after the last."""
    from kws.device import wav  # pylint: disable=import-outside-toplevel

    x = (0.003 * np.random.default_rng(0).standard_normal(spacing_s * rate * (len(paths) + 1))
         ).astype(np.float32)
    for i, path in enumerate(paths):
        samples = wav.load_audio(path, rate).samples
        start = spacing_s * (i + 1) * rate
        x[start:start + len(samples)] += samples
    return x


def assert_finds_spaced_words(found, words: list[str], spacing_s: int, miss_rate: float) -> None:
    """Detections ``found`` on spaced_words audio: at least the recall 1 - miss_rate allows (two
    binomial standard deviations of slack), each with its word, never twice on one word, and
    nothing on the noise between words."""
    n = len(words)
    in_window = [[d for d in found if 1000 * spacing_s * (i + 1) <= d.time_ms
                  <= 1000 * spacing_s * (i + 2)] for i in range(n)]
    matched = sum(any(d.label == word for d in near) for near, word in zip(in_window, words))
    assert matched >= (1 - miss_rate) * n - 2 * np.sqrt(n * miss_rate * (1 - miss_rate)), (
        matched, [(d.time_ms, d.label) for d in found])
    assert all(len(near) <= 1 for near in in_window)
    assert sum(map(len, in_window)) == len(found)
