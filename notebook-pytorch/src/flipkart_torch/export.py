"""ONNX export per the model contract: NHWC float 0-255 `pixels` in, `logits` out, normalisation
inside the graph, dynamic batch; parity against PyTorch on real test images before any card.
The card is the contract's `ModelCard`; latency is the contract's `measure_latency`."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flipkart_contract import (
    ModelCard,
    class_names,
    layout,
    load_metrics,
    sha256_file,
    write_json_atomic,
)
from flipkart_contract.latency import measure_latency, ort_session, synthetic_pixels
from torch import nn

from flipkart_torch import checkpoints
from flipkart_torch.data import SplitData, check_classes, check_images, load_split, read_splits
from flipkart_torch.evaluation import evaluate
from flipkart_torch.paths import FRAMEWORK
from flipkart_torch.precision import (
    check_precision,
    graph_metrics,
    reduce_precision,
    require_passed,
    run_logits,
)
from flipkart_torch.run_log import utc_now

OPSET = 17
PARITY_TOLERANCE = 1e-3
MAX_ONNX_BYTES = 25 * 1024 * 1024


class ParityError(RuntimeError):
    """The ONNX graph does not reproduce the PyTorch logits: no card is written."""


class PixelsModel(nn.Module):
    """float NHWC 0-255 -> logits; (x/255 - mean)/std folded into one subtract and divide;
    `tta="flip"` averages the logits of the image and its mirror inside the graph."""

    def __init__(self, model: nn.Module, mean: tuple, std: tuple, tta: str = "none") -> None:
        super().__init__()
        self.model = model
        self.tta = tta
        self.register_buffer("offset", 255.0 * torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("scale", 255.0 * torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = (pixels.permute(0, 3, 1, 2) - self.offset) / self.scale
        logits = self.model(x)
        if self.tta == "flip":
            logits = (logits + self.model(x.flip(-1))) / 2
        return logits


def load_pixels_model(path: str | Path) -> tuple[PixelsModel, dict[str, Any]]:
    """A `best.pt` as the graph the service runs (its normalisation and test-time augmentation
    inside, eval mode), and the checkpoint's other entries."""
    model, best = checkpoints.load_model(path)
    tta = best.get("config", {}).get("tta", "none")
    return PixelsModel(model, tuple(best["mean"]), tuple(best["std"]), tta).eval(), best


def export_onnx(wrapper: nn.Module, size: int, path: Path) -> None:
    dummy = torch.rand(2, size, size, 3) * 255
    wrapper.eval()
    names = {"input_names": ["pixels"], "output_names": ["logits"], "opset_version": OPSET}
    try:
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
            **names,
        )
    except Exception:  # the TorchScript exporter cannot trace it: try torch.export
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            dynamic_shapes=({0: batch},),
            dynamo=True,
            external_data=False,
            **names,
        )


def check_parity(wrapper: nn.Module, session, pixels: np.ndarray) -> dict[str, Any]:
    """Compare ORT with eager PyTorch on uint8 NHWC `pixels`; raise ParityError on mismatch."""
    batch = pixels.astype(np.float32)
    with torch.no_grad():
        expected = wrapper(torch.from_numpy(batch)).numpy()
    got = session.run(["logits"], {"pixels": batch})[0]
    diff = float(np.abs(expected - got).max())
    agreement = float((expected.argmax(1) == got.argmax(1)).mean())
    result = {"max_abs_logit_diff": diff, "top1_agreement": agreement, "num_images": len(batch)}
    if not diff <= PARITY_TOLERANCE or agreement < 1.0:
        raise ParityError(
            f"ONNX parity failed on {len(batch)} test images: max |Δlogit| {diff:.3g} "
            f"(limit {PARITY_TOLERANCE}), top-1 agreement {agreement:.3f}; no card written"
        )
    return result


