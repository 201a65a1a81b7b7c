"""The run contract: the contract's TensorBoard tags, HParams, classification report, confusion
image, and `metrics.json` as the contract's `RunMetrics`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from flipkart_contract import RunMetrics, write_json_atomic
from flipkart_contract.latency import cpu_name
from flipkart_contract.run_tags import EPOCH_TAGS, FINAL_TAGS
from flipkart_contract.schema import Hardware, SplitMetrics
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from flipkart_torch.paths import FRAMEWORK


def hardware(device: torch.device) -> Hardware:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return Hardware(
        device=device.type,
        device_name=name,
        num_threads=torch.get_num_threads(),
        gpus=torch.cuda.device_count() if device.type == "cuda" else 0,
    )


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def write_run_metrics(run_dir: str | Path, metrics: RunMetrics) -> Path:
    """`<run_dir>/metrics.json`, written atomically (absent fields left out)."""
    data = metrics.model_dump(mode="json", exclude_none=True)
    return write_json_atomic(Path(run_dir) / "metrics.json", data)


def run_metrics(
    *,
    config: dict[str, Any],
    classes: list[str],
    device: torch.device,
    budget: str | None,
    weights_source: str,
    data: dict[str, Any],
    history: list[dict[str, float]],
    best_epoch: int,
    wall_time_s: float,
    val: SplitMetrics,
    test: SplitMetrics,
    test_ms_per_image: float,
) -> RunMetrics:
    """A run's `metrics.json`: `config` is the run's TrainConfig (plus what it implied), `data`
    the split summary, `history` the epoch scalars, `best_epoch` counted from 0."""
    hw = hardware(device)
    speeds = [h["perf/train_images_per_s"] for h in history]
    budget = budget or (
        f"{hw.device.upper()}, {hw.num_threads} threads, {config['epochs']} epochs at "
        f"{config['image_size']} px, batch {config['batch_size']}"
    )
    return RunMetrics(
        run_id=config["run_id"],
        framework=FRAMEWORK,
        architecture=config["architecture"],
        training_mode=config["training_mode"],
        classes=classes,
        config=config,
        budget=budget,
        hardware=hw,
        weights_source=weights_source,
        data=data,
        epochs_run=len(history),
        best_epoch=best_epoch + 1,  # counted from 1, like the TensorBoard steps
        wall_time_s=round(wall_time_s, 2),
        final={
            "val": SplitMetrics(accuracy=val.accuracy, macro_f1=val.macro_f1, loss=val.loss),
            "test": test,
            "perf": {
                "train_images_per_s": sum(speeds) / len(speeds) if speeds else 0.0,
                "test_ms_per_image": test_ms_per_image,
            },
        },
        created_at=utc_now(),
    )


def confusion_figure(matrix: list[list[int]], classes: list[str]) -> plt.Figure:
    figure, axes = plt.subplots(figsize=(7, 6))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(classes)), classes, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axes.text(j, i, str(value), ha="center", va="center", fontsize=8)
    figure.tight_layout()
    return figure


class RunLog:
    """TensorBoard writer for one run folder (`runs/pytorch/<run_id>/`)."""

    def __init__(self, run_dir: str | Path, purge_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge_step)

    def epoch(self, step: int, scalars: dict[str, float]) -> None:
        for tag in EPOCH_TAGS:
            self.writer.add_scalar(tag, scalars[tag], step)
        self.writer.flush()

    def final(
        self,
        step: int,
        scalars: dict[str, float],
        report: str,
        matrix: list[list[int]],
        classes: list[str],
        hparam_values: dict[str, Any],
    ) -> None:
        for tag in FINAL_TAGS:
            self.writer.add_scalar(tag, scalars[tag], step)
        for tag in sorted(set(scalars) - set(FINAL_TAGS)):  # extra figures (TTA choice on val)
            self.writer.add_scalar(tag, scalars[tag], step)
        self.writer.add_text("test/classification_report", f"```\n{report}\n```", step)
        figure = confusion_figure(matrix, classes)
        self.writer.add_figure("test/confusion_matrix", figure, step, close=True)
        clean = {
            k: (v if isinstance(v, (int, float, str, bool)) else str(v))
            for k, v in hparam_values.items()
        }
        metric_values = {f"hparam/{k}": scalars[k] for k in ("test/accuracy", "test/macro_f1")}
        for summary in hparams(clean, metric_values):
            self.writer.file_writer.add_summary(summary)
        for tag, value in metric_values.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
