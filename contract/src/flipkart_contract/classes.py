"""Class names and splits from `data/splits.csv` (columns image, label, split)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

SPLITS = ("train", "val", "test")
COLUMNS = ("image", "label", "split")


def read_splits(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """The rows of splits.csv, checked: the three columns, known split names, no blank label."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}; expected {list(COLUMNS)}")
        rows = []
        for number, row in enumerate(reader, start=2):
            if row["split"] not in SPLITS:
                raise ValueError(f"{path}:{number}: unknown split {row['split']!r}")
            if not row["label"].strip() or not row["image"].strip():
                raise ValueError(f"{path}:{number}: empty image name or label")
            rows.append({c: row[c] for c in COLUMNS})
    return rows


def class_names(path: str | os.PathLike[str]) -> list[str]:
    """The sorted class names: the class order of every model, card and report."""
    names = sorted({row["label"] for row in read_splits(path)})
    if not names:
        raise ValueError(f"{path}: no rows")
    return names
