"""Keras callbacks: validation macro-F1 (what checkpointing and early stopping watch) and
the run contract's TensorBoard scalars written with tf.summary."""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
import tensorflow as tf

from flipkart_tf.metrics import classification_summary


def inference_function(model: keras.Model):
    """The model in inference mode as one traced graph (eager calls are many times slower)."""
    return tf.function(lambda pixels: model(pixels, training=False), reduce_retracing=True)


def predict_logits(
    model: keras.Model, dataset: tf.data.Dataset, function=None
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and integer labels over a (pixels, one-hot) dataset, in dataset order."""
    function = function or inference_function(model)
    logits, labels = [], []
    for pixels, onehot in dataset:
        logits.append(np.asarray(function(pixels)))
        labels.append(np.asarray(onehot).argmax(axis=1))
    return np.concatenate(logits), np.concatenate(labels)


class MacroF1Callback(keras.callbacks.Callback):
    """After each epoch: evaluate the validation set once and put `val_loss`, `val_accuracy`
    and `val_macro_f1` into the epoch logs, before the checkpoint / early-stopping callbacks
    that come after it in the list read them."""

    def __init__(self, val_data: tf.data.Dataset, classes: list[str], label_smoothing: float):
        super().__init__()
        self.val_data = val_data
        self.classes = classes
        self.label_smoothing = label_smoothing
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0
        self._epoch_start = 0.0
        self._function = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._function = inference_function(self.model)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        self.train_seconds = time.perf_counter() - self._epoch_start
        logits, labels = predict_logits(self.model, self.val_data, self._function)
        summary = classification_summary(logits, labels, self.classes, self.label_smoothing)
        logs["val_loss"] = summary.loss
        logs["val_accuracy"] = summary.accuracy
        logs["val_macro_f1"] = summary.macro_f1
        logs["train_seconds"] = self.train_seconds
        self.history.append({k: float(v) for k, v in logs.items()})


class ContractScalars(keras.callbacks.Callback):
    """Per-epoch scalars under the run contract's tags (steps are 1-based epochs)."""

    def __init__(self, writer: tf.summary.SummaryWriter, num_train: int, total_epochs: int):
        super().__init__()
        self.writer = writer
        self.num_train = num_train
        self.total_epochs = total_epochs
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        epoch_s = time.perf_counter() - self._epoch_start
        train_s = logs.get("train_seconds", epoch_s)
        optimizer = self.model.optimizer
        lr = float(np.asarray(optimizer.learning_rate))
        step = epoch + 1
        scalars = {
            "train/loss": logs["loss"],
            "train/accuracy": logs["accuracy"],
            "val/loss": logs["val_loss"],
            "val/accuracy": logs["val_accuracy"],
            "val/macro_f1": logs["val_macro_f1"],
            "lr": lr,
            "perf/train_images_per_s": self.num_train / max(train_s, 1e-9),
            "perf/epoch_s": epoch_s,
        }
        with self.writer.as_default():
            for tag, value in scalars.items():
                tf.summary.scalar(tag, float(value), step=step)
        self.writer.flush()
        print(
            f"epoch {step}/{self.total_epochs}  train loss {logs['loss']:.4f} "
            f"acc {logs['accuracy']:.3f} | val loss {logs['val_loss']:.4f} "
            f"acc {logs['val_accuracy']:.3f} macro-F1 {logs['val_macro_f1']:.3f} | "
            f"lr {lr:.2e} | {scalars['perf/train_images_per_s']:.1f} img/s, {epoch_s:.1f} s",
            file=sys.stderr,
            flush=True,
        )
