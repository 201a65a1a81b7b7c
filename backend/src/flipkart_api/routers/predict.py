import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from flipkart_api import service
from flipkart_api.errors import ApiError
from flipkart_api.inputs import read_sources
from flipkart_api.schemas import (
    BATCH_BODY,
    ERROR_RESPONSES,
    IMAGE_BODY,
    BatchResponse,
    PredictResponse,
)
from flipkart_api.state import AppState, get_state
from flipkart_api.store import serving

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["predict"])

TopK = Annotated[int | None, Query(ge=1, description="How many classes to return (default: all).")]
ModelName = Annotated[
    str | None, Query(max_length=200, description="run_id or card name (default: production).")
]


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=IMAGE_BODY,
    summary="Classify one image (multipart `file`, JSON base64 `image`, or JSON `url`)",
)
async def predict(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    top_k: TopK = None,
    model: ModelName = None,
) -> dict:
    loaded = state.store.current.resolve(model)
    k = service.check_top_k(top_k, loaded)
    [source] = await read_sources(request, state.settings, batch=False)
    return await serving.predict(request, source, loaded, k, state)


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=BATCH_BODY,
    summary="Classify several images; a bad image fails only its own slot",
)
async def predict_batch(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    top_k: TopK = None,
    model: ModelName = None,
) -> dict:
    loaded = state.store.current.resolve(model)
    k = service.check_top_k(top_k, loaded)
    sources = await read_sources(request, state.settings, batch=True)

    async def one(source) -> dict:
        try:
            return await serving.predict(request, source, loaded, k, state)
        except ApiError as exc:
            return exc.body()
        except Exception:
            log.exception("batch slot failed")
            return {"error": {"code": "internal_error", "message": "This image failed."}}

    return {"results": await asyncio.gather(*(one(s) for s in sources))}


@router.post(
    "/preprocess",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **ERROR_RESPONSES},
    openapi_extra=IMAGE_BODY,
    summary="The model's view of the image (after the card's resize), as PNG",
)
async def preprocess(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    model: ModelName = None,
) -> Response:
    loaded = state.store.current.resolve(model)
    [source] = await read_sources(request, state.settings, batch=False)
    png = await service.model_view_png(source, loaded, state.settings)
    return Response(content=png, media_type="image/png")
