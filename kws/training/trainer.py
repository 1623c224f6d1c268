"""train_and_evaluate(config, workdir): the whole training run, resumable at any moment.

The working directory holds ``config.json`` (the resolved TrainConfig), ``labels.txt``,
``model_summary.txt``, ``dataset.txt`` (clips per split and label), ``tensorboard/``, ``checkpoints/``
(see kws.training.checkpoint) and, at the end, ``eval_test.json`` / ``confusion_test.png``. Rerunning
the same command continues from the last complete epoch with optimizer state, schedule position and
data order as an uninterrupted run would have had them.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from kws.data import pipeline as pl
from kws.data import speech_commands as sc
from kws.errors import UserError
from kws.models import build_model
from kws.training import checkpoint as ckpt
from kws.training import config as tc
from kws.training import distill
from kws.training import distribute
from kws.training import evaluate
from kws.training import multi_worker
from kws.training import schedule
from kws.training import stream_select


class WorkdirError(UserError):
    """A working directory that holds a different run."""


def _prepare_workdir(config: tc.TrainConfig, workdir: str, overwrite: bool, chief: bool) -> None:
    """Refuses a workdir holding another config (unless overwrite); writes config.json."""
    path = os.path.join(workdir, "config.json")
    if os.path.exists(path) and not overwrite:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        try:  # options added since that run was made take their defaults (the old behaviour)
            saved = json.loads(tc.TrainConfig.from_dict(saved).to_json())
        except (TypeError, ValueError) as e:
            raise WorkdirError(f"{path} is not a run config this version can read ({e}); use "
                               "another --workdir, or --overwrite to discard that run") from e
        diff = tc.differences(saved, json.loads(config.to_json()))
        if diff:
            raise WorkdirError(f"{workdir} holds a run with a different config ("
                               + "; ".join(diff[:6]) + (" ..." if len(diff) > 6 else "")
                               + "); use another --workdir, or --overwrite to discard that run")
    if overwrite and chief:
        for name in ("checkpoints", "tensorboard"):
            shutil.rmtree(os.path.join(workdir, name), ignore_errors=True)
    if chief:
        ckpt.write_atomic(path, config.to_json())


def _one_hot(num_classes: int):
    return lambda x, y: (x, tf.one_hot(y, num_classes))


def _adapt_normalization(model: keras.Model, index, config: tc.TrainConfig, max_examples=4000):
    """Per-bin feature mean/variance from clean training clips into the model's Normalization."""
    ds = pl.make_dataset(index, "train", config.features, config.pipeline)
    chunks, n = [], 0
    for x, _ in ds:
        chunks.append(x.numpy())
        n += len(chunks[-1])
        if n >= max_examples:
            break
    model.get_layer("feature_norm").adapt(np.concatenate(chunks))


class _Checkpointer(keras.callbacks.Callback):
    """Saves every epoch (atomically), keeps best.keras by validation accuracy, stops at --steps."""

    def __init__(self, folder, state, total_steps, epochs, chief, scratch):
        super().__init__()
        self.folder, self.state, self.total_steps, self.epochs = folder, state, total_steps, epochs
        self.chief, self.scratch = chief, scratch

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.total_steps:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        name = f"epoch-{epoch + 1:04d}.keras"
        # Every worker saves (variables may need all of them); only the chief keeps its file.
        target = os.path.join(self.folder if self.chief else self.scratch, name)
        ckpt.save_model_atomic(self.model, target)
        if not self.chief:
            os.unlink(target)
            return
        val = float((logs or {}).get("val_accuracy", -1.0))
        best, best_epoch = self.state.best_val_accuracy, self.state.best_epoch
        if val > best:
            tmp = os.path.join(self.folder, ".tmp-best.keras")
            shutil.copyfile(target, tmp)
            os.replace(tmp, os.path.join(self.folder, "best.keras"))
            best, best_epoch = val, epoch + 1
        self.state = ckpt.State(epoch=epoch + 1, step=step, last=name, best_val_accuracy=best,
                                best_epoch=best_epoch,
                                done=step >= self.total_steps or epoch + 1 >= self.epochs)
        ckpt.write_state(self.folder, self.state)
        ckpt.remove_stale(self.folder, keep={name})


