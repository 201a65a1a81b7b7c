"""A tiny synthetic Flipkart-like split: 3 classes of off-square product-on-white images.

The class names say what is drawn (the real seven are `flipkart_contract.testing`'s
FLIPKART_CLASSES, used where no image is drawn).
"""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

# No test reaches huggingface.co: a hub download fails at once unless a test points a process
# at its own loopback imitation (test_mambavision_hub.py). Set before huggingface_hub is imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

CLASSES = ["Circles", "Squares", "Stripes"]
TINY_MODEL = "test_efficientnet"
GOLDEN = Path(__file__).parent / "fixtures" / "mambavision_golden.safetensors"


def read_golden() -> tuple[dict[str, torch.Tensor], dict]:
    """The MambaVision golden fixture's tensors, and its description (source, configurations)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(GOLDEN), "pt") as handle:
        description = json.loads(handle.metadata()["golden"])
    return load_file(str(GOLDEN)), description


def golden_state(tensors: dict[str, torch.Tensor], family: str) -> dict[str, torch.Tensor]:
    """One family's state dict, in NVIDIA's layout, from the golden fixture."""
    prefix = f"{family}.state."
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def tiny_run_id(training_mode: str = "finetune", second: int = 0) -> str:
    """A well-formed run id of the tiny model, fixed in time."""
    from flipkart_contract import make_run_id

    return make_run_id(TINY_MODEL, training_mode, datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC))


def draw(label: str, rng: np.random.Generator) -> Image.Image:
    w, h = int(rng.integers(40, 64)), int(rng.integers(30, 64))
    image = Image.new("RGB", (w, h), (255, 255, 255))
    pen = ImageDraw.Draw(image)
    colour = tuple(int(c) for c in rng.integers(0, 160, 3))
    if label == "Circles":
        pen.ellipse((w * 0.2, h * 0.2, w * 0.8, h * 0.8), fill=colour)
    elif label == "Squares":
        pen.rectangle((w * 0.25, h * 0.25, w * 0.75, h * 0.75), fill=colour)
    else:
        for x in range(0, w, 8):
            pen.rectangle((x, 0, x + 3, h), fill=colour)
    return image


def make_split(root: Path, per_split: dict[str, int], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, count in per_split.items():
        for label in CLASSES:
            for i in range(count):
                name = f"{split}_{label.lower()}_{i}.jpg"
                draw(label, rng).save(images / name, quality=90)
                rows.append({"image": name, "label": label, "split": split})
    with open(root / "splits.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_split(tmp_path_factory.mktemp("data"), {"train": 6, "val": 3, "test": 3})


@pytest.fixture(autouse=True)
def few_threads() -> None:
    torch.set_num_threads(2)


def tiny_config(data: Path, out: Path, **overrides):
    from flipkart_torch.train import TrainConfig

    values = dict(
        architecture=TINY_MODEL,
        training_mode="finetune",
        epochs=1,
        batch_size=6,
        image_size=32,
        lr=1e-3,
        splits_csv=str(data / "splits.csv"),
        images_dir=str(data / "images"),
        runs_dir=str(out / "runs"),
        checkpoints_dir=str(out / "checkpoints"),
        cache_dir="",
        progress=False,
    )
    values.update(overrides)
    return TrainConfig(**values)
