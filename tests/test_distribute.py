"""Scale-out: MirroredStrategy over two logical CPU devices, MultiWorkerMirroredStrategy over two
worker processes on 127.0.0.1. Each runs a real (short) training in a subprocess, since devices and
clusters must be set before TensorFlow starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from kws.training import checkpoint as ckpt

from conftest import REPO_ROOT, make_tone_dataset

pytestmark = pytest.mark.slow  # real training runs: left out of the fast Bazel run

SCRIPT = """
import json, sys
import tensorflow as tf
cpus = int(sys.argv[3])
if cpus > 1:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * cpus)
from kws import frontend
from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.models.config import ModelConfig
from kws.training import config as tc
from kws.training import distribute, trainer
config = tc.TrainConfig(
    data=sc.DataConfig(data_dir=sys.argv[1], label_mode="all_words", validation_percentage=20,
                       testing_percentage=20),
    features=frontend.FrontendConfig(feature_type="log_mel"),
    pipeline=pl.PipelineConfig(batch_size=16, seed=1),
    model=ModelConfig(name="tiny_conv", num_classes=3), epochs=2, strategy=sys.argv[4])
replicas = distribute.make_strategy(config.strategy).num_replicas_in_sync
result = trainer.train_and_evaluate(config, sys.argv[2], verbose=0)
print("RESULT", json.dumps({"replicas": replicas, "accuracy": result.get("accuracy")}))
"""


def _run(args, env=None, timeout=300):
    return subprocess.Popen([sys.executable, "-c", SCRIPT] + [str(a) for a in args], cwd=REPO_ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(proc, timeout=300):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # no worker left running after the test (a timed-out run once left two)
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-4000:]
    line = [l for l in out.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_mirrored_on_two_logical_cpus(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", speakers=30)
    result = _result(_run([data, tmp_path / "run", 2, "mirrored"]))
    assert result["replicas"] == 2
    state = ckpt.read_state(str(tmp_path / "run" / "checkpoints"))
    assert state.done and state.epoch == 2
    assert (tmp_path / "run" / "eval_test.json").exists()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes(tmp_path):
    data = make_tone_dataset(tmp_path / "tones", speakers=30)
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}
        procs.append(_run([data, tmp_path / "run", 1, "multi_worker"],
                          env={"TF_CONFIG": json.dumps(tf_config)}))
    try:
        results = [_result(p) for p in procs]
    finally:
        for p in procs:  # a worker whose peer failed would wait for it forever
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert [r["replicas"] for r in results] == [2, 2]
    assert results[0]["accuracy"] is not None  # the chief evaluates
    assert results[1]["accuracy"] is None  # the other worker only trains
    state = ckpt.read_state(str(tmp_path / "run" / "checkpoints"))
    assert state.done and state.epoch == 2


def test_multi_worker_needs_tf_config(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = subprocess.run([sys.executable, "-c",
                           "from kws.training import distribute; "
                           "distribute.make_strategy('multi_worker')"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0 and "needs TF_CONFIG" in proc.stderr
