"""Ensembles: several runs' best checkpoints, their logits averaged inside one ONNX graph.

    flipkart-torch export-ensemble RUN_ID RUN_ID [RUN_ID ...] [--max-mb 60]

The members must share the classes and the resize policy (one `pixels` input feeds them all);
each keeps its own normalisation (and test-time augmentation). The ensemble is recorded like a
run, without training: `runs/pytorch/<run_id>/metrics.json` (its validation and test figures,
the test split read once, here) and an export with its card, so it is a leaderboard row like any
model. Its architecture is `ensemble-<members>`; its latency is the sum of its members'.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flipkart_contract import RunMetrics, layout, make_run_id, sha256_file
from flipkart_contract.evaluation import split_metrics
from torch import nn

from flipkart_torch import checkpoints
from flipkart_torch.export import MAX_ONNX_BYTES, export_checked, load_pixels_model, split_views
from flipkart_torch.paths import FRAMEWORK
from flipkart_torch.run_log import hardware, utc_now, write_run_metrics


class EnsembleModel(nn.Module):
    """float NHWC 0-255 pixels -> the mean of the members' logits."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(pixels) for member in self.members]).mean(dim=0)


def ensemble_architecture(architectures: list[str]) -> str:
    if len(set(architectures)) == 1:
        return f"ensemble-{architectures[0]}-x{len(architectures)}"
    return "ensemble-" + "-".join(architectures)


@torch.no_grad()
def ensemble_logits(model: nn.Module, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    model.eval()
    return np.concatenate(
        [
            model(torch.from_numpy(images[i : i + batch_size]).float()).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def load_members(runs: list[str]) -> tuple[list[nn.Module], list[dict[str, Any]]]:
    if len(runs) < 2:
        raise ValueError("an ensemble needs at least two runs")
    if len(set(runs)) != len(runs):
        raise ValueError(f"a run is listed twice: {runs}")
    members, bests = [], []
    for run in runs:
        member, best = load_pixels_model(checkpoints.resolve_best(run))
        members.append(member)
        bests.append(best)
    first = bests[0]
    for best in bests[1:]:
        if best["classes"] != first["classes"]:
            raise ValueError(f"{best['run_id']} has other classes than {first['run_id']}")
        if best["resize_policy"] != first["resize_policy"]:
            raise ValueError(
                f"{best['run_id']} sees the images through another resize policy than "
                f"{first['run_id']} ({best['resize_policy']} vs {first['resize_policy']}): "
                "an ensemble has one input"
            )
    return members, bests


def export_ensemble(
    runs: list[str],
    models_dir: str | Path | None = None,
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    parity_images: int = 32,
    max_bytes: int | None = MAX_ONNX_BYTES,
) -> dict[str, Any]:
    """Record and export the ensemble of `runs`; returns its card as written."""
    started = time.perf_counter()
    members, bests = load_members(runs)
    first = bests[0]
    classes, policy = first["classes"], first["resize_policy"]
    ensemble = EnsembleModel(members).eval()
    architecture = ensemble_architecture([b["architecture"] for b in bests])
    modes = {b["training_mode"] for b in bests}
    training_mode = modes.pop() if len(modes) == 1 else "finetune"
    run_id = make_run_id(architecture, training_mode)
    member_ids = [b["run_id"] for b in bests]
    sources = sorted({b["weights_source"] for b in bests})

    val = split_views(first, splits_csv, images_dir, "val")
    test = split_views(first, splits_csv, images_dir, "test")
    val_metrics = split_metrics(
        val.labels, ensemble_logits(ensemble, val.images).argmax(1), classes
    )
    test_start = time.perf_counter()
    test_preds = ensemble_logits(ensemble, test.images).argmax(1)
    test_ms = 1000 * (time.perf_counter() - test_start) / len(test.labels)
    test_metrics = split_metrics(test.labels, test_preds, classes)
    splits_path = Path(splits_csv or layout.splits_csv())
    notes = f"ensemble (mean of logits) of {', '.join(member_ids)}; no training of its own"
    metrics = RunMetrics(
        run_id=run_id,
        framework=FRAMEWORK,
        architecture=architecture,
        training_mode=training_mode,
        classes=classes,
        config={"members": member_ids, "combine": "mean of logits", "image_size": policy.size},
        budget="no training: its members' runs",
        hardware=hardware(torch.device("cpu")),
        weights_source=" + ".join(sources),
        data={
            "splits_sha256": sha256_file(splits_path),
            "num_train": 0,
            "num_val": len(val.labels),
            "num_test": len(test.labels),
        },
        epochs_run=0,
        wall_time_s=round(time.perf_counter() - started, 2),
        final={"val": val_metrics, "test": test_metrics, "perf": {"test_ms_per_image": test_ms}},
        created_at=utc_now(),
        parameters=sum(p.numel() for p in ensemble.parameters()),
        notes=notes,
    )
    run_dir = Path(runs_dir or layout.runs_dir(FRAMEWORK)) / run_id
    write_run_metrics(run_dir, metrics)
    best = {
        **first,
        "run_id": run_id,
        "architecture": architecture,
        "training_mode": training_mode,
        "weights_source": metrics.weights_source,
        "config": {"tta": "none"},
    }
    return export_checked(
        ensemble,
        best,
        test.images[:parity_images],
        run_dir / "metrics.json",
        models_dir,
        max_bytes,
        notes=notes,
    )
