"""Admin routes; every one needs the API key (see flipkart_api.auth)."""

import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from flipkart_api.auth import require_admin
from flipkart_api.errors import ApiError
from flipkart_api.promotion import PromotionError, promote
from flipkart_api.schemas import ErrorBody
from flipkart_api.state import AppState, get_state
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable, get_predictions

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={code: {"model": ErrorBody} for code in (401, 403)},
)


class PromoteRequest(BaseModel):
    run_id: str | None = Field(None, max_length=200, description="default: apply the rule")
    max_latency_ms: float | None = Field(None, gt=0)
    reason: str = Field("", max_length=500)


def model_set_summary(state: AppState) -> dict:
    current = state.store.current
    return {
        "production": current.production,
        "ready": current.ready,
        "models": sorted(current.models),
        "problems": current.problems,
        "reason": current.reason,
    }


@router.post("/reload", summary="Re-read registry.json and the models (atomic swap)")
async def reload(state: Annotated[AppState, Depends(get_state)]) -> dict:
    await state.store.reload()
    return model_set_summary(state)


@router.post(
    "/promote",
    responses={409: {"model": ErrorBody}},
    summary="Promote a model (default: the promotion rule), then reload",
)
async def promote_model(
    body: PromoteRequest, state: Annotated[AppState, Depends(get_state)]
) -> dict:
    try:
        registry = await run_in_threadpool(
            lambda: promote(
                Path(state.settings.artifacts_root),
                run_id=body.run_id,
                max_latency_ms=body.max_latency_ms,
                by="api /v1/admin/promote",
                reason=body.reason,
            )
        )
    except PromotionError as exc:
        raise ApiError(409, "promotion_refused", str(exc)) from exc
    await state.store.reload()
    return {"promotion": registry["history"][-1], **model_set_summary(state)}


@router.get(
    "/images/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 404: {"model": ErrorBody}},
    summary="The kept images and their labels as a zip (retraining data)",
)
async def export_images(
    predictions: Annotated[PredictionStore, Depends(get_predictions)],
) -> FileResponse:
    keeper = predictions.keeper
    if keeper is None:
        raise ApiError(
            404, "keeping_disabled", "Image keeping is off (set FLIPKART_KEEP_IMAGES=true)."
        )
    handle, name = tempfile.mkstemp(suffix=".zip")
    os.close(handle)
    try:
        await predictions.run(keeper.export_zip, Path(name))
    except StoreUnavailable as exc:
        os.unlink(name)
        raise ApiError(503, "database_unavailable", str(exc)) from exc
    return FileResponse(
        name,
        media_type="application/zip",
        filename="kept_images.zip",
        background=BackgroundTask(os.unlink, name),
    )
