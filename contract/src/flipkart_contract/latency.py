"""ONNX Runtime latency, measured one way for export, the leaderboard, promotion and benches.

onnxruntime is not a dependency of this package: the caller has it (the labs and the backend
do), and it is imported only when a session is built here.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def cpu_name() -> str:
    """The CPU model, e.g. "AMD EPYC 9B14" (falls back to the platform's processor string)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def median_ms(call: Callable[[], object], repeats: int = 20, warmup: int = 2) -> float:
    """Median wall time of `call` in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def ort_session(model_path: str | os.PathLike[str], threads: int = 0) -> Any:
    """A CPU ONNX Runtime session: `threads` intra-op threads (0 = ONNX Runtime's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


def synthetic_pixels(count: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def measure_latency(
    session: Any,
    pixels: np.ndarray,
    *,
    threads: int,
    repeats: int = 20,
    input_name: str = "pixels",
) -> dict[str, Any]:
    """The card's `latency_ms`: median ms at batch 1, median ms per image at batch 16.

    `pixels` is `[N, H, W, 3]` float32 (N ≥ 1; it is tiled up to 16 for the batch figure), so
    every caller times the same thing: ONNX Runtime inference only, no decoding.
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    if pixels.ndim != 4 or pixels.shape[0] < 1:
        raise ValueError(f"pixels must be [N, H, W, 3] with N >= 1, got {pixels.shape}")
    sixteen = np.resize(pixels, (16, *pixels.shape[1:])) if len(pixels) != 16 else pixels
    one = pixels[:1]
    batch_1 = median_ms(lambda: session.run(None, {input_name: one}), repeats)
    batch_16 = median_ms(lambda: session.run(None, {input_name: sixteen}), max(3, repeats // 4))
    return {
        "batch_1": round(batch_1, 3),
        "batch_16_per_image": round(batch_16 / 16, 3),
        "threads": threads,
        "provider": "CPUExecutionProvider",
        "hardware": cpu_name(),
    }
