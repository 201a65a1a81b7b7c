"""Export a finished run to artifacts/models/<run_id>/{model.onnx, card.json}.

The card is written only after the ONNX model matches Keras on real test images
(max |Δlogit| ≤ 1e-3 and the same top-1 on every image).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from flipkart_tf import data, hardware, paths
from flipkart_tf.callbacks import inference_function
from flipkart_tf.jsonio import read_json, utc_now, write_json
from flipkart_tf.latency import ort_latency, ort_session
from flipkart_tf.models import create_model
from flipkart_tf.onnx_export import INPUT_NAME, OPSET, OUTPUT_NAME, to_onnx
from flipkart_tf.preprocess import ResizePolicy

MAX_ABS_LOGIT_DIFF = 1e-3
MAX_ONNX_BYTES = 25 * 1024 * 1024


class ExportError(RuntimeError):
    """Parity failed, the file is too large, or the run cannot be exported."""


def load_run(run: str | Path) -> tuple[Path, dict[str, Any]]:
    """A run folder (or a run_id under runs/tensorflow/) and its metrics.json."""
    run_dir = Path(run)
    if not run_dir.is_dir():
        run_dir = paths.runs_dir() / str(run)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise ExportError(f"no metrics.json in {run_dir}: is it a finished run?")
    return run_dir, read_json(metrics_path)


def restore_model(metrics: dict[str, Any], checkpoint: str | Path | None = None):
    """The trained Keras model of a run, from its best checkpoint."""
    config = metrics["config"]
    path = paths.resolve(checkpoint or metrics["checkpoint"])
    if not path.is_file():
        raise ExportError(f"checkpoint {path} not found (checkpoints stay on the training machine)")
    built = create_model(
        metrics["model"],
        len(metrics["classes"]),
        config["image_size"],
        "none",
        metrics["mode"],
        config["dropout"],
        config.get("bn_momentum"),
    )
    built.model.load_weights(path)
    return built.model


def policy_of(metrics: dict[str, Any]) -> ResizePolicy:
    c = metrics["config"]
    return ResizePolicy(
        c["resize_mode"],
        c["image_size"],
        c["interpolation"],
        c["crop_pct"],
        tuple(c["pad_color"]),
    )


def parity(model, onnx_path: Path, pixels: np.ndarray, threads: int) -> dict[str, float | int]:
    keras_logits = np.asarray(inference_function(model)(pixels.astype(np.float32)))
    session = ort_session(str(onnx_path), threads)
    onnx_logits = session.run([OUTPUT_NAME], {INPUT_NAME: pixels.astype(np.float32)})[0]
    return {
        "max_abs_logit_diff": float(np.abs(keras_logits - onnx_logits).max()),
        "top1_agreement": float((keras_logits.argmax(1) == onnx_logits.argmax(1)).mean()),
        "num_images": len(pixels),
    }


def export_run(
    run: str | Path,
    models_dir: str | Path | None = None,
    splits_csv: str | Path | None = None,
    images_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
    parity_images: int = 32,
    threads: int = 2,
) -> Path:
    _, metrics = load_run(run)
    run_id = metrics["run_id"]
    policy = policy_of(metrics)
    model = restore_model(metrics, checkpoint)
    out_dir = Path(models_dir or paths.models_dir()) / run_id

    frame = data.read_splits(splits_csv or paths.splits_csv())
    test = data.load_split(
        frame,
        "test",
        images_dir or paths.images_dir(),
        metrics["classes"],
        policy,
        limit=parity_images,
        progress=False,
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run_id}.", dir=out_dir.parent))
    try:
        print(f"converting {run_id} to ONNX (opset {OPSET})", file=sys.stderr, flush=True)
        onnx_path = to_onnx(model, policy.size, staging / "model.onnx")
        size = onnx_path.stat().st_size
        if size > MAX_ONNX_BYTES:
            raise ExportError(f"model.onnx is {size / 2**20:.1f} MB, over the 25 MB limit")
        check = parity(model, onnx_path, test.images, threads)
        print(f"parity on {check['num_images']} test images: {check}", file=sys.stderr)
        if check["max_abs_logit_diff"] > MAX_ABS_LOGIT_DIFF or check["top1_agreement"] < 1.0:
            raise ExportError(
                f"parity failed (max |Δlogit| {check['max_abs_logit_diff']:.2e}, top-1 "
                f"agreement {check['top1_agreement']:.3f}): no card written"
            )
        latency = ort_latency(ort_session(str(onnx_path), threads), policy.size)
        test_metrics = {k: v for k, v in metrics["final"]["test"].items() if k != "loss"}
        card = {
            "schema_version": 1,
            "name": metrics["model"],
            "framework": "tensorflow",
            "run_id": run_id,
            "mode": metrics["mode"],
            "classes": metrics["classes"],
            "input": {
                "name": INPUT_NAME,
                "layout": "NHWC",
                "dtype": "float32",
                "value_range": [0, 255],
                "height": policy.size,
                "width": policy.size,
            },
            "output": {"name": OUTPUT_NAME},
            "preprocessing": policy.card(),
            "metrics": {"test": test_metrics},
            "latency_ms": {
                **latency,
                "threads": threads,
                "provider": "CPUExecutionProvider",
                "hardware": hardware.cpu_name(),
            },
            "parity": check,
            "parameters": int(model.count_params()),
            "weights_source": metrics["weights_source"],
            "notes": metrics.get("notes", ""),
            "onnx": {
                "file": "model.onnx",
                "sha256": data.file_sha256(onnx_path),
                "bytes": size,
                "opset": OPSET,
            },
            "created_at": utc_now(),
        }
        write_json(staging / "card.json", card)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.chmod(0o755)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(
        f"exported {run_id}: {size / 2**20:.1f} MB, ORT {latency['batch_1']:.1f} ms at batch 1",
        file=sys.stderr,
    )
    return out_dir