def split_views(
    best: dict[str, Any], splits_csv: str | Path | None, images_dir: str | Path | None, split: str
):
    """A split of the data, checked against the checkpoint's classes, as the model's views."""
    splits_csv = Path(splits_csv or layout.splits_csv())
    images_dir = Path(images_dir or layout.images_dir())
    table = read_splits(splits_csv)
    check_images(table, images_dir)
    check_classes(class_names(splits_csv), best["classes"])
    return load_split(table, split, best["classes"], images_dir, best["resize_policy"])


def build_card(
    best: dict[str, Any],
    model: nn.Module,
    onnx_path: Path,
    metrics_path: Path,
    parity: dict[str, Any],
    latency: dict[str, Any],
    notes: str | None = None,
    reduced: dict[str, Any] | None = None,
) -> ModelCard:
    """The card of an exported checkpoint; its test figures are the run's (metrics.json), or
    for a reduced-precision graph (`reduced`: precision, precision_check, metrics) its own."""
    final = load_metrics(metrics_path).final
    test = final.test.model_copy(update={"loss": None})
    val = final.val.model_copy(update={"loss": None})
    metrics = {"test": test, "val": val}
    extra: dict[str, Any] = {}
    if reduced is not None:
        metrics = reduced["metrics"]
        extra = {k: reduced[k] for k in ("precision", "precision_check")}
    policy = best["resize_policy"]
    return ModelCard(
        architecture=best["architecture"],
        framework=FRAMEWORK,
        run_id=best["run_id"],
        training_mode=best["training_mode"],
        classes=best["classes"],
        input={"height": policy.size, "width": policy.size},
        resize_policy=policy,
        metrics=metrics,
        latency_ms=latency,
        parity=parity,
        parameters=sum(p.numel() for p in model.parameters()),
        test_time_augmentation=best.get("config", {}).get("tta", "none"),
        weights_source=best["weights_source"],
        onnx={"sha256": sha256_file(onnx_path), "bytes": onnx_path.stat().st_size, "opset": OPSET},
        created_at=utc_now(),
        notes=notes,
        **extra,
    )


def export_run(
    run: str,
    models_dir: str | Path | None = None,
    parity_images: int = 32,
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    max_bytes: int | None = MAX_ONNX_BYTES,
    tamper=None,
    precision: str = "fp32",
) -> dict[str, Any]:
    """Export a run's best checkpoint; write model.onnx + card.json only when parity holds
    (and, below fp32, the acceptance rule of `flipkart_torch.precision`). Returns the card.

    `tamper(path)` (tests only) may alter the ONNX file before the parity check.
    """
    wrapper, best = load_pixels_model(checkpoints.resolve_best(run))
    run_id = best["run_id"]
    metrics_path = Path(runs_dir or layout.runs_dir(FRAMEWORK)) / run_id / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path} not found: the card's test metrics come from it")
    test = split_views(best, splits_csv, images_dir, "test")
    splits = None
    if precision != "fp32":  # the reduced graph is judged on, and scores, whole splits
        splits = {"test": test, "val": split_views(best, splits_csv, images_dir, "val")}
    pixels = test.images[:parity_images]
    return export_checked(
        wrapper,
        best,
        pixels,
        metrics_path,
        models_dir,
        max_bytes,
        tamper,
        precision=precision,
        splits=splits,
    )


def _reduce_and_check(
    fp32_path: Path,
    fp32_session,
    precision: str,
    splits: dict[str, SplitData],
    classes: list[str],
    run_id: str,
) -> tuple[Path, Any, dict[str, Any]]:
    """The reduced graph beside the fp32 one, its session, and its card entries; raises
    `PrecisionError` when it fails the acceptance rule on the test split."""
    path = fp32_path.with_name(f"model.{precision}.onnx")
    method = reduce_precision(fp32_path, path, precision)
    session = ort_session(path, torch.get_num_threads())
    test = splits["test"]
    logits = run_logits(session, test.images)
    check = check_precision(
        run_logits(fp32_session, test.images),
        logits,
        test.labels,
        method=method,
        fp32_bytes=fp32_path.stat().st_size,
    )
    require_passed(check, precision, run_id)
    metrics = {"test": graph_metrics(logits, test.labels, classes)}
    for name, data in splits.items():
        if name != "test":
            metrics[name] = graph_metrics(run_logits(session, data.images), data.labels, classes)
    reduced = {"precision": precision, "precision_check": check, "metrics": metrics}
    return path, session, reduced


