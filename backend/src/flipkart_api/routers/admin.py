"""Admin routes; every one needs the API key (see flipkart_api.auth)."""

import os

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from flipkart_api.deps import CatalogDep, DatabaseDep, SettingsDep, require_admin
from flipkart_api.schemas import ErrorBody
from flipkart_api.services import admin

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


@router.post("/reload", summary="Re-read registry.json and the models (atomic swap)")
async def reload(catalog: CatalogDep) -> dict:
    return await admin.reload(catalog)


@router.post(
    "/promote",
    responses={409: {"model": ErrorBody}},
    summary="Promote a model (default: the promotion rule), then reload",
)
async def promote(body: PromoteRequest, catalog: CatalogDep, settings: SettingsDep) -> dict:
    return await admin.promote_model(
        catalog, settings, body.run_id, body.max_latency_ms, body.reason
    )


@router.get(
    "/images/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, 404: {"model": ErrorBody}},
    summary="The kept images and their labels as a zip (retraining data)",
)
async def export_images(database: DatabaseDep) -> FileResponse:
    path = await admin.export_kept_images(database)
    return FileResponse(
        path,
        media_type="application/zip",
        filename="kept_images.zip",
        background=BackgroundTask(os.unlink, path),
    )
