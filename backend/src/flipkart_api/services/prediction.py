"""One prediction: image bytes (fetched when a URL) → stored answer, or model input → batched
inference → probabilities (fused with the listing text's, when the text is used) → committed to
the database → answered with its id. A slot with text only is answered by the text model.

When this image (or none) met this model with this text (or none) before, the stored row answers
(`cached`), and the model does not run. A database outage still answers, without an id: nothing
unstored is acknowledged.
"""

import asyncio
import io
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
from flipkart_contract import ResizePolicy, sha256_bytes
from PIL import Image
from starlette.concurrency import run_in_threadpool

from flipkart_api.catalog import LoadedModel, ModelSet
from flipkart_api.errors import ApiError
from flipkart_api.fetch import fetch_image
from flipkart_api.inputs import Source
from flipkart_api.memory import DecodeBudget, return_memory
from flipkart_api.metrics import Metrics
from flipkart_api.preprocess import open_upload, pixels_of
from flipkart_api.services.text import TextPlan, plan_text, text_uncertain_below
from flipkart_api.settings import Settings
from flipkart_api.store.predictions import PredictionStore
from flipkart_api.store.repository import NewPrediction
from flipkart_api.store.tables import Prediction
from flipkart_api.tokens import feedback_token

SOURCE_KINDS = {"multipart/form-data": "upload", "application/json": "base64"}


@dataclass(frozen=True)
class Origin:
    """Where a request's images came from, as the stored rows record it."""

    content_type: str = ""
    route: str = ""

    def source_kind(self, source: Source) -> str:
        """upload | base64 | url | raw"""
        return "url" if source.url is not None else SOURCE_KINDS.get(self.content_type, "raw")


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - np.max(logits)
    exp = np.exp(shifted)
    return exp / exp.sum()


def ranked(probabilities: np.ndarray, classes: list[str]) -> list[dict]:
    """`[{"label", "probability"}]` of every class, most probable first."""
    order = np.argsort(-probabilities, kind="stable")
    return [{"label": classes[int(i)], "probability": float(probabilities[int(i)])} for i in order]


# What a stored row keeps of an answer that used text (`Prediction.details`).
DETAILS = ("inputs_used", "by_input", "listing")


def row_details(row: Prediction) -> dict:
    """`inputs_used`, `by_input`, `listing` of a stored row (an image-only row has none kept:
    its `by_input` is its own probabilities)."""
    if row.details:
        return {key: row.details.get(key) for key in DETAILS}
    return {
        "inputs_used": ["image"],
        "by_input": {"image": list(row.probabilities), "text": None, "fused": None},
        "listing": None,
    }


def check_top_k(top_k: int | None, model: LoadedModel) -> int:
    count = len(model.classes)
    if top_k is None:
        return count
    if not 1 <= top_k <= count:
        raise ApiError(422, "invalid_top_k", f"top_k must be between 1 and {count}.")
    return top_k


UNCALIBRATED_THRESHOLD = 0.5


def uncertain_below(settings: Settings, model: LoadedModel) -> float:
    """The setting when given, else the model's calibrated threshold, else 0.5."""
    if settings.uncertain_threshold is not None:
        return settings.uncertain_threshold
    calibration = model.card.calibration
    return calibration.uncertain_below if calibration is not None else UNCALIBRATED_THRESHOLD


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


