"""Default locations in the monorepo (override the root with FLIPKART_ROOT)."""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    if os.environ.get("FLIPKART_ROOT"):
        return Path(os.environ["FLIPKART_ROOT"]).resolve()
    return Path(__file__).resolve().parents[3]


def splits_csv() -> Path:
    return repo_root() / "data" / "splits.csv"


def images_dir() -> Path:
    return repo_root() / "data" / "images"


def runs_dir() -> Path:
    return repo_root() / "runs" / "pytorch"


def checkpoints_dir() -> Path:
    return repo_root() / "artifacts" / "checkpoints"


def models_dir() -> Path:
    return repo_root() / "artifacts" / "models"


def cache_dir() -> Path:
    return repo_root() / "artifacts" / "tmp" / "image_cache"


def bench_results() -> Path:
    return repo_root() / "bench" / "results" / "pytorch.json"
