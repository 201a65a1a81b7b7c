"""One explanation: image bytes (fetched when a URL) → the model's view → occlusion heatmap of
one class (flipkart_api.explain) → the grid of drops and a PNG overlay. Not stored, not cached.

The cost is bounded three ways: the grid (at most `explain.MAX_GRID`², so the work does not grow
with the upload), the decode memory budget (the decode, and each occluded batch while it runs),
and a per-process limit on explanations at once (`ExplainSlots`, waiting then 503).
"""

import base64
import time
from contextlib import nullcontext

import numpy as np
from starlette.concurrency import run_in_threadpool

from flipkart_api.catalog import LoadedModel
from flipkart_api.errors import ApiError
from flipkart_api.explain import occlusion_probabilities, overlay_png
from flipkart_api.inputs import Source
from flipkart_api.memory import DecodeBudget
from flipkart_api.services.prediction import PredictionService, elapsed_ms

BUSY = "The server is computing other explanations; retry shortly."


def explain_slots(concurrency: int, wait_s: float) -> DecodeBudget:
    """At most `concurrency` explanations at once: a budget of one unit per explanation."""
    return DecodeBudget(concurrency, wait_s, busy_message=BUSY)


def class_index(model: LoadedModel, label: str | None) -> int | None:
    """The index of `label` in the model's classes (None: explain the predicted class)."""
    if label is None:
        return None
    if label not in model.classes:
        valid = ", ".join(model.classes)
        raise ApiError(422, "unknown_label", f"Unknown label {label!r}. Valid labels: {valid}.")
    return model.classes.index(label)


async def explain(
    service: PredictionService,
    slots: DecodeBudget,
    source: Source,
    model: LoadedModel,
    label: str | None,
    grid: int,
    chunk: int,
) -> dict:
    start = time.perf_counter()
    wanted = class_index(model, label)
    data = await service.image_bytes(source)
    timings: dict[str, float] = {}
    pixels = await service.model_pixels(data, model, timings)
    batch_bytes = min(chunk, grid * grid) * pixels.nbytes
    budget = service.budget
    async with slots.reserve(1):
        reserved = budget.reserve(batch_bytes) if budget is not None else nullcontext()
        async with reserved:
            inference_start = time.perf_counter()
            full, hidden = await run_in_threadpool(
                occlusion_probabilities, model.infer, pixels, grid, model.policy.pad_color, chunk
            )
            inference_ms = elapsed_ms(inference_start)
    predicted = int(np.argmax(full))
    index = predicted if wanted is None else wanted
    drops = full[index] - hidden[..., index]
    png = await run_in_threadpool(overlay_png, pixels, drops)
    height, width = pixels.shape[:2]
    return {
        "model": model.ref(),
        "label": model.classes[index],
        "predicted": model.classes[predicted],
        "probability": float(full[index]),
        "grid": grid,
        "image_size": [height, width],
        "occlusion_colour": list(model.policy.pad_color),
        "drops": np.round(drops, 6).tolist(),
        "max_drop": float(drops.max()),
        "min_drop": float(drops.min()),
        "images_run": grid * grid + 1,
        "overlay_png": base64.b64encode(png).decode("ascii"),
        "latency_ms": {
            "decode": round(timings["decode"], 3),
            "preprocess": round(timings["preprocess"], 3),
            "inference": inference_ms,
            "total": elapsed_ms(start),
        },
    }
