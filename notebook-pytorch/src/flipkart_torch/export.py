"""ONNX export per the model contract: NHWC float 0-255 `pixels` in, `logits` out, normalisation
inside the graph, dynamic batch; parity against PyTorch on real test images before any card."""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from flipkart_torch import paths
from flipkart_torch.data import check_classes, check_images, class_names, load_split, read_splits
from flipkart_torch.models.factory import create_model
from flipkart_torch.run_log import cpu_name, write_json
from flipkart_torch.train import evaluate, utc_now

OPSET = 17
PARITY_TOLERANCE = 1e-3
MAX_ONNX_BYTES = 25 * 1024 * 1024


class ParityError(RuntimeError):
    """The ONNX graph does not reproduce the PyTorch logits: no card is written."""


class PixelsModel(nn.Module):
    """float NHWC 0-255 -> logits; (x/255 - mean)/std folded into one subtract and divide."""

    def __init__(self, model: nn.Module, mean: tuple, std: tuple) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("offset", 255.0 * torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("scale", 255.0 * torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.permute(0, 3, 1, 2)
        return self.model((x - self.offset) / self.scale)


def load_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found (train first: flipkart-torch train)")
    best = torch.load(path, map_location="cpu", weights_only=False)
    model = create_model(best["model_name"], num_classes=len(best["classes"]))
    model.load_state_dict(best["model"])
    model.eval()
    return model, best


def export_onnx(wrapper: nn.Module, size: int, path: Path) -> None:
    dummy = torch.rand(2, size, size, 3) * 255
    wrapper.eval()
    try:
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    except Exception:  # the TorchScript exporter cannot trace it: try torch.export
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(
            wrapper,
            (dummy,),
            str(path),
            input_names=["pixels"],
            output_names=["logits"],
            dynamic_shapes=({0: batch},),
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
        )


def ort_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


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


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def ort_latency(session, size: int, repeats: int = 20) -> dict[str, Any]:
    one = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    sixteen = np.repeat(one, 16, axis=0)
    batch_1 = median_ms(lambda: session.run(["logits"], {"pixels": one}), repeats)
    batch_16 = median_ms(lambda: session.run(["logits"], {"pixels": sixteen}), max(5, repeats // 4))
    return {
        "batch_1": round(batch_1, 3),
        "batch_16_per_image": round(batch_16 / 16, 3),
        "threads": session.get_session_options().intra_op_num_threads,
        "provider": "CPUExecutionProvider",
        "hardware": cpu_name(),
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_checkpoint(run: str) -> Path:
    candidate = Path(run)
    if candidate.suffix == ".pt":
        return candidate
    return paths.checkpoints_dir() / run / "best.pt"


def export_run(
    run: str,
    models_dir: str | Path | None = None,
    parity_images: int = 32,
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    max_bytes: int = MAX_ONNX_BYTES,
    tamper=None,
) -> dict[str, Any]:
    """Export a run's best checkpoint; write model.onnx + card.json only when parity holds.

    `tamper(path)` (tests only) may alter the ONNX file before the parity check.
    """
    model, best = load_checkpoint(resolve_checkpoint(run))
    run_id = best["run_id"]
    classes = best["classes"]
    preprocessing = best["preprocessing"]
    size = preprocessing["size"]
    metrics_path = Path(runs_dir or paths.runs_dir()) / run_id / "metrics.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path} not found: the card's test metrics come from it")
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))

    table = read_splits(splits_csv or paths.splits_csv())
    check_images(table, images_dir or paths.images_dir())
    check_classes(class_names(table), classes)
    test = load_split(
        table, "test", classes, images_dir or paths.images_dir(), preprocessing, cache_dir=None
    )
    pixels = test.images[:parity_images]

    wrapper = PixelsModel(model, tuple(best["mean"]), tuple(best["std"])).eval()
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        export_onnx(wrapper, size, onnx_path)
        if tamper is not None:
            tamper(onnx_path)
        session = ort_session(onnx_path)
        parity = check_parity(wrapper, session, pixels)
        latency = ort_latency(session, size)
        size_bytes = onnx_path.stat().st_size
        if size_bytes > max_bytes:
            raise ValueError(
                f"{run_id}: model.onnx is {size_bytes / 2**20:.1f} MB, over the "
                f"{max_bytes / 2**20:.0f} MB limit for artifacts/models/ (parity {parity}, "
                f"latency {latency}); not written"
            )
        card = {
            "schema_version": 1,
            "name": best["model_name"],
            "framework": "pytorch",
            "run_id": run_id,
            "mode": best["config"]["mode"],
            "classes": classes,
            "input": {
                "name": "pixels",
                "layout": "NHWC",
                "dtype": "float32",
                "value_range": [0, 255],
                "height": size,
                "width": size,
            },
            "output": {"name": "logits"},
            "preprocessing": preprocessing,
            "metrics": {"test": {k: metrics["final"]["test"][k] for k in _CARD_TEST_KEYS}},
            "latency_ms": latency,
            "parity": parity,
            "parameters": sum(p.numel() for p in model.parameters()),
            "weights_source": best["weights_source"],
            "onnx": {
                "file": "model.onnx",
                "sha256": sha256(onnx_path),
                "bytes": size_bytes,
                "opset": OPSET,
            },
            "created_at": utc_now(),
        }
        target = Path(models_dir or paths.models_dir()) / run_id
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, target / ".model.onnx.tmp")
        (target / ".model.onnx.tmp").replace(target / "model.onnx")
        write_json(target / "card.json", card)
    return card


_CARD_TEST_KEYS = ("accuracy", "macro_f1", "num_images", "per_class", "confusion_matrix")


def evaluate_checkpoint(
    checkpoint: str | Path,
    split: str = "test",
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
) -> dict[str, Any]:
    model, best = load_checkpoint(resolve_checkpoint(str(checkpoint)))
    table = read_splits(splits_csv or paths.splits_csv())
    check_images(table, images_dir or paths.images_dir())
    check_classes(class_names(table), best["classes"])
    data = load_split(
        table,
        split,
        best["classes"],
        images_dir or paths.images_dir(),
        best["preprocessing"],
        cache_dir=None,
    )
    figures = evaluate(
        model, data, best["classes"], tuple(best["mean"]), tuple(best["std"]), torch.device("cpu")
    )
    return {k: v for k, v in figures.items() if k not in ("logits", "preds")}