def export_checked(
    wrapper: nn.Module,
    best: dict[str, Any],
    pixels: np.ndarray,
    metrics_path: Path,
    models_dir: str | Path | None = None,
    max_bytes: int | None = MAX_ONNX_BYTES,
    tamper=None,
    notes: str | None = None,
    precision: str = "fp32",
    splits: dict[str, SplitData] | None = None,
) -> dict[str, Any]:
    """Export `wrapper` (pixels -> logits), check parity on `pixels`, time it, and write
    model.onnx + card.json under `models_dir/<run_id>/` only when every check holds.

    Below fp32 (`precision` fp16 or int8, `splits` the test and val data), the fp32 graph that
    passed parity is converted, judged against fp32 on the whole test split, scored on `splits`
    and timed; it becomes model.onnx, and the fp32 graph is kept beside it as model.fp32.onnx
    (git-ignored, as every non-production ONNX)."""
    run_id = best["run_id"]
    size = best["resize_policy"].size
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = onnx_path = Path(tmp) / "model.onnx"
        export_onnx(wrapper, size, onnx_path)
        if tamper is not None:
            tamper(onnx_path)
        session = ort_session(onnx_path, threads)
        parity = check_parity(wrapper, session, pixels)
        reduced = None
        if precision != "fp32":
            if splits is None:
                raise ValueError(f"a {precision} export needs the test and val splits")
            onnx_path, session, reduced = _reduce_and_check(
                fp32_path, session, precision, splits, best["classes"], run_id
            )
        latency = measure_latency(session, synthetic_pixels(1, size), threads=threads)
        size_bytes = onnx_path.stat().st_size
        if max_bytes is not None and size_bytes > max_bytes:
            raise ValueError(
                f"{run_id}: model.onnx ({precision}) is {size_bytes / 2**20:.1f} MB, over the "
                f"{max_bytes / 2**20:.0f} MB limit for artifacts/models/ (parity {parity}, "
                f"latency {latency}); not written"
            )
        card = build_card(
            best, wrapper, onnx_path, metrics_path, parity, latency, notes, reduced=reduced
        )
        data = card.model_dump(mode="json", exclude_none=True)
        target = Path(models_dir or layout.models_dir()) / run_id
        target.mkdir(parents=True, exist_ok=True)
        files = {"model.onnx": onnx_path}
        if reduced is not None:
            files["model.fp32.onnx"] = fp32_path
        else:  # a reference left by an earlier reduced export of this run is stale now
            (target / "model.fp32.onnx").unlink(missing_ok=True)
        for name, source in files.items():
            shutil.copyfile(source, target / f".{name}.tmp")
            (target / f".{name}.tmp").replace(target / name)
        write_json_atomic(target / "card.json", data)
    return data


def evaluate_checkpoint(
    checkpoint: str | Path,
    split: str = "test",
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    tta: str = "none",
) -> dict[str, Any]:
    """A checkpoint's figures on a split (the contract's split metrics, plus ms per image);
    `tta="flip"` averages each image with its mirror, as an export with TTA would."""
    model, best = checkpoints.load_model(checkpoints.resolve_best(str(checkpoint)))
    data = split_views(best, splits_csv, images_dir, split)
    mean, std = tuple(best["mean"]), tuple(best["std"])
    result = evaluate(model, data, best["classes"], mean, std, torch.device("cpu"), tta=tta)
    figures = result.metrics.model_dump(mode="json", exclude_none=True)
    return {**figures, "ms_per_image": result.ms_per_image}
