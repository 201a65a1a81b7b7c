"""One training run: data, model, fit with the macro-F1 callback, test once, metrics.json."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from flipkart_contract import (
    ResizePolicy,
    RunMetrics,
    class_names,
    layout,
    make_run_id,
    sha256_file,
    write_json_atomic,
)
from flipkart_contract.classes import SPLITS

from flipkart_tf import data, hardware
from flipkart_tf.budget import WallClockBudget
from flipkart_tf.callbacks import (
    ContractScalars,
    MacroF1Callback,
    inference_function,
    predict_logits,
)
from flipkart_tf.metrics import classification_summary
from flipkart_tf.models import canonical_name, create_model
from flipkart_tf.schedule import WarmupCosine
from flipkart_tf.tensorboard_log import write_final

FRAMEWORK = "tensorflow"
SCRATCH_NOTE = "no pretrained weights: the backbone was trained from random initialisation"


@dataclass
class TrainConfig:
    architecture: str = "efficientnet_b0"
    training_mode: str = "finetune"
    weights: str = "none"
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    dropout: float = 0.2
    bn_momentum: float | None = None
    patience: int = 5
    max_minutes: float = 0.0
    image_size: int = 224
    resize_method: str = "pad"
    interpolation: str = "bicubic"
    crop_pct: float = 1.0
    pad_color: tuple[int, int, int] = (255, 255, 255)
    seed: int = 42
    threads: int = 0
    limit_per_split: int | None = None
    budget: str = ""
    note: str = ""
    splits_csv: str = field(default_factory=lambda: str(layout.splits_csv()))
    images_dir: str = field(default_factory=lambda: str(layout.images_dir()))
    runs_dir: str = field(default_factory=lambda: str(layout.runs_dir(FRAMEWORK)))
    checkpoints_dir: str = field(default_factory=lambda: str(layout.checkpoints_dir(FRAMEWORK)))

    def policy(self) -> ResizePolicy:
        return policy_from_config(asdict(self))

    def hyperparameters(self) -> dict[str, Any]:
        """Every hyper-parameter, without the file locations."""
        skip = {"splits_csv", "images_dir", "runs_dir", "checkpoints_dir", "budget", "note"}
        values = {k: v for k, v in asdict(self).items() if k not in skip}
        values["pad_color"] = list(self.pad_color)
        return values


def policy_from_config(config: dict[str, Any]) -> ResizePolicy:
    """The card's resize policy from a run's config (a ValidationError names a bad value).

    Runs written before the schema-2 vocabulary called the method `resize_mode`.
    """
    method = config["resize_method"] if "resize_method" in config else config["resize_mode"]
    fields = {key: config[key] for key in ("interpolation", "crop_pct", "pad_color")}
    return ResizePolicy(method=method, size=config["image_size"], **fields)


def checkpoint_path(checkpoints_dir: str | Path, run_id: str) -> Path:
    return Path(checkpoints_dir) / run_id / "best.weights.h5"


def run_notes(weights_source: str, note: str) -> str:
    parts = [note.strip()] if note.strip() else []
    if weights_source == "none":
        parts.append(SCRATCH_NOTE)
    return "; ".join(parts)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def train(config: TrainConfig) -> Path:
    """Train, test once on the best checkpoint, write TensorBoard + metrics.json; the run dir."""
    started = time.perf_counter()
    hardware.set_threads(config.threads)
    keras.utils.set_random_seed(config.seed)
    config.architecture = canonical_name(config.architecture)
    policy = config.policy()
    if config.epochs < 1 or config.batch_size < 1:
        raise ValueError("epochs and batch_size must be at least 1")

    rows = data.read_splits(config.splits_csv)
    classes = class_names(config.splits_csv)
    log(f"loading the split ({policy.method} {policy.size}px, {policy.interpolation})")
    splits = {
        name: data.load_split(
            rows, name, config.images_dir, classes, policy, config.limit_per_split
        )
        for name in SPLITS
    }
    num_classes = len(classes)
    train_ds = data.make_dataset(
        splits["train"], num_classes, config.batch_size, True, config.seed, policy.pad_color
    )
    val_ds = data.make_dataset(splits["val"], num_classes, config.batch_size, False)
    test_ds = data.make_dataset(splits["test"], num_classes, config.batch_size, False)

    run_id = make_run_id(config.architecture, config.training_mode)
    run_dir = Path(config.runs_dir) / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    best_path = checkpoint_path(config.checkpoints_dir, run_id)
    best_path.parent.mkdir(parents=True, exist_ok=True)

    steps_per_epoch = int(np.ceil(len(splits["train"].labels) / config.batch_size))
    with hardware.strategy().scope():
        built = create_model(
            config.architecture,
            num_classes,
            config.image_size,
            config.weights,
            config.training_mode,
            config.dropout,
            config.bn_momentum,
        )
        model = built.model
        schedule = WarmupCosine(
            config.lr,
            total_steps=steps_per_epoch * config.epochs,
            warmup_steps=round(steps_per_epoch * config.warmup_epochs),
        )
        model.compile(
            optimizer=keras.optimizers.AdamW(
                learning_rate=schedule, weight_decay=config.weight_decay
            ),
            loss=keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=config.label_smoothing
            ),
            metrics=["accuracy"],
            jit_compile=False,  # XLA compilation of EfficientNet costs minutes on a CPU
        )
    log(
        f"run {run_id}: {model.count_params():,} parameters, weights {built.weights_source}, "
        f"{len(splits['train'].labels)}/{len(splits['val'].labels)}/{len(splits['test'].labels)} "
        "train/val/test images"
    )

    writer = tf.summary.create_file_writer(str(run_dir))
    f1_callback = MacroF1Callback(val_ds, classes, config.label_smoothing)
    callbacks = [
        f1_callback,  # first: the callbacks after it read val_macro_f1 from the logs
        ContractScalars(writer, len(splits["train"].labels), config.epochs),
        keras.callbacks.ModelCheckpoint(
            str(best_path),
            monitor="val_macro_f1",
            mode="max",
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.EarlyStopping(monitor="val_macro_f1", mode="max", patience=config.patience),
    ]
    budget = WallClockBudget(config.max_minutes, started) if config.max_minutes > 0 else None
    if budget:
        callbacks.append(budget)
    model.fit(
        train_ds,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=1 if sys.stdout.isatty() else 0,
    )
    history = f1_callback.history
    best_index = int(np.argmax([h["val_macro_f1"] for h in history]))
    model.load_weights(best_path)

    log("testing the best checkpoint once on the test split")
    infer = inference_function(model)
    infer(next(iter(test_ds))[0])  # trace once, so the timing below is inference only
    test_started = time.perf_counter()
    logits, labels = predict_logits(model, test_ds, infer)
    test_ms = 1000 * (time.perf_counter() - test_started) / len(labels)
    test = classification_summary(logits, labels, classes, config.label_smoothing)
    best = history[best_index]
    train_rates = [len(splits["train"].labels) / h["train_seconds"] for h in history]

    hparams = {"run_id": run_id, **config.hyperparameters(), "weights_source": built.weights_source}
    write_final(writer, len(history), test, test_ms, classes, hparams)
    writer.close()

    metrics = RunMetrics(
        run_id=run_id,
        framework=FRAMEWORK,
        architecture=config.architecture,
        training_mode=config.training_mode,
        classes=classes,
        config=config.hyperparameters(),
        budget=config.budget or f"{config.epochs} epochs at {config.image_size} px",
        hardware=hardware.describe(),
        weights_source=built.weights_source,
        data={
            "splits_sha256": sha256_file(config.splits_csv),
            "num_train": len(splits["train"].labels),
            "num_val": len(splits["val"].labels),
            "num_test": len(splits["test"].labels),
            "skipped_images": sorted(s for arr in splits.values() for s in arr.skipped),
        },
        epochs_run=len(history),
        stopped_by_wall_clock_budget=bool(budget and budget.stopped_at_epoch),
        best_epoch=best_index + 1,
        wall_time_s=round(time.perf_counter() - started, 2),
        final={
            "val": {
                "accuracy": best["val_accuracy"],
                "macro_f1": best["val_macro_f1"],
                "loss": best["val_loss"],
            },
            "test": test,
            "perf": {
                # the first epoch includes graph tracing: left out when there are others
                "train_images_per_s": float(np.mean(train_rates[1:] or train_rates)),
                "test_ms_per_image": test_ms,
            },
        },
        parameters=int(model.count_params()),
        checkpoint=layout.relative_to_root(best_path),
        notes=run_notes(built.weights_source, config.note) or None,
        created_at=datetime.now(UTC).replace(microsecond=0),
    )
    write_json_atomic(run_dir / "metrics.json", metrics.model_dump(mode="json", exclude_none=True))
    log(
        f"done: test accuracy {test.accuracy:.4f}, macro-F1 {test.macro_f1:.4f} "
        f"(best epoch {best_index + 1}/{len(history)}) → {run_dir}"
    )
    return run_dir
