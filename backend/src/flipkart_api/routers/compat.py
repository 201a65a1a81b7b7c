"""The original app's routes: `POST /predict` and `POST /normalize` with `{"image": base64}`.

`/normalize` keeps its original name; it answers the model's view of the image (the resize
policy applied), not a normalised tensor: the normalisation is inside the ONNX graph.
"""

import base64

from fastapi import APIRouter, Depends

from flipkart_api.deps import OneImage, OriginDep, PredictionServiceDep, ProductionModel, rate_limit
from flipkart_api.schemas import (
    IMAGE_BODY,
    PRODUCTION_IMAGE_ERRORS,
    RATE_LIMITED,
    NormalizeResponse,
    PredictResponse,
    error_responses,
)

router = APIRouter(tags=["compatibility"])


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=error_responses(*PRODUCTION_IMAGE_ERRORS, *RATE_LIMITED),
    openapi_extra=IMAGE_BODY,
    dependencies=[Depends(rate_limit)],
    summary="Original route; same answer as /v1/predict on the production model",
)
async def legacy_predict(
    model: ProductionModel, source: OneImage, service: PredictionServiceDep, origin: OriginDep
) -> dict:
    return await service.predict(source, model, len(model.classes), origin)


@router.post(
    "/normalize",
    response_model=NormalizeResponse,
    responses=error_responses(*PRODUCTION_IMAGE_ERRORS, *RATE_LIMITED),
    openapi_extra=IMAGE_BODY,
    dependencies=[Depends(rate_limit)],
    summary="Original route; the model's view of the image as base64 PNG",
)
async def legacy_normalize(
    model: ProductionModel, source: OneImage, service: PredictionServiceDep
) -> dict:
    png = await service.model_view_png(source, model)
    return {"image": base64.b64encode(png).decode("ascii")}
