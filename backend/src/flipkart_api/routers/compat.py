"""The original app's routes: `POST /predict` and `POST /normalize` with `{"image": base64}`."""

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from flipkart_api import service
from flipkart_api.inputs import read_sources
from flipkart_api.schemas import ERROR_RESPONSES, IMAGE_BODY, NormalizeResponse, PredictResponse
from flipkart_api.state import AppState, get_state
from flipkart_api.store import serving

router = APIRouter(tags=["compatibility"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=IMAGE_BODY,
    summary="Original route; same answer as /v1/predict on the production model",
)
async def legacy_predict(request: Request, state: Annotated[AppState, Depends(get_state)]) -> dict:
    loaded = state.store.current.resolve(None)
    [source] = await read_sources(request, state.settings, batch=False)
    k = len(loaded.classes)
    return await serving.predict(request, source, loaded, k, state)


@router.post(
    "/normalize",
    response_model=NormalizeResponse,
    responses=ERROR_RESPONSES,
    openapi_extra=IMAGE_BODY,
    summary="Original route; the model's view of the image as base64 PNG",
)
async def legacy_normalize(
    request: Request, state: Annotated[AppState, Depends(get_state)]
) -> dict:
    loaded = state.store.current.resolve(None)
    [source] = await read_sources(request, state.settings, batch=False)
    png = await service.model_view_png(source, loaded, state.settings)
    return {"image": base64.b64encode(png).decode("ascii")}
