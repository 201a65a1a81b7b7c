"""The end-of-run TensorBoard records: test scalars, HParams, report text, confusion image."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from flipkart_contract.schema import SplitMetrics
from PIL import Image, ImageDraw
from tensorboard.plugins.hparams import api as hp

from flipkart_tf.metrics import report_markdown


def confusion_image(matrix: list[list[int]], classes: list[str], cell: int = 56) -> np.ndarray:
    """The confusion matrix as an RGB uint8 image: rows true, columns predicted, blue = many."""
    counts = np.asarray(matrix, dtype=np.float64)
    n = len(classes)
    label_w = 190
    width, height = label_w + n * cell + 10, 40 + n * cell + 10
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((label_w, 8), "predicted → (columns: class index)", fill=(0, 0, 0))
    row_max = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    for i in range(n):
        draw.text((4, 40 + i * cell + cell // 2 - 6), f"{i} {classes[i][:24]}", fill=(0, 0, 0))
        for j in range(n):
            share = counts[i, j] / row_max[i, 0]
            shade = int(255 - 200 * share)
            x0, y0 = label_w + j * cell, 40 + i * cell
            draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=(shade, shade, 255))
            text_color = (255, 255, 255) if share > 0.5 else (0, 0, 0)
            draw.text((x0 + cell // 3, y0 + cell // 3), str(int(counts[i, j])), fill=text_color)
    return np.asarray(image, dtype=np.uint8)


def write_final(
    writer: tf.summary.SummaryWriter,
    step: int,
    test: SplitMetrics,
    test_ms_per_image: float,
    classes: list[str],
    hparams: dict[str, Any],
) -> None:
    with writer.as_default():
        tf.summary.scalar("test/accuracy", test.accuracy, step=step)
        tf.summary.scalar("test/macro_f1", test.macro_f1, step=step)
        tf.summary.scalar("perf/test_ms_per_image", test_ms_per_image, step=step)
        tf.summary.text("test/classification_report", report_markdown(test, classes), step=step)
        image = confusion_image(test.confusion_matrix, classes)
        tf.summary.image("test/confusion_matrix", image[None], step=step)
        hp.hparams(_hparam_values(hparams), trial_id=hparams.get("run_id"))
    writer.flush()


def _hparam_values(config: dict[str, Any]) -> dict[str, Any]:
    """HParams accepts bool, int, float and str values only."""
    values: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, bool | int | float | str):
            values[key] = value
        elif value is None:
            values[key] = "none"
        else:
            values[key] = str(value)
    return values
