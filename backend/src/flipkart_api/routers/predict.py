import asyncio
import logging

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from flipkart_api.deps import (
    BatchListings,
    CurrentModels,
    OneImage,
    OneListing,
    OriginDep,
    PredictionServiceDep,
    SelectedModel,
    TopK,
    rate_limit,
)
from flipkart_api.errors import ApiError
from flipkart_api.inputs import Source
from flipkart_api.schemas import (
    BATCH_BODY,
    IMAGE_BODY,
    IMAGE_ERRORS,
    PREDICT_BODY,
    RATE_LIMITED,
    BatchResponse,
    PredictResponse,
    error_responses,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["predict"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=error_responses(*IMAGE_ERRORS, *RATE_LIMITED),
    openapi_extra=PREDICT_BODY,
    dependencies=[Depends(rate_limit)],
    summary="Classify one product: its image (multipart `file`, JSON base64 `image`, or JSON "
    "`url`) and/or its listing text (`title`, `description`)",
)
async def predict(
    model: SelectedModel,
    k: TopK,
    source: OneListing,
    service: PredictionServiceDep,
    origin: OriginDep,
    models: CurrentModels,
) -> dict:
    return await service.predict(source, model, k, origin, models)


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=error_responses(*IMAGE_ERRORS, *RATE_LIMITED),
    openapi_extra=BATCH_BODY,
    dependencies=[Depends(rate_limit)],
    summary="Classify several products (images with optional titles and descriptions, one per "
    "image, or texts alone); a bad slot fails only itself",
)
async def predict_batch(
    model: SelectedModel,
    k: TopK,
    sources: BatchListings,
    service: PredictionServiceDep,
    origin: OriginDep,
    models: CurrentModels,
) -> dict:
    async def one(source: Source) -> dict:
        try:
            return await service.predict(source, model, k, origin, models)
        except ApiError as exc:
            return exc.body()
        except Exception:
            log.exception("batch slot failed")
            return {"error": {"code": "internal_error", "message": "This image failed."}}

    return {"results": await asyncio.gather(*(one(s) for s in sources))}


@router.post(
    "/preprocess",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}},
        **error_responses(*IMAGE_ERRORS, *RATE_LIMITED),
    },
    openapi_extra=IMAGE_BODY,
    dependencies=[Depends(rate_limit)],
    summary="The model's view of the image (after the card's resize policy), as PNG",
)
async def preprocess(
    model: SelectedModel, source: OneImage, service: PredictionServiceDep
) -> Response:
    png = await service.model_view_png(source, model)
    return Response(content=png, media_type="image/png")
