"""Re-evaluate a finished run on one split: its Keras checkpoint, or its exported ONNX model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from flipkart_tf import data, paths
from flipkart_tf.callbacks import predict_logits
from flipkart_tf.export import load_run, policy_of, restore_model
from flipkart_tf.latency import ort_session
from flipkart_tf.metrics import classification_summary
from flipkart_tf.onnx_export import INPUT_NAME


def evaluate_run(
    run: str | Path,
    split: str = "test",
    onnx_path: str | Path | None = None,
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    if split not in data.SPLITS:
        raise ValueError(f"split must be one of {data.SPLITS}, got {split!r}")
    _, metrics = load_run(run)
    classes = metrics["classes"]
    frame = data.read_splits(splits_csv or paths.splits_csv())
    arrays = data.load_split(
        frame, split, images_dir or paths.images_dir(), classes, policy_of(metrics)
    )
    if onnx_path is not None:
        session = ort_session(str(onnx_path), threads=2)
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
        logits, labels, classes, metrics["config"].get("label_smoothing", 0.0)
    )
    summary["split"] = split
    summary["source"] = "onnx" if onnx_path is not None else "keras"
    return summary
