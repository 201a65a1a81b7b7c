"""The Flipkart split (`data/splits.csv` + `data/images/`) as cached uint8 arrays.

Images are decoded and resized once per preprocessing policy; the arrays are kept in memory and
on disk (`artifacts/tmp/image_cache/`, git-ignored), so an epoch never decodes a JPEG.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from flipkart_torch.transforms import apply_policy

SPLITS = ("train", "val", "test")
PREPARE_HINT = (
    "prepare the data first: `make data` at the repository root "
    "(writes data/splits.csv and data/images/)"
)


class DataError(RuntimeError):
    """The data on disk is missing or does not fit the model."""


@dataclass
class SplitData:
    images: np.ndarray  # uint8 [N, H, W, 3] after the resize policy
    labels: np.ndarray  # int64 [N], index into `classes`
    names: list[str]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_splits(splits_csv: str | Path) -> pd.DataFrame:
    path = Path(splits_csv)
    if not path.is_file():
        raise DataError(f"{path} not found; {PREPARE_HINT}")
    table = pd.read_csv(path)
    missing = {"image", "label", "split"} - set(table.columns)
    if missing:
        raise DataError(f"{path} lacks columns {sorted(missing)}; {PREPARE_HINT}")
    bad = sorted(set(table["split"]) - set(SPLITS))
    if bad:
        raise DataError(f"{path}: unknown split names {bad} (expected {SPLITS})")
    return table


def class_names(table: pd.DataFrame) -> list[str]:
    return sorted(table["label"].unique().tolist())


def check_classes(data_classes: list[str], model_classes: list[str]) -> None:
    unknown = [c for c in data_classes if c not in model_classes]
    if unknown:
        raise DataError(
            f"classes {unknown} in the data are unknown to the model, which knows {model_classes}"
        )


def check_images(table: pd.DataFrame, images_dir: str | Path) -> None:
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise DataError(f"image folder {images_dir} not found; {PREPARE_HINT}")
    absent = [name for name in table["image"] if not (images_dir / name).is_file()]
    if absent:
        raise DataError(
            f"{len(absent)} images listed in splits.csv are missing from {images_dir} "
            f"(first: {absent[:3]}); {PREPARE_HINT}"
        )


def _cache_key(names: list[str], images_dir: Path, preprocessing: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(preprocessing, sort_keys=True).encode())
    for name in names:
        stat = (images_dir / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


_MEMORY_CACHE: dict[str, np.ndarray] = {}


def load_images(
    names: list[str],
    images_dir: str | Path,
    preprocessing: dict[str, Any],
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Decoded, resized uint8 arrays for `names`, from memory, then disk cache, then JPEGs."""
    images_dir = Path(images_dir)
    key = _cache_key(names, images_dir, preprocessing)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    cache_file = Path(cache_dir) / f"{key}.npy" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        arrays = np.load(cache_file)
    else:
        from tqdm.auto import tqdm

        size = preprocessing["size"]
        arrays = np.empty((len(names), size, size, 3), dtype=np.uint8)
        for i, name in enumerate(tqdm(names, desc="decode", disable=not progress, leave=False)):
            with Image.open(images_dir / name) as image:
                arrays[i] = apply_policy(image, preprocessing)
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(".tmp.npy")
            np.save(tmp, arrays)
            tmp.replace(cache_file)
    _MEMORY_CACHE[key] = arrays
    return arrays


def load_split(
    table: pd.DataFrame,
    split: str,
    classes: list[str],
    images_dir: str | Path,
    preprocessing: dict[str, Any],
    cache_dir: str | Path | None = None,
    limit_per_class: int | None = None,
    progress: bool = False,
) -> SplitData:
    rows = table[table["split"] == split].sort_values("image")
    if limit_per_class is not None:
        rows = rows.groupby("label", group_keys=False).head(limit_per_class)
    if rows.empty:
        raise DataError(f"split {split!r} is empty in splits.csv; {PREPARE_HINT}")
    check_classes(sorted(rows["label"].unique()), classes)
    names = rows["image"].tolist()
    labels = np.array([classes.index(c) for c in rows["label"]], dtype=np.int64)
    images = load_images(names, images_dir, preprocessing, cache_dir, progress)
    return SplitData(images=images, labels=labels, names=names)
