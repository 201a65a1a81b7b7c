"""Default locations in the repository (FLIPKART_ROOT overrides the root)."""

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
    return repo_root() / "runs" / "tensorflow"


def models_dir() -> Path:
    return repo_root() / "artifacts" / "models"


def checkpoints_dir() -> Path:
    """Ignored by git: best weights of each run, what `export` reads."""
    return repo_root() / "artifacts" / "checkpoints" / "tensorflow"


def bench_results() -> Path:
    return repo_root() / "bench" / "results" / "tensorflow.json"


def relative_to_root(path: str | Path) -> str:
    """A path inside the repository as a relative POSIX path (absolute when outside)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(repo_root()).as_posix()
    except ValueError:
        return str(path)


def resolve(path: str | Path) -> Path:
    """The inverse: a relative path is taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else repo_root() / path
