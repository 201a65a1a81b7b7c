"""Admin routes; every one needs the API key (see flipkart_api.auth).

The key is checked before anything else of the request is read: FastAPI parses a route's body
before it runs the route's dependencies, so a malformed body without a key would otherwise get
a 422 instead of the 401 (and an unauthenticated client could make the server parse bodies).
"""

import os
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from flipkart_api.auth import check_admin
from flipkart_api.deps import CatalogDep, DatabaseDep, SettingsDep, require_admin
from flipkart_api.schemas import error_responses
from flipkart_api.services import admin


class KeyFirstRoute(APIRoute):
    """An admin route: the API key is checked before the body is read or validated."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            check_admin(request, request.app.state.settings)  # ApiError → the JSON 401/403
            return await handler(request)

        return checked


router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    route_class=KeyFirstRoute,
    dependencies=[Depends(require_admin)],  # documents the bearer scheme in OpenAPI
    responses=error_responses(401, 403),
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
    responses=error_responses(400, 409, 422),
    summary="Promote a model (default: the promotion rule), then reload",
)
async def promote(body: PromoteRequest, catalog: CatalogDep, settings: SettingsDep) -> dict:
    return await admin.promote_model(
        catalog, settings, body.run_id, body.max_latency_ms, body.reason
    )


@router.get(
    "/images/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}}, **error_responses(404, 503)},
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