class _EpochSummary(keras.callbacks.Callback):
    """One line per epoch: losses, accuracies, learning rate, time, throughput."""

    def __init__(self, epochs, examples_per_epoch, stream=sys.stdout):
        super().__init__()
        self.epochs, self.examples, self.stream = epochs, examples_per_epoch, stream

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        secs = time.perf_counter() - self.start
        lr = self.model.optimizer.learning_rate
        lr = float(lr.numpy() if hasattr(lr, "numpy") else lr)
        print(f"epoch {epoch + 1}/{self.epochs}  loss {logs.get('loss', float('nan')):.4f}  "
              f"acc {logs.get('accuracy', float('nan')):.2%}  "
              f"val_loss {logs.get('val_loss', float('nan')):.4f}  "
              f"val_acc {logs.get('val_accuracy', float('nan')):.2%}  lr {lr:.2e}  {secs:.0f}s  "
              f"{self.examples / secs:.0f} ex/s", file=self.stream, flush=True)


def _init_weights(model: keras.Model, workdir: str) -> None:
    """The weights of run ``workdir``'s last checkpoint, into ``model`` (same architecture)."""
    source = ckpt.load_model(ckpt.resolve(workdir, "last"), compile=False)
    theirs, ours = source.get_weights(), model.get_weights()
    if [w.shape for w in theirs] != [w.shape for w in ours]:
        raise UserError(f"--init_from={workdir}: its model is not this one (other model, size or "
                        "labels); give a run with the same --model, --model_size and labels")
    model.set_weights(theirs)
    for layer in model.layers:
        # A Normalization layer computes the mean and variance it applies from its adapted
        # variables only in finalize_state (set_weights assigns the variables alone).
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()
    print(f"initialised from {workdir} (last checkpoint)", flush=True)


