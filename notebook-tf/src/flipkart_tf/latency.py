"""Latency timing shared by export (card) and bench: median of repeated calls after warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort


def median_ms(call: Callable[[], object], repeats: int = 10, warmup: int = 2) -> float:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def ort_session(path: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def ort_latency(
    session: ort.InferenceSession, image_size: int, repeats: int = 10, seed: int = 0
) -> dict[str, float]:
    """ms for one image at batch 1, and ms per image at batch 16."""
    rng = np.random.default_rng(seed)
    one = rng.uniform(0, 255, (1, image_size, image_size, 3)).astype(np.float32)
    sixteen = rng.uniform(0, 255, (16, image_size, image_size, 3)).astype(np.float32)
    name = session.get_inputs()[0].name
    return {
        "batch_1": median_ms(lambda: session.run(None, {name: one}), repeats),
        "batch_16_per_image": median_ms(lambda: session.run(None, {name: sixteen}), repeats) / 16,
    }
