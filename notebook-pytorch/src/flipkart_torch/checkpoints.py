"""A run's checkpoints: `best.pt` (what export and evaluate read) and `last.pt` (what resume
reads), under `artifacts/checkpoints/pytorch/<run_id>/` (git-ignored), written atomically.

Checkpoints written before the contract's vocabulary (`model_name`, `preprocessing`, a config
with `model`/`mode`/`resize_mode`) are read too: `upgrade` renames their keys in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from flipkart_contract import ResizePolicy, layout
from torch import nn

from flipkart_torch.config import upgrade_config
from flipkart_torch.models.factory import create_model
from flipkart_torch.paths import FRAMEWORK

BEST = "best.pt"
LAST = "last.pt"


def upgrade(blob: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint dict of either generation with today's keys."""
    blob = dict(blob)
    if "config" in blob:
        blob["config"] = upgrade_config(blob["config"])
    if "model_name" in blob:  # before: model_name = the lab's name, architecture = timm's
        blob["timm_name"] = blob.pop("architecture", None)
        blob["architecture"] = blob.pop("model_name")
    if "preprocessing" in blob:
        blob["resize_policy"] = blob.pop("preprocessing")
    if "resize_policy" in blob:
        blob["resize_policy"] = ResizePolicy.model_validate(blob["resize_policy"])
    if "training_mode" not in blob and "config" in blob:
        blob["training_mode"] = blob["config"].get("training_mode")
    return blob


def read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (train first: flipkart-torch train)")
    return upgrade(torch.load(path, map_location="cpu", weights_only=False))


def save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def default_root() -> Path:
    return layout.checkpoints_dir(FRAMEWORK)


def resolve_best(run: str, root: str | Path | None = None) -> Path:
    """`best.pt` of a run id (under `root`, by default the repository's), or a `.pt` path.

    The repository's checkpoints of runs trained before the per-framework folder
    (`artifacts/checkpoints/<run_id>/`) are found too.
    """
    candidate = Path(run)
    if candidate.suffix == ".pt":
        return candidate
    if root is not None:
        return Path(root) / run / BEST
    path = default_root() / run / BEST
    legacy = default_root().parent / run / BEST
    return legacy if not path.is_file() and legacy.is_file() else path


def find_last(root: Path, resume: bool | str, architecture: str, training_mode: str) -> Path:
    """`last.pt` to resume: of the given run id, or the latest of this architecture and mode."""
    if isinstance(resume, str):
        last = root / resume / LAST
        if not last.is_file():
            raise FileNotFoundError(f"no checkpoint {last} to resume")
        return last
    candidates = sorted(root.glob(f"*_{architecture}_{training_mode}/{LAST}"))
    if not candidates:
        raise FileNotFoundError(
            f"no checkpoint to resume under {root} for {architecture} {training_mode} "
            f"(expected <run_id>/{LAST}); start without --resume"
        )
    return candidates[-1]


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model of a `best.pt` (eval mode) and the checkpoint's other entries."""
    best = read(path)
    model = create_model(best["architecture"], num_classes=len(best["classes"]))
    model.load_state_dict(best["model"])
    model.eval()
    return model, best


class RunCheckpoints:
    """The two checkpoints of one run folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.best = folder / BEST
        self.last = folder / LAST

    def save_best(self, model: nn.Module, **entries: Any) -> None:
        """The weights to export, with what export needs to rebuild and describe the model."""
        save_atomic({"model": model.state_dict(), **entries}, self.best)

    def save_last(self, **state: Any) -> None:
        """Everything resume needs to continue exactly where this epoch ended."""
        save_atomic(state, self.last)

    def load_best_weights(self) -> dict[str, torch.Tensor]:
        return read(self.best)["model"]
