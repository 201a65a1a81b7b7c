import asyncio
import logging

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from flipkart_api.deps import (
    BatchImages,
    OneImage,
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
    openapi_extra=IMAGE_BODY,
    dependencies=[Depends(rate_limit)],
    summary="Classify one image (multipart `file`, JSON base64 `image`, or JSON `url`)",
)
async def predict(
    model: SelectedModel,
    k: TopK,
    source: OneImage,
    service: PredictionServiceDep,
    origin: OriginDep,
) -> dict:
    return await service.predict(source, model, k, origin)


@router.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=error_responses(*IMAGE_ERRORS, *RATE_LIMITED),
    openapi_extra=BATCH_BODY,
    dependencies=[Depends(rate_limit)],
    summary="Classify several images; a bad image fails only its own slot",
)
async def predict_batch(
    model: SelectedModel,
    k: TopK,
    sources: BatchImages,
    service: PredictionServiceDep,
    origin: OriginDep,
) -> dict:
    async def one(source: Source) -> dict:
        try:
            return await service.predict(source, model, k, origin)
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
