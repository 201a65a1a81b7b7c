"""The Flipkart split (`data/splits.csv` + `data/images/`) as cached uint8 arrays.

Every image goes through `load_eval_view` (the contract's decoding and resize policy), once per
policy; the arrays are kept in memory and on disk (`artifacts/tmp/image_cache/`, git-ignored),
so an epoch never decodes a JPEG. Evaluation uses these views as they are; training augments
them on the training device (`flipkart_torch.augment`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from flipkart_contract import ImageDecodeError, ResizePolicy, model_view
from flipkart_contract import read_splits as read_splits_rows

SPLITS = ("train", "val", "test")
PREPARE_HINT = (
    "prepare the data first: `make data` at the repository root "
    "(writes data/splits.csv and data/images/)"
)
CACHE_VERSION = 2  # 2: decoded by flipkart_contract (JPEG draft decision included)


class DataError(RuntimeError):
    """The data on disk is missing or does not fit the model."""


@dataclass
class SplitData:
    images: np.ndarray  # uint8 [N, H, W, 3] after the resize policy
    labels: np.ndarray  # int64 [N], index into `classes`
    names: list[str]


def load_eval_view(path: str | Path, policy: ResizePolicy) -> np.ndarray:
    """What the lab's models see of one image file: uint8 `[size, size, 3]`.

    The one function behind the lab's evaluation, its training data (before augmentation) and
    the export's parity check; the contract's `model_view`, so the service sees the same pixels.
    """
    return model_view(Path(path), policy)


def read_splits(splits_csv: str | Path) -> pd.DataFrame:
    """`data/splits.csv` as a table, checked by the contract; DataError says how to make it."""
    path = Path(splits_csv)
    if not path.is_file():
        raise DataError(f"{path} not found; {PREPARE_HINT}")
    try:
        rows = read_splits_rows(path)
    except ValueError as error:
        raise DataError(f"{error}; {PREPARE_HINT}") from error
    return pd.DataFrame(rows, columns=["image", "label", "split"])


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


def _cache_key(names: list[str], images_dir: Path, policy: ResizePolicy) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION}:{policy.model_dump_json()}".encode())
    for name in names:
        stat = (images_dir / name).stat()
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


_MEMORY_CACHE: dict[str, np.ndarray] = {}


def decode_views(
    names: list[str], images_dir: Path, policy: ResizePolicy, progress: bool = False
) -> np.ndarray:
    """`load_eval_view` of each file; an unreadable image is a DataError naming it."""
    from tqdm.auto import tqdm

    arrays = np.empty((len(names), policy.size, policy.size, 3), dtype=np.uint8)
    for i, name in enumerate(tqdm(names, desc="decode", disable=not progress, leave=False)):
        try:
            arrays[i] = load_eval_view(images_dir / name, policy)
        except ImageDecodeError as error:
            raise DataError(f"{images_dir / name}: {error.message} ({error.code})") from error
    return arrays


def load_images(
    names: list[str],
    images_dir: str | Path,
    policy: ResizePolicy,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> np.ndarray:
    """The views of `names`, from memory, then the disk cache, then the image files."""
    images_dir = Path(images_dir)
    key = _cache_key(names, images_dir, policy)
    if key in _MEMORY_CACHE:
        return _MEMORY_CACHE[key]
    cache_file = Path(cache_dir) / f"{key}.npy" if cache_dir else None
    if cache_file is not None and cache_file.is_file():
        arrays = np.load(cache_file)
    else:
        arrays = decode_views(names, images_dir, policy, progress)
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
    policy: ResizePolicy,
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
    images = load_images(names, images_dir, policy, cache_dir, progress)
    return SplitData(images=images, labels=labels, names=names)