class PredictionService:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        database: PredictionStore | None,
        budget: DecodeBudget | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.database = database  # None: the prediction store is disabled
        self.budget = budget  # None: decodes are not bounded together

    async def image_bytes(self, source: Source) -> bytes:
        if source.error is not None:
            raise source.error
        if source.url is not None:
            settings = self.settings
            return await fetch_image(
                source.url,
                max_bytes=settings.max_upload_bytes,
                timeout_s=settings.url_timeout_s,
                max_redirects=settings.url_max_redirects,
                allow_private=settings.url_allow_private,
            )
        return source.data or b""

    async def predict(
        self,
        source: Source,
        model: LoadedModel,
        top_k: int,
        origin: Origin,
        models: ModelSet | None = None,
    ) -> dict:
        """The answer for one slot; `models` (the request's model set) given: its text is used
        through the listing (see flipkart_api.services.text), else only its image."""
        start = time.perf_counter()
        if source.error is not None:
            raise source.error
        plan = plan_text(source, model, models) if models is not None else None
        if source.has_image:
            data: bytes | None = await self.image_bytes(source)
        elif plan is None:  # not expected: a slot without an image has text
            raise ApiError(422, "missing_image", "Send an image, a title or a description.")
        elif plan.listing is None:
            raise plan.refusal
        else:
            data = None
        if self.database is None:
            result = await self.answer(data, model, plan, start)
        else:
            kind = origin.source_kind(source) if data is not None else "text"
            result = await self._predict_stored(data, model, plan, start, kind, origin.route)
        result["probabilities"] = result["probabilities"][:top_k]
        result["by_input"] = {
            name: None if ranked is None else ranked[:top_k]
            for name, ranked in result["by_input"].items()
        }
        if plan is not None:
            result["title"] = plan.title or None
            result["description"] = plan.description or None
            result["text_note"] = plan.note
        result["latency_ms"]["total"] = elapsed_ms(start)
        return result

    async def _predict_stored(
        self,
        data: bytes | None,
        model: LoadedModel,
        plan: TextPlan | None,
        start: float,
        source_kind: str,
        route: str,
    ) -> dict:
        sha256 = sha256_bytes(data) if data is not None else None
        text_used = plan is not None and plan.listing is not None
        run_id = model.run_id if data is not None else plan.listing.text_run_id
        text_key = plan.cache_key() if plan is not None else ""
        if self.settings.prediction_cache:
            row = await self.database.lookup(sha256, run_id, text_key)
            if row is not None:
                self.metrics.predictions.labels(row.run_id, row.label).inc()
                await self.database.record_cache_hit(row, elapsed_ms(start))
                return self.cached_answer(row, model, plan)
        result = await self.answer(data, model, plan, start)
        row = await self.database.save(
            NewPrediction(
                image_sha256=sha256,
                run_id=result["model"]["run_id"],
                architecture=result["model"]["architecture"],
                label=result["label"],
                confidence=result["confidence"],
                uncertain=result["uncertain"],
                probabilities=result["probabilities"],
                latency_ms=dict(result["latency_ms"], total=elapsed_ms(start)),
                source=source_kind,
                route=route[:64],
                title=(plan.title or None) if plan is not None else None,
                description=(plan.description or None) if plan is not None else None,
                listing_id=plan.listing.listing_id if text_used else None,
                text_key=text_key,
                details={key: result[key] for key in DETAILS} if text_used else None,
            ),
            data,
        )
        if row is not None:  # committed: acknowledged with its id (None = not stored)
            result.update(self.stored_id(row))
        return result

    def stored_id(self, row: Prediction) -> dict:
        """The row's id and its feedback token (the store that gave the row has its key)."""
        secret = self.database.token_secret
        if secret is None:  # not expected: a store that answers has loaded its key
            return {"id": None, "feedback_token": None}
        return {"id": row.id, "feedback_token": feedback_token(secret, row.id)}

    async def answer(
        self, data: bytes | None, model: LoadedModel, plan: TextPlan | None, start: float
    ) -> dict:
        """The best available answer: fused, the image's, or the text's (not stored)."""
        if plan is None or plan.listing is None:
            return await self.run_model(data, model, start)
        if data is None:
            return await self.text_answer(plan)
        (image, latency), text_logits = await asyncio.gather(
            self.image_probabilities(data, model), run_in_threadpool(plan.text_logits)
        )
        classes = model.classes
        fused = ranked(plan.fused(image, text_logits), classes)
        by_input = {
            "image": ranked(image, classes),
            "text": ranked(plan.probabilities(text_logits), classes),
            "fused": fused,
        }
        return self.result(
            model.ref(),
            fused,
            text_uncertain_below(self.settings, plan.listing, "fused", plan.kind),
            latency,
            inputs_used=["image", *plan.inputs],
            by_input=by_input,
            listing=plan.listing.ref(),
        )

    async def text_answer(self, plan: TextPlan) -> dict:
        """The text model alone (a request without an image)."""
        text_start = time.perf_counter()
        text_logits = await run_in_threadpool(plan.text_logits)
        inference_ms = elapsed_ms(text_start)
        listing = plan.listing
        text = ranked(plan.probabilities(text_logits), listing.text_model.classes)
        return self.result(
            listing.text_model_ref(),
            text,
            text_uncertain_below(self.settings, listing, "text", plan.kind),
            {"decode": 0.0, "preprocess": 0.0, "inference": inference_ms},
            inputs_used=plan.inputs,
            by_input={"image": None, "text": text, "fused": None},
            listing=listing.ref(),
        )

    async def run_model(self, data: bytes, model: LoadedModel, start: float) -> dict:
        """The image model's answer on every class, sorted by probability (not stored)."""
        probabilities, latency = await self.image_probabilities(data, model)
        image = ranked(probabilities, model.classes)
        return self.result(
            model.ref(),
            image,
            uncertain_below(self.settings, model),
            latency,
            inputs_used=["image"],
            by_input={"image": image, "text": None, "fused": None},
            listing=None,
        )

    async def image_probabilities(
        self, data: bytes, model: LoadedModel
    ) -> tuple[np.ndarray, dict[str, float]]:
        """The image model's probabilities in class order, and the decode, preprocess and
        inference times (ms)."""
        timings: dict[str, float] = {}
        pixels = await self.model_pixels(data, model, timings)
        inference_start = time.perf_counter()
        logits = await model.batcher.submit(pixels)
        inference_ms = (time.perf_counter() - inference_start) * 1000
        latency = {
            "decode": round(timings["decode"], 3),
            "preprocess": round(timings["preprocess"], 3),
            "inference": round(inference_ms, 3),
        }
        return softmax(logits), latency

    def result(
        self,
        model_ref: dict[str, str],
        probabilities: list[dict],
        threshold: float,
        latency: dict[str, float],
        **parts: object,
    ) -> dict:
        """An answer (`PredictResponse`) whose best guess is the first of `probabilities`."""
        best = probabilities[0]
        self.metrics.predictions.labels(model_ref["run_id"], best["label"]).inc()
        return {
            "id": None,
            "feedback_token": None,
            "cached": False,
            "model": model_ref,
            "label": best["label"],
            "confidence": best["probability"],
            "uncertain": best["probability"] < threshold,
            "probabilities": probabilities,
            "latency_ms": {**latency, "total": 0.0},
            **parts,
        }

    def cached_answer(self, row: Prediction, model: LoadedModel, plan: TextPlan | None) -> dict:
        details = row_details(row)
        text_used = details["inputs_used"] != ["image"]
        threshold = (
            text_uncertain_below(
                self.settings,
                plan.listing,
                "fused" if "image" in details["inputs_used"] else "text",
                plan.kind,
            )
            if text_used and plan is not None
            else uncertain_below(self.settings, model)
        )
        return {
            **self.stored_id(row),
            "cached": True,
            "model": {"run_id": row.run_id, "architecture": row.architecture},
            "label": row.label,
            "confidence": row.confidence,
            "uncertain": row.confidence < threshold,
            "probabilities": list(row.probabilities),
            "latency_ms": {"decode": 0.0, "preprocess": 0.0, "inference": 0.0, "total": 0.0},
            **details,
        }

    async def model_view_png(self, source: Source, model: LoadedModel) -> bytes:
        """What the model sees of the image (`model_input`, as 8-bit RGB), encoded as PNG."""
        data = await self.image_bytes(source)
        pixels = await self.model_pixels(data, model)
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, format="PNG")
        return buffer.getvalue()

    async def model_pixels(
        self, data: bytes, model: LoadedModel, timings: dict[str, float] | None = None
    ) -> np.ndarray:
        """The model's input for an image: its header read, its decode's peak memory reserved
        from the shared budget (waiting, else 503), decoded and resized, the memory returned."""
        start = time.perf_counter()
        policy = model.policy
        opened, cost = await run_in_threadpool(open_upload, data, policy, self.settings.max_pixels)
        header_ms = (time.perf_counter() - start) * 1000
        try:
            reserved = self.budget.reserve(cost) if self.budget is not None else nullcontext()
            async with reserved:
                pixels = await run_in_threadpool(self._decode, opened, cost, policy, timings)
        finally:
            opened.close()  # refused before decoding: frees the header's file
        if timings is not None:
            timings["decode"] += header_ms
        return pixels

    def _decode(
        self,
        opened: Image.Image,
        cost: int,
        policy: ResizePolicy,
        timings: dict[str, float] | None,
    ) -> np.ndarray:
        pixels = pixels_of(opened, policy, timings=timings)
        return_memory(cost, self.settings.decode_trim_bytes)  # the decode's buffers are freed
        return pixels
