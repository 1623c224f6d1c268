"""The training loop for MultiWorkerMirroredStrategy.

Keras 3's `fit` does not run under MultiWorkerMirroredStrategy (keras-team/keras#20585,
tensorflow/tensorflow#72388: its first step reduces a distributed batch eagerly, and its metric
reduction fails on scalars). This loop does what `fit` does for our models with TensorFlow's own
distribution API: `strategy.run` of one step per batch, gradients all-reduced by the optimizer, the
same loss, and the same per-epoch callbacks (checkpoints, summaries). TensorBoard logs are not written
in this mode.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def fit(model: keras.Model, strategy: tf.distribute.Strategy, train_ds: tf.data.Dataset,
        val_ds: tf.data.Dataset, *, epochs: int, initial_epoch: int, steps_per_epoch: int,
        total_steps: int, global_batch_size: int, label_smoothing: float, callbacks) -> None:
    """Trains ``model`` (built and compiled in ``strategy.scope()``) for epochs [initial, epochs)."""
    iterator = iter(strategy.experimental_distribute_dataset(train_ds))
    optimizer = model.optimizer

    def step(x, y):
        with tf.GradientTape() as tape:
            scores = model(x, training=True)
            per_example = keras.losses.categorical_crossentropy(
                y, scores, label_smoothing=label_smoothing)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(scores, -1), tf.argmax(y, -1)),
                                        tf.float32))
        return tf.reduce_sum(per_example), correct, tf.cast(tf.shape(x)[0], tf.float32)

    @tf.function
    def train_step(it):
        outputs = strategy.run(step, args=next(it))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for v in outputs]

    for cb in callbacks:
        cb.set_model(model)
    for epoch in range(initial_epoch, epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        sums = np.zeros(3)
        for _ in range(steps_per_epoch):
            sums += [float(v) for v in train_step(iterator)]
            if int(optimizer.iterations.numpy()) >= total_steps:
                break
        logs = {"loss": sums[0] / max(sums[2], 1),
                "accuracy": sums[1] / max(sums[2], 1)}
        logs.update(_validate(model, val_ds, label_smoothing))
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if int(optimizer.iterations.numpy()) >= total_steps:
            break


def _validate(model, val_ds, label_smoothing) -> dict:
    """Validation on this worker's full copy of the split (same on every worker)."""
    total_loss, correct, n = 0.0, 0, 0
    for x, y in val_ds:
        scores = model(x, training=False)
        total_loss += float(tf.reduce_sum(keras.losses.categorical_crossentropy(
            y, scores, label_smoothing=label_smoothing)))
        correct += int(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(scores, -1), tf.argmax(y, -1)),
                                             tf.int32)))
        n += int(x.shape[0])
    return {"val_loss": total_loss / max(n, 1), "val_accuracy": correct / max(n, 1)}
