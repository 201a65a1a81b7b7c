"""One prediction: fetch (URL) → decode → resize → batched inference → probabilities."""

import io
import time

import numpy as np
from PIL import Image
from starlette.concurrency import run_in_threadpool

from flipkart_api.errors import ApiError
from flipkart_api.fetch import fetch_image
from flipkart_api.inputs import Source
from flipkart_api.metrics import Metrics
from flipkart_api.models import LoadedModel
from flipkart_api.preprocess import ResizePolicy, decode_image, resize, to_pixels
from flipkart_api.settings import Settings


async def source_bytes(source: Source, settings: Settings) -> bytes:
    if source.error is not None:
        raise source.error
    if source.url is not None:
        return await fetch_image(
            source.url,
            max_bytes=settings.max_upload_bytes,
            timeout_s=settings.url_timeout_s,
            max_redirects=settings.url_max_redirects,
            allow_private=settings.url_allow_private,
        )
    return source.data or b""


def prepare(data: bytes, policy: ResizePolicy, max_pixels: int) -> tuple[Image.Image, float, float]:
    """The model's view of the image, with decode and resize times in ms."""
    start = time.perf_counter()
    image = decode_image(data, max_pixels, policy)
    decoded = time.perf_counter()
    view = resize(image, policy)
    return view, (decoded - start) * 1000, (time.perf_counter() - decoded) * 1000


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - np.max(logits)
    exp = np.exp(shifted)
    return exp / exp.sum()


def check_top_k(top_k: int | None, model: LoadedModel) -> int:
    count = len(model.classes)
    if top_k is None:
        return count
    if not 1 <= top_k <= count:
        raise ApiError(422, "invalid_top_k", f"top_k must be between 1 and {count}.")
    return top_k


async def predict(
    source: Source,
    model: LoadedModel,
    top_k: int,
    settings: Settings,
    metrics: Metrics,
) -> dict:
    start = time.perf_counter()
    data = await source_bytes(source, settings)
    view, decode_ms, preprocess_ms = await run_in_threadpool(
        prepare, data, model.policy, settings.max_pixels
    )
    pixels = to_pixels(view)
    inference_start = time.perf_counter()
    logits = await model.batcher.submit(pixels)
    inference_ms = (time.perf_counter() - inference_start) * 1000
    probabilities = softmax(logits)
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    classes = model.classes
    best = int(order[0])
    confidence = float(probabilities[best])
    metrics.predictions.labels(model.run_id, classes[best]).inc()
    return {
        "id": None,
        "cached": False,
        "model": {
            "name": model.name,
            "run_id": model.run_id,
            "framework": model.card.get("framework"),
        },
        "label": classes[best],
        "confidence": confidence,
        "uncertain": confidence < settings.uncertain_threshold,
        "probabilities": [
            {"label": classes[int(i)], "probability": float(probabilities[int(i)])} for i in order
        ],
        "latency_ms": {
            "decode": round(decode_ms, 3),
            "preprocess": round(preprocess_ms, 3),
            "inference": round(inference_ms, 3),
            "total": round((time.perf_counter() - start) * 1000, 3),
        },
    }


async def model_view_png(source: Source, model: LoadedModel, settings: Settings) -> bytes:
    data = await source_bytes(source, settings)
    view, _, _ = await run_in_threadpool(prepare, data, model.policy, settings.max_pixels)
    buffer = io.BytesIO()
    view.save(buffer, format="PNG")
    return buffer.getvalue()
