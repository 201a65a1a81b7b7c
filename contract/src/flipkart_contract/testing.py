"""Fixture builders for every project's tests: images, valid cards, run metrics, registries.

Real code reads the class names from `data/splits.csv`; tests that need the real seven names
without the data use `FLIPKART_CLASSES`.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from flipkart_contract.evaluation import split_metrics
from flipkart_contract.files import sha256_bytes, write_json_atomic
from flipkart_contract.resize import ResizePolicy
from flipkart_contract.schema import SCHEMA_VERSION, ModelCard, Registry, RunMetrics, load_card

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


# ---------------------------------------------------------------- text models and listings

TEXT_RUN_ID = "20261123-101600_text-tiny"
LISTING_ID = "20261123-101700_listing"


def text_model_dict(classes: list[str] | None = None) -> dict[str, Any]:
    """A valid `model.json`: each class is told by the lower-cased words of its name (a word
    shared by several names counts for each of them)."""
    from flipkart_contract.text import DEFAULT_TOKEN_PATTERN, TEXT_FORMAT, TEXT_FORMAT_VERSION

    classes = list(classes or FLIPKART_CLASSES)
    words = sorted({w for name in classes for w in name.lower().replace("&", " ").split()})
    coef = [[4.0 if w in name.lower().split() else 0.0 for w in words] for name in classes]
    return {
        "format": TEXT_FORMAT,
        "format_version": TEXT_FORMAT_VERSION,
        "classes": classes,
        "blocks": [
            {
                "analyzer": "word",
                "ngram_range": [1, 1],
                "lowercase": True,
                "sublinear_tf": True,
                "token_pattern": DEFAULT_TOKEN_PATTERN,
                "norm": "l2",
                "terms": words,
                "idf": [1.0] * len(words),
            }
        ],
        "coef": coef,
        "intercept": [0.0] * len(classes),
    }


def text_card_dict(
    model_bytes: bytes, run_id: str = TEXT_RUN_ID, *, classes: list[str] | None = None
) -> dict[str, Any]:
    """A valid text card for a `model.json`'s bytes."""
    from flipkart_contract.schema import TextCard

    classes = list(classes or FLIPKART_CLASSES)
    figures = {"title": _test_metrics(classes), "title+description": _test_metrics(classes)}
    return TextCard(
        run_id=run_id,
        architecture=run_id.split("_", 1)[1],
        classes=classes,
        max_chars={"title": 300, "description": 2000},
        metrics={"val": figures, "test": figures},
        model={"sha256": sha256_bytes(model_bytes), "bytes": len(model_bytes), "num_features": 1},
        parity={
            "reference": "test",
            "max_abs_logit_diff": 0.0,
            "top1_agreement": 1.0,
            "num_texts": 4,
        },
        latency_ms={"ms_per_text": {"title": 0.1}, "hardware": "test"},
        created_at=FIXED_TIME,
    ).model_dump(mode="json")


def listing_card_dict(
    image_run_id: str,
    image_sha256: str,
    text_sha256: str,
    *,
    listing_id: str = LISTING_ID,
    text_run_id: str = TEXT_RUN_ID,
    classes: list[str] | None = None,
    image_weight: float = 1.0,
    text_weight: float = 1.0,
) -> dict[str, Any]:
    """A valid listing card fusing an image model and a text model with the same weights for
    every text input."""
    from flipkart_contract.schema import ListingCard

    classes = list(classes or FLIPKART_CLASSES)
    weights = {"image": image_weight, "text": text_weight, "text_temperature": 1.0}
    return ListingCard(
        listing_id=listing_id,
        classes=classes,
        image={"run_id": image_run_id, "sha256": image_sha256},
        text={"run_id": text_run_id, "sha256": text_sha256},
        fusion={
            "num_products": 4,
            "weights": dict.fromkeys(("title", "description", "title+description"), weights),
        },
        metrics={"test": {"image": _test_metrics(classes), "fused:title": _test_metrics(classes)}},
        created_at=FIXED_TIME,
    ).model_dump(mode="json")


def write_listing(
    root: Path,
    image_run_id: str,
    *,
    listing_id: str = LISTING_ID,
    text_run_id: str = TEXT_RUN_ID,
    image_sha256: str | None = None,
    text_sha256: str | None = None,
    image_weight: float = 1.0,
    text_weight: float = 1.0,
) -> dict[str, Any]:
    """In the artifacts folder `root`: `text/<run_id>/{model.json,card.json}` (the tiny text
    model of `text_model_dict`) and `listing/<listing_id>/card.json` fusing it with the image
    model `image_run_id` (already in `models/`); the sha256s are the files' unless given.
    Returns the text model's `model.json` contents. The registry is not changed."""
    model = text_model_dict()
    data = json.dumps(model).encode("utf-8")
    text_folder = root / "text" / text_run_id
    text_folder.mkdir(parents=True, exist_ok=True)
    (text_folder / "model.json").write_bytes(data)
    write_json_atomic(text_folder / "card.json", text_card_dict(data, text_run_id))
    image_card = load_card(root / "models" / image_run_id / "card.json")
    card = listing_card_dict(
        image_run_id,
        image_sha256 or image_card.onnx.sha256,
        text_sha256 or sha256_bytes(data),
        listing_id=listing_id,
        text_run_id=text_run_id,
        image_weight=image_weight,
        text_weight=text_weight,
    )
    (root / "listing" / listing_id).mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / "listing" / listing_id / "card.json", card)
    return model