def _new_model(config, index, total_steps, steps_per_epoch):
    model = build_model(config.model, config.features.feature_shape)
    if config.init_from:
        _init_weights(model, config.init_from)
    else:
        _adapt_normalization(model, index, config)
    lr = schedule.make_schedule(config.schedule, config.learning_rate,
                                int(config.warmup_epochs * steps_per_epoch), total_steps)
    model.compile(
        optimizer=schedule.make_optimizer(config.optimizer, lr, config.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"])
    return model


def _stream_selector(config: tc.TrainConfig, index, folder: str) -> keras.callbacks.Callback:
    """kws.training.stream_select's callback, on the run's validation stream (made once here)."""
    select = config.stream_select
    recording = stream_select.validation_recording(config.data, index.labels, select)
    print(f"stream selection: {recording.duration_s / 60:.0f} min validation recording, "
          f"{len(recording.events)} words, budget {select.fa_per_hour:g} FA/h", flush=True)
    allowed = math.floor(select.fa_per_hour * select.minutes / 60.0 + 1e-9)
    if allowed == 0:
        print(f"stream selection: {select.minutes:g} min at {select.fa_per_hour:g} FA/h allows no "
              "false accept at all: epochs are compared at zero (a longer "
              "--stream_select_minutes compares them at the budget)", flush=True)
    return stream_select.StreamSelector(folder, select, lambda model: stream_select.measure(
        model, index.labels, config.features, recording, select))


def train_and_evaluate(config: tc.TrainConfig, workdir: str, overwrite: bool = False,
                       verbose: int | None = None) -> dict:
    """Trains (or resumes) in ``workdir``, then evaluates the best checkpoint on the test split.

    Returns the test evaluation (see kws.training.evaluate.compute_metrics), plus 'state'.
    """
    # Weight initialisation (and any other Python/NumPy/TF draw) follows the run's seed, whoever
    # calls: kws-train, the demo, the benchmarks. The data pipeline has its own stateless seeds.
    keras.utils.set_random_seed(config.pipeline.seed)
    strategy = distribute.make_strategy(config.strategy)
    chief = distribute.is_chief(strategy)
    _prepare_workdir(config, workdir, overwrite, chief)
    index = sc.index_dataset(config.data)
    if config.model.num_classes != len(index.labels):
        raise UserError(f"--model's num_classes {config.model.num_classes} != {len(index.labels)} "
                        f"labels in the data ({', '.join(index.labels)})")
    table = sc.format_table(index)
    print(table, flush=True)
    noise = pl.load_noise(index, config.features.clip_samples, config.data.sample_rate_hz)
    n_train = len(index.splits["train"])
    steps_per_epoch = math.ceil(n_train / config.pipeline.batch_size)
    total_steps = config.steps or config.epochs * steps_per_epoch
    epochs = math.ceil(total_steps / steps_per_epoch)

    folder = os.path.join(workdir, "checkpoints")
    os.makedirs(folder, exist_ok=True)
    if chief:
        ckpt.write_atomic(os.path.join(workdir, "labels.txt"), "\n".join(index.labels) + "\n")
        ckpt.write_atomic(os.path.join(workdir, "dataset.txt"), table + "\n")
    state = ckpt.read_state(folder) or ckpt.State()
    if not state.done:
        with strategy.scope():
            if state.last:
                print(f"resuming from {state.last} (epoch {state.epoch}, step {state.step})",
                      flush=True)
                model = ckpt.load_model(os.path.join(folder, state.last))
            else:
                model = _new_model(config, index, total_steps, steps_per_epoch)
        if chief:
            lines = []
            model.summary(print_fn=lambda line, **_: lines.append(line))
            ckpt.write_atomic(os.path.join(workdir, "model_summary.txt"), "\n".join(lines) + "\n")
        onehot = _one_hot(len(index.labels))
        targets = None
        if config.teacher_probs:
            targets = distill.row_targets(
                distill.load_teacher_probs(config.teacher_probs, index.labels),
                config.distill_weight, config.distill_temperature)
        train_ds = pl.make_dataset(index, "train", config.features, config.pipeline, config.augment,
                                   noise, epochs=(state.epoch, epochs),
                                   placing=config.placement, row_targets=targets)
        if targets is None:
            train_ds = train_ds.map(onehot)
        if config.teacher_dir:
            teacher = distill.load_teacher(config.teacher_dir, index.labels,
                                           config.to_dict()["features"], config.teacher_checkpoint)
            train_ds = train_ds.map(distill.soft_targets(teacher, config.distill_weight,
                                                         config.distill_temperature))
        val_ds = pl.make_dataset(index, "validation", config.features, config.pipeline,
                                 noise=noise).map(onehot)
        train_ds, val_ds = distribute.shard_policy(train_ds), distribute.shard_policy(val_ds)
        checkpointer = _Checkpointer(folder, state, total_steps, epochs, chief,
                                     distribute.scratch_dir(workdir, strategy))
        # The stream selector runs before the epoch's checkpoint is written (its module says why).
        callbacks = ([_stream_selector(config, index, folder)]
                     if config.stream_select.fa_per_hour > 0 and chief else [])
        callbacks += [checkpointer, _EpochSummary(epochs, n_train)]
        if verbose is None:
            verbose = 1 if sys.stdout.isatty() else 0
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            multi_worker.fit(model, strategy, train_ds, val_ds, epochs=epochs,
                             initial_epoch=state.epoch, steps_per_epoch=steps_per_epoch,
                             total_steps=total_steps, global_batch_size=config.pipeline.batch_size,
                             label_smoothing=config.label_smoothing, callbacks=callbacks)
        else:
            tensorboard = keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"),
                                                      update_freq="epoch")
            model.fit(train_ds, epochs=epochs, initial_epoch=state.epoch,
                      steps_per_epoch=steps_per_epoch, validation_data=val_ds,
                      callbacks=callbacks + [tensorboard], verbose=verbose, shuffle=False)
        state = checkpointer.state
    else:
        print(f"{workdir}: training already finished (epoch {state.epoch}); evaluating", flush=True)
    if not chief:
        return {"state": dict(state.__dict__)}
    best = ckpt.load_model(os.path.join(folder, "best.keras"), compile=False)
    test_ds = pl.make_dataset(index, "test", config.features, config.pipeline, noise=noise)
    result = evaluate.evaluate_keras(best, test_ds, index.labels,
                                     [e.path for e in index.splits["test"]])
    evaluate.write_report(result, workdir, "test")
    print(evaluate.format_report(result), flush=True)
    result["state"] = dict(state.__dict__)
    return result
