"""The run contract of artifacts/README.md: TensorBoard tags, HParams, report, confusion image,
`metrics.json` (written atomically)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

EPOCH_TAGS = (
    "train/loss",
    "train/accuracy",
    "val/loss",
    "val/accuracy",
    "val/macro_f1",
    "lr",
    "perf/train_images_per_s",
    "perf/epoch_s",
)
FINAL_TAGS = ("test/accuracy", "test/macro_f1", "perf/test_ms_per_image")


def write_json(path: str | Path, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {
        "device": device.type,
        "device_name": name,
        "num_threads": torch.get_num_threads(),
        "gpus": torch.cuda.device_count() if device.type == "cuda" else 0,
    }


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
