"""Training throughput and inference latency (Keras vs ONNX Runtime) measured in one run.

Weights do not change speed, so the model is built from random initialisation; inputs are
random pixels. The machine's load average is recorded because these CPUs may be shared.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np
from flipkart_contract import layout, write_json_atomic
from flipkart_contract.latency import measure_latency, median_ms, ort_session

from flipkart_tf import hardware
from flipkart_tf.callbacks import inference_function
from flipkart_tf.models import canonical_name, create_model
from flipkart_tf.onnx_export import INPUT_NAME, OPSET, to_onnx


def measure(
    architecture: str = "efficientnet_b0",
    image_size: int = 224,
    batch_size: int = 16,
    train_steps: int = 5,
    repeats: int = 10,
    threads: int = 2,
    num_classes: int = 7,
    seed: int = 0,
) -> dict[str, Any]:
    hardware.set_threads(threads)
    keras.utils.set_random_seed(seed)
    architecture = canonical_name(architecture)
    model = create_model(architecture, num_classes, image_size, "none", "finetune").model
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        jit_compile=False,
    )
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype(np.float32)
    y = np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, batch_size)]
    print(f"bench {architecture} @{image_size}px: tracing the train step", file=sys.stderr)
    for _ in range(2):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(train_steps):
        model.train_on_batch(x, y)
    train_rate = train_steps * batch_size / (time.perf_counter() - start)

    print("bench: Keras inference latency", file=sys.stderr)
    infer = inference_function(model)
    one, sixteen = x[:1], np.concatenate([x] * (16 // batch_size + 1))[:16]
    keras_ms = {
        "batch_1": median_ms(lambda: infer(one).numpy(), repeats),
        "batch_16_per_image": median_ms(lambda: infer(sixteen).numpy(), repeats) / 16,
    }
    print("bench: ONNX export and ONNX Runtime latency", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = to_onnx(model, image_size, Path(tmp) / "model.onnx")
        session = ort_session(path, threads)
        ort_ms = measure_latency(session, sixteen, threads=threads, repeats=repeats)
        onnx_out = session.run(None, {INPUT_NAME: sixteen})[0]
        max_diff = float(np.abs(onnx_out - infer(sixteen).numpy()).max())
    return {
        "schema_version": 2,
        "framework": "tensorflow",
        "architecture": architecture,
        "image_size": image_size,
        "weights": "random initialisation (speed does not depend on weights)",
        "hardware": {**hardware.describe(), "load_average_1min": os.getloadavg()[0]},
        "train": {
            "batch_size": batch_size,
            "timed_steps": train_steps,
            "images_per_s": train_rate,
            "optimizer": "AdamW",
        },
        "inference_ms": {
            "keras": {**keras_ms, "threads": threads},
            "onnxruntime": {**ort_ms, "opset": OPSET},
        },
        "onnx_vs_keras_max_abs_logit_diff": max_diff,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def run_bench(output: str | Path | None = None, **kwargs: Any) -> Path:
    result = measure(**kwargs)
    return write_json_atomic(output or layout.bench_results("tensorflow"), result)
