"""Where things live in the monorepo. `FLIPKART_ROOT` overrides the root."""

from __future__ import annotations

import os
from pathlib import Path

FRAMEWORKS = ("pytorch", "tensorflow")


def repo_root() -> Path:
    if os.environ.get("FLIPKART_ROOT"):
        return Path(os.environ["FLIPKART_ROOT"]).resolve()
    here = Path(__file__).resolve()
    for candidate in (*here.parents, *Path.cwd().resolve().parents, Path.cwd().resolve()):
        if (candidate / "contract" / "pyproject.toml").is_file() and (candidate / "data").is_dir():
            return candidate
    return Path.cwd().resolve()


def splits_csv() -> Path:
    return repo_root() / "data" / "splits.csv"


def images_dir() -> Path:
    return repo_root() / "data" / "images"


def runs_dir(framework: str) -> Path:
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    return repo_root() / "runs" / framework


def artifacts_dir() -> Path:
    return repo_root() / "artifacts"


def models_dir() -> Path:
    return artifacts_dir() / "models"


def text_models_dir() -> Path:
    """`<run_id>/{model.json, card.json}` of the text models."""
    return artifacts_dir() / "text"


def listings_dir() -> Path:
    """`<listing_id>/card.json`: an image model and a text model fused."""
    return artifacts_dir() / "listing"


def text_runs_dir() -> Path:
    return repo_root() / "runs" / "text"


def registry_json() -> Path:
    return artifacts_dir() / "registry.json"


def checkpoints_dir(framework: str) -> Path:
    """Ignored by git: the best weights of each run, what an export reads."""
    return artifacts_dir() / "checkpoints" / framework


def bench_results(name: str) -> Path:
    return repo_root() / "bench" / "results" / f"{name}.json"


def relative_to_root(path: str | os.PathLike[str]) -> str:
    """A path inside the repository as a relative POSIX path (absolute when outside)."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(repo_root()).as_posix()
    except ValueError:
        return str(resolved)


def resolve(path: str | os.PathLike[str]) -> Path:
    """The inverse: a relative path is taken from the repository root."""
    path = Path(path)
    return path if path.is_absolute() else repo_root() / path
