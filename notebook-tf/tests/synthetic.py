"""A tiny synthetic Flipkart-like split: the 7 classes, coloured shapes, JPEG and PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flipkart_contract.testing import FLIPKART_CLASSES
from PIL import Image


def make_split(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Writes root/images/*.jpg|png and root/splits.csv; returns the CSV path."""
    per_class = per_class or {"train": 3, "val": 1, "test": 1}
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = ["image,label,split"]
    for c, label in enumerate(FLIPKART_CLASSES):
        for split, count in per_class.items():
            for k in range(count):
                w, h = int(rng.integers(40, 90)), int(rng.integers(40, 90))
                pixels = np.full((h, w, 3), 255, np.uint8)
                colour = np.array([(37 * c) % 256, (91 * c + 40) % 256, (53 * c + 90) % 256])
                pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = colour
                pixels = np.clip(pixels + rng.integers(-10, 10, pixels.shape), 0, 255)
                name = f"{c}_{split}_{k}.{'png' if k % 2 else 'jpg'}"
                Image.fromarray(pixels.astype(np.uint8)).save(images / name)
                rows.append(f'"{name}","{label}",{split}')
    csv = root / "splits.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv
