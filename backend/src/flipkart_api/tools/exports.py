"""The exported models under `artifacts/models/` as the offline tools see them.

A folder is an export when its `card.json` is valid (`load_card`) and names the folder's run
id. Its ONNX file is then `present` (and matches the card's sha256: servable), `absent` (only
the production model's ONNX is tracked by git; the others keep their card, whose figures still
stand) or `altered` (the sha256 differs: nothing about it can be trusted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from flipkart_contract import (
    ImageDecodeError,
    ModelCard,
    layout,
    load_card,
    open_image_file,
    read_splits,
    resize,
    sha256_file,
    to_pixels,
)
from flipkart_contract.latency import measure_latency, ort_session
from flipkart_contract.schema import Latency, describe_error
from PIL import Image

OnnxState = Literal["present", "absent", "altered"]
BENCHMARK_IMAGES = 16


def default_artifacts() -> Path:
    """`FLIPKART_ARTIFACTS_ROOT` (the service's setting), else the repository's `artifacts/`."""
    configured = os.environ.get("FLIPKART_ARTIFACTS_ROOT")
    return Path(configured) if configured else layout.artifacts_dir()


@dataclass(frozen=True)
class Export:
    run_id: str
    folder: Path
    card: ModelCard
    onnx: OnnxState

    @property
    def model_path(self) -> Path:
        return self.folder / self.card.onnx.file

    @property
    def servable(self) -> bool:
        return self.onnx == "present"

    @property
    def problem(self) -> str | None:
        """Why this export cannot be served or promoted (None when it can)."""
        name = self.card.onnx.file
        if self.onnx == "absent":
            return f"{name} not present (git-ignored: re-export it from its checkpoint)"
        if self.onnx == "altered":
            return f"{name} sha256 does not match its card"
        return None


def read_export(folder: Path) -> Export:
    """The export in `folder`; ValueError saying why it is not one."""
    try:
        card = load_card(folder / "card.json")
    except FileNotFoundError as exc:
        raise ValueError("no card.json") from exc
    except ValueError as exc:
        raise ValueError(f"invalid card.json: {describe_error(exc)}") from exc
    if card.run_id != folder.name:
        raise ValueError(f"card.json is for run {card.run_id}, not its folder {folder.name}")
    if Path(card.onnx.file).name != card.onnx.file:
        raise ValueError(f"card.json onnx.file {card.onnx.file!r} is not a file name")
    path = folder / card.onnx.file
    if not path.is_file():
        state: OnnxState = "absent"
    elif sha256_file(path) != card.onnx.sha256:
        state = "altered"
    else:
        state = "present"
    return Export(folder.name, folder, card, state)


def scan_exports(artifacts: Path) -> tuple[list[Export], dict[str, str]]:
    """Every folder of `artifacts/models/`: the exports, and the refused ones with the reason."""
    models = artifacts / "models"
    exports, refused = [], {}
    for folder in sorted(p for p in models.iterdir() if p.is_dir()) if models.is_dir() else []:
        try:
            exports.append(read_export(folder))
        except ValueError as exc:
            refused[folder.name] = str(exc)
    return exports, refused


def benchmark_images(data_dir: Path | None, count: int = BENCHMARK_IMAGES) -> list[Image.Image]:
    """The same images for every model: the first test images when the data is there, else
    synthetic ones (ONNX Runtime's time does not depend on the pixels, only on their shape)."""
    splits = data_dir / "splits.csv" if data_dir is not None else None
    if splits is not None and splits.is_file():
        try:
            names = sorted(r["image"] for r in read_splits(splits) if r["split"] == "test")
            paths = [data_dir / "images" / name for name in names[:count]]
            if len(paths) == count:
                return [open_image_file(path) for path in paths]
        except (OSError, ValueError, ImageDecodeError):
            pass
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (300 + 7 * i, 400 - 5 * i, 3), dtype=np.uint8))
        for i in range(count)
    ]


def measure(export: Export, images: list[Image.Image], threads: int, repeats: int = 20) -> Latency:
    """The export's ONNX Runtime latency on this machine, the way every export is timed."""
    if not export.servable:
        raise ValueError(f"cannot time {export.run_id}: {export.problem}")
    policy = export.card.resize_policy
    pixels = np.stack([to_pixels(resize(image, policy), np.float32) for image in images])
    session = ort_session(export.model_path, threads)
    figures = measure_latency(
        session, pixels, threads=threads, repeats=repeats, input_name=export.card.input.name
    )
    return Latency.model_validate(figures)
