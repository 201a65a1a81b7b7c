"""Fixture builders for every project's tests: images, valid cards, run metrics, registries.

Real code reads the class names from `data/splits.csv`; tests that need the real seven names
without the data use `FLIPKART_CLASSES`.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

from flipkart_contract.evaluation import split_metrics
from flipkart_contract.files import sha256_bytes
from flipkart_contract.resize import ResizePolicy
from flipkart_contract.schema import SCHEMA_VERSION, ModelCard, Registry, RunMetrics

FLIPKART_CLASSES = [
    "Baby Care",
    "Beauty and Personal Care",
    "Computers",
    "Home Decor & Festive Needs",
    "Home Furnishing",
    "Kitchen & Dining",
    "Watches",
]
FIXED_TIME = datetime(2026, 11, 23, 10, 40, tzinfo=UTC)


def image_bytes(
    size: tuple[int, int] = (64, 48),
    fmt: str = "PNG",
    mode: str = "RGB",
    color: Any = (200, 30, 60),
    **save_args: Any,
) -> bytes:
    """A plain image of one colour, encoded."""
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def gradient_image(size: tuple[int, int] = (80, 50), seed: int = 1) -> Image.Image:
    """A smooth RGB gradient with noise: resizes and crops change it visibly."""
    rng = np.random.default_rng(seed)
    w, h = size
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    noise = rng.integers(0, 40, (h, w, 3))
    array = np.clip(np.concatenate([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2) + noise, 0, 255)
    return Image.fromarray(array.astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str = "JPEG", **save_args: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def _test_metrics(classes: list[str], accuracy_target: float = 0.5):
    n = len(classes)
    labels = [i % n for i in range(4 * n)]
    correct = round(accuracy_target * len(labels))
    preds = [lab if i < correct else (lab + 1) % n for i, lab in enumerate(labels)]
    return split_metrics(labels, preds, classes)


def card_dict(
    onnx_bytes: bytes,
    run_id: str = "20261123-101500_tiny_finetune",
    *,
    architecture: str = "tiny",
    framework: str = "pytorch",
    training_mode: str = "finetune",
    classes: list[str] | None = None,
    policy: ResizePolicy | None = None,
    accuracy: float = 0.5,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid version-2 card for an ONNX file's bytes (sha256 and size filled in)."""
    classes = list(classes or FLIPKART_CLASSES)
    policy = policy or ResizePolicy(method="pad", size=32)
    card = ModelCard(
        architecture=architecture,
        framework=framework,
        run_id=run_id,
        training_mode=training_mode,
        classes=classes,
        input={"height": policy.size, "width": policy.size},
        resize_policy=policy,
        metrics={"test": _test_metrics(classes, accuracy)},
        latency_ms={"batch_1": 1.0, "batch_16_per_image": 0.5, "threads": 1, "hardware": "test"},
        parity={"max_abs_logit_diff": 0.0, "top1_agreement": 1.0, "num_images": 4},
        parameters=300,
        weights_source="none",
        onnx={"sha256": sha256_bytes(onnx_bytes), "bytes": len(onnx_bytes), "opset": 17},
        created_at=FIXED_TIME,
    ).model_dump(mode="json")
    card.update(overrides)
    return card


def metrics_dict(
    run_id: str = "20261123-101500_tiny_finetune",
    *,
    framework: str = "pytorch",
    classes: list[str] | None = None,
    accuracy: float = 0.5,
    **overrides: Any,
) -> dict[str, Any]:
    """A valid version-2 metrics.json for a run id."""
    from flipkart_contract.run_id import parse_run_id

    _, architecture, training_mode = parse_run_id(run_id)
    classes = list(classes or FLIPKART_CLASSES)
    test = _test_metrics(classes, accuracy)
    fixture = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "framework": framework,
        "architecture": architecture,
        "training_mode": training_mode,
        "classes": classes,
        "config": {"epochs": 1},
        "budget": "test fixture",
        "hardware": {"device": "cpu", "device_name": "test", "num_threads": 1, "gpus": 0},
        "weights_source": "none",
        "data": {"splits_sha256": "0" * 64, "num_train": 28, "num_val": 28, "num_test": 28},
        "epochs_run": 1,
        "best_epoch": 1,
        "wall_time_s": 1.0,
        "final": {
            "val": {"accuracy": accuracy, "macro_f1": accuracy, "loss": 1.0},
            "test": test,
            "perf": {"train_images_per_s": 1.0, "test_ms_per_image": 1.0},
        },
        "created_at": FIXED_TIME,
    }
    metrics = RunMetrics.model_validate(fixture).model_dump(mode="json")
    metrics.update(overrides)
    return metrics


def registry_dict(production: str | None, models: list[str]) -> dict[str, Any]:
    return Registry(production=production, models=models).model_dump(mode="json")
