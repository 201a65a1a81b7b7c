"""Re-evaluate a finished run on one split: its Keras checkpoint, or its exported ONNX model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flipkart_contract import layout
from flipkart_contract.classes import SPLITS
from flipkart_contract.latency import ort_session
from flipkart_contract.schema import SplitMetrics

from flipkart_tf import data
from flipkart_tf.callbacks import predict_logits
from flipkart_tf.export import load_run, policy_of, restore_model
from flipkart_tf.metrics import classification_summary
from flipkart_tf.onnx_export import INPUT_NAME


@dataclass
class Evaluation:
    split: str
    source: str  # "keras" (the run's checkpoint) or "onnx" (an exported model.onnx)
    classes: list[str]
    metrics: SplitMetrics


def evaluate_run(
    run: str | Path,
    split: str = "test",
    onnx_path: str | Path | None = None,
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    batch_size: int = 32,
) -> Evaluation:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    _, metrics = load_run(run)
    classes = metrics.classes
    arrays = data.load_split(
        data.read_splits(splits_csv or layout.splits_csv()),
        split,
        images_dir or layout.images_dir(),
        classes,
        policy_of(metrics),
    )
    if onnx_path is not None:
        session = ort_session(onnx_path, threads=2)
        pixels = arrays.images.astype(np.float32)
        logits = np.concatenate(
            [
                session.run(None, {INPUT_NAME: pixels[i : i + batch_size]})[0]
                for i in range(0, len(pixels), batch_size)
            ]
        )
        labels = arrays.labels
    else:
        model = restore_model(metrics)
        dataset = data.make_dataset(arrays, len(classes), batch_size, training=False)
        logits, labels = predict_logits(model, dataset)
    summary = classification_summary(
        logits, labels, classes, metrics.config.get("label_smoothing", 0.0)
    )
    return Evaluation(split, "onnx" if onnx_path is not None else "keras", classes, summary)
