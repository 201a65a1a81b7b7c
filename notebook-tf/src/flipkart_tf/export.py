"""Export a finished run to artifacts/models/<run_id>/{model.onnx, card.json}.

The card is written only after the ONNX model matches Keras on real test images
(max |Δlogit| ≤ 1e-3 and the same top-1 on every image).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from flipkart_contract import (
    ModelCard,
    ResizePolicy,
    RunMetrics,
    layout,
    load_metrics,
    sha256_file,
    write_json_atomic,
)
from flipkart_contract.latency import measure_latency, ort_session

from flipkart_tf import data
from flipkart_tf.callbacks import inference_function
from flipkart_tf.models import create_model
from flipkart_tf.onnx_export import INPUT_NAME, OPSET, OUTPUT_NAME, to_onnx
from flipkart_tf.train import FRAMEWORK, policy_from_config

MAX_ABS_LOGIT_DIFF = 1e-3
MAX_ONNX_BYTES = 25 * 1024 * 1024


class ExportError(RuntimeError):
    """Parity failed, the file is too large, or the run cannot be exported."""


def load_run(run: str | Path) -> tuple[Path, RunMetrics]:
    """A run folder (or a run_id under runs/tensorflow/) and its metrics.json (any version)."""
    run_dir = Path(run)
    if not run_dir.is_dir():
        run_dir = layout.runs_dir(FRAMEWORK) / str(run)
    metrics_path = run_dir / "metrics.json"
    if not metrics_path.is_file():
        raise ExportError(f"no metrics.json in {run_dir}: is it a finished run?")
    return run_dir, load_metrics(metrics_path)


def restore_model(metrics: RunMetrics, checkpoint: str | Path | None = None):
    """The trained Keras model of a run, from its best checkpoint."""
    config = metrics.config
    if checkpoint is None and metrics.checkpoint is None:
        raise ExportError(f"metrics.json of {metrics.run_id} names no checkpoint")
    path = layout.resolve(checkpoint or metrics.checkpoint)
    if not path.is_file():
        raise ExportError(f"checkpoint {path} not found (checkpoints stay on the training machine)")
    built = create_model(
        metrics.architecture,
        len(metrics.classes),
        config["image_size"],
        "none",
        metrics.training_mode,
        config["dropout"],
        config.get("bn_momentum"),
    )
    built.model.load_weights(path)
    return built.model


def policy_of(metrics: RunMetrics) -> ResizePolicy:
    """The run's resize policy, from its config."""
    return policy_from_config(metrics.config)


def parity(model, onnx_path: Path, pixels: np.ndarray, threads: int) -> dict[str, Any]:
    pixels = pixels.astype(np.float32)
    keras_logits = np.asarray(inference_function(model)(pixels))
    session = ort_session(onnx_path, threads)
    onnx_logits = session.run([OUTPUT_NAME], {INPUT_NAME: pixels})[0]
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
    run_id = metrics.run_id
    policy = policy_of(metrics)
    model = restore_model(metrics, checkpoint)
    out_dir = Path(models_dir or layout.models_dir()) / run_id

    test = data.load_split(
        data.read_splits(splits_csv or layout.splits_csv()),
        "test",
        images_dir or layout.images_dir(),
        metrics.classes,
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
        latency = measure_latency(
            ort_session(onnx_path, threads), test.images, threads=threads, input_name=INPUT_NAME
        )
        card = ModelCard(
            architecture=metrics.architecture,
            framework=FRAMEWORK,
            run_id=run_id,
            training_mode=metrics.training_mode,
            classes=metrics.classes,
            input={"name": INPUT_NAME, "height": policy.size, "width": policy.size},
            output={"name": OUTPUT_NAME},
            resize_policy=policy,
            metrics={
                "test": metrics.final.test.model_copy(update={"loss": None}),
                "val": metrics.final.val.model_copy(update={"loss": None}),
            },
            latency_ms=latency,
            parity=check,
            parameters=int(model.count_params()),
            weights_source=metrics.weights_source,
            onnx={"sha256": sha256_file(onnx_path), "bytes": size, "opset": OPSET},
            created_at=datetime.now(UTC).replace(microsecond=0),
            notes=metrics.notes or None,
        )
        write_json_atomic(staging / "card.json", card.model_dump(mode="json", exclude_none=True))
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
