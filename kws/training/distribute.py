"""Scale-out on TensorFlow's own engines: MirroredStrategy and MultiWorkerMirroredStrategy.

``mirrored`` replicates over every local GPU, or, with no GPU, over every logical CPU device (tests
split the CPU into two). ``multi_worker`` reads the cluster from TF_CONFIG; the chief (worker 0) writes
the working directory, other workers write their share of each checkpoint to scratch and delete it.
"""

from __future__ import annotations

import json
import os
import tempfile

import tensorflow as tf

from kws.errors import UserError


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise UserError("--strategy=multi_worker needs TF_CONFIG (the cluster and this worker's "
                            "task) in the environment; see the README's 'Several machines' section")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise UserError(f"TF_CONFIG is not valid JSON: {e}") from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; valid: default, mirrored, multi_worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker"
                                             and resolver.task_id == 0)


def scratch_dir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """Where a non-chief worker writes checkpoints it then deletes."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task = f"{resolver.task_type}-{resolver.task_id}" if resolver and resolver.task_type else "local"
    return os.path.join(tempfile.gettempdir(), "kws-scratch", os.path.basename(
        os.path.abspath(workdir)), task)


def shard_policy(ds: tf.data.Dataset) -> tf.data.Dataset:
    """Our datasets come from in-memory file lists: shard by data, not by input file."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)

