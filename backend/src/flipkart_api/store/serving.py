"""The predict path with the store: answer from the store when this image met this model before,
else run the model, commit the prediction, and only then answer with its id."""

import hashlib
import time

from fastapi import Request

from flipkart_api import service
from flipkart_api.inputs import Source
from flipkart_api.models import LoadedModel
from flipkart_api.state import AppState
from flipkart_api.store.predictions import PredictionStore
from flipkart_api.store.repository import NewPrediction
from flipkart_api.store.tables import Prediction


def request_source(request: Request, source: Source) -> str:
    if source.url is not None:
        return "url"
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return {"multipart/form-data": "upload", "application/json": "base64"}.get(content_type, "raw")


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def cached_answer(
    row: Prediction, model: LoadedModel, top_k: int, state: AppState, start: float
) -> dict:
    return {
        "id": row.id,
        "cached": True,
        "model": {
            "name": model.name,
            "run_id": model.run_id,
            "framework": model.card.get("framework"),
        },
        "label": row.label,
        "confidence": row.confidence,
        "uncertain": row.confidence < state.settings.uncertain_threshold,
        "probabilities": row.probabilities[:top_k],
        "latency_ms": {
            "decode": 0.0,
            "preprocess": 0.0,
            "inference": 0.0,
            "total": elapsed_ms(start),
        },
    }


async def predict(
    request: Request, source: Source, model: LoadedModel, top_k: int, state: AppState
) -> dict:
    predictions: PredictionStore | None = getattr(request.app.state, "predictions", None)
    if predictions is None:
        return await service.predict(source, model, top_k, state.settings, state.metrics)
    start = time.perf_counter()
    data = await service.source_bytes(source, state.settings)
    sha256 = hashlib.sha256(data).hexdigest()
    if state.settings.prediction_cache:
        row = await predictions.lookup(sha256, model.run_id)
        if row is not None:
            state.metrics.predictions.labels(model.run_id, row.label).inc()
            return cached_answer(row, model, top_k, state, start)
    result = await service.predict(
        Source(data=data), model, len(model.classes), state.settings, state.metrics
    )
    result["latency_ms"]["total"] = elapsed_ms(start)
    row = await predictions.save(
        NewPrediction(
            image_sha256=sha256,
            run_id=model.run_id,
            model_name=model.name,
            label=result["label"],
            confidence=result["confidence"],
            uncertain=result["uncertain"],
            probabilities=result["probabilities"],
            latency_ms=dict(result["latency_ms"]),
            source=request_source(request, source),
            route=request.url.path[:64],
        ),
        data,
    )
    if row is not None:  # committed: acknowledged with its id (None = not stored)
        result["id"] = row.id
    result["probabilities"] = result["probabilities"][:top_k]
    result["latency_ms"]["total"] = elapsed_ms(start)
    return result
