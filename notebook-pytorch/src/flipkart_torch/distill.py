"""Distillation: a teacher's probabilities as (part of) the training targets.

`flipkart-torch train ... --teacher RUN_ID[,RUN_ID...] --kd-alpha 0.7 --kd-temperature 2`

The teacher is one run or several (their logits averaged, as `export-ensemble` does), each
seeing the training images through its own resize policy, normalisation and test-time
augmentation (so a 240 px Lite2 can teach a 192 px Lite0). Its logits are computed once, on the
clean training views, before the first epoch; a training batch's targets are then

    kd_alpha * softmax(teacher_logits / kd_temperature) + (1 - kd_alpha) * smoothed one-hot

and mixup/CutMix mix those targets like any other. Only training images are read: the teacher's
figures on validation and test are its own run's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from flipkart_contract import ResizePolicy

from flipkart_torch import checkpoints
from flipkart_torch.data import DataError, SplitData, load_split
from flipkart_torch.ensemble import ensemble_logits
from flipkart_torch.export import load_pixels_model


def teacher_runs(teacher: str) -> list[str]:
    runs = [r.strip() for r in teacher.split(",") if r.strip()]
    if not runs:
        raise ValueError("--teacher names no run")
    if len(set(runs)) != len(runs):
        raise ValueError(f"a teacher run is listed twice: {runs}")
    return runs


def teacher_logits(
    teacher: str,
    table: pd.DataFrame,
    classes: list[str],
    student_train: SplitData,
    load_options: dict[str, Any],
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The mean of the teacher runs' logits on the training split, aligned with
    `student_train`'s rows; and what the run records of each teacher. Kept beside the image
    cache (keyed by the teachers' checkpoints and the rows), so seeds of a recipe share them."""
    paths = [checkpoints.resolve_best(run) for run in teacher_runs(teacher)]
    for path in paths:
        if not path.is_file():
            raise DataError(f"teacher checkpoint {path} not found (train the teacher run first)")
    cache = load_options.get("cache_dir")
    key = hashlib.sha256(
        "\n".join(
            [*(f"{p.resolve()}:{p.stat().st_mtime_ns}" for p in paths), *student_train.names]
        ).encode()
    ).hexdigest()[:24]
    cache_file = Path(cache) / f"teacher-{key}.npz" if cache else None
    if cache_file is not None and cache_file.is_file():
        saved = np.load(cache_file, allow_pickle=False)
        return saved["logits"], json.loads(str(saved["records"]))
    logits, records = _teacher_logits(paths, table, classes, student_train, load_options)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(".tmp.npz")
        np.savez(tmp, logits=logits, records=json.dumps(records))
        tmp.replace(cache_file)
    return logits, records


def _teacher_logits(
    paths: list[Path],
    table: pd.DataFrame,
    classes: list[str],
    student_train: SplitData,
    load_options: dict[str, Any],
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    total: np.ndarray | None = None
    records = []
    for path in paths:
        member, policy, record = load_teacher(path, classes)
        views = load_split(table, "train", classes, policy=policy, **load_options)
        if views.names != student_train.names:
            raise DataError(f"teacher {path}: training rows differ from the student's")
        logits = ensemble_logits(member, views.images)
        total = logits if total is None else total + logits
        records.append(record)
    assert total is not None
    return total / len(paths), records


def load_teacher(path: Path, classes: list[str]) -> tuple[Any, ResizePolicy, dict[str, Any]]:
    """A teacher run's graph (normalisation and TTA inside), its resize policy and what the
    student's run records of it; its classes must be the data's."""
    member, best = load_pixels_model(path)
    if best["classes"] != classes:
        raise DataError(f"teacher {path} has classes {best['classes']}, the data {classes}")
    policy = ResizePolicy.model_validate(best["resize_policy"])
    record = {
        "run_id": best["run_id"],
        "architecture": best["architecture"],
        "image_size": policy.size,
        "tta": member.tta,
        "weights_source": best["weights_source"],
    }
    return member, policy, record


def view_teacher(
    teacher: str, classes: list[str], device: torch.device, batch_size: int = 32
) -> tuple[Callable[[np.ndarray], torch.Tensor], list[dict[str, Any]]]:
    """The teacher runs as one function of uint8 NHWC views (any size) -> their mean logits
    (CPU): each view resized (bilinear, antialiased) to a teacher's input size, then through
    its normalisation and test-time augmentation. Partial fine-tuning uses it on the very
    views the student trains on."""
    paths = [checkpoints.resolve_best(run) for run in teacher_runs(teacher)]
    members, records = [], []
    for path in paths:
        if not path.is_file():
            raise DataError(f"teacher checkpoint {path} not found (train the teacher run first)")
        member, policy, record = load_teacher(path, classes)
        members.append((member.to(device), policy.size))
        records.append({**record, "views": "the student's training views, resized"})

    @torch.no_grad()
    def logits(views: np.ndarray) -> torch.Tensor:
        total = None
        for member, size in members:
            parts = []
            for start in range(0, len(views), batch_size):
                pixels = torch.from_numpy(views[start : start + batch_size]).to(device).float()
                if pixels.shape[1:3] != (size, size):
                    pixels = F.interpolate(
                        pixels.permute(0, 3, 1, 2), size=(size, size), mode="bilinear",
                        antialias=True, align_corners=False,
                    ).permute(0, 2, 3, 1).clamp(0, 255)  # fmt: skip
                parts.append(member(pixels).float().cpu())
            out = torch.cat(parts)
            total = out if total is None else total + out
        assert total is not None
        return total / len(members)

    return logits, records


def soft_targets(
    teacher_logits: torch.Tensor, hard_targets: torch.Tensor, alpha: float, temperature: float
) -> torch.Tensor:
    """alpha * softmax(teacher / T) + (1 - alpha) * the (smoothed) one-hot targets."""
    teacher = torch.softmax(teacher_logits.float() / temperature, dim=1)
    return alpha * teacher + (1 - alpha) * hard_targets
