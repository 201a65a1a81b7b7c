from typing import Annotated

from fastapi import APIRouter, Depends, Query

from flipkart_api.deps import (
    ExplainSlotsDep,
    OneImage,
    PredictionServiceDep,
    SelectedModel,
    SettingsDep,
    explain_rate_limit,
)
from flipkart_api.explain import MAX_GRID, MIN_GRID
from flipkart_api.schemas import (
    IMAGE_BODY,
    IMAGE_ERRORS,
    RATE_LIMITED,
    ExplainResponse,
    error_responses,
)
from flipkart_api.services import explanation

router = APIRouter(prefix="/v1", tags=["predict"])


@router.post(
    "/explain",
    response_model=ExplainResponse,
    responses=error_responses(*IMAGE_ERRORS, *RATE_LIMITED),
    openapi_extra=IMAGE_BODY,
    dependencies=[Depends(explain_rate_limit)],
    summary="Which parts of the image hold up the model's answer: an occlusion heatmap "
    "(grid × grid patches hidden one at a time) over what the model sees",
)
async def explain(
    model: SelectedModel,
    source: OneImage,
    service: PredictionServiceDep,
    slots: ExplainSlotsDep,
    settings: SettingsDep,
    label: Annotated[
        str | None,
        Query(max_length=200, description="The class to explain (default: the predicted one)."),
    ] = None,
    grid: Annotated[
        int | None,
        Query(
            ge=MIN_GRID,
            le=MAX_GRID,
            description="Patches per side (default: FLIPKART_EXPLAIN_GRID, 8); grid² + 1 images.",
        ),
    ] = None,
) -> dict:
    return await explanation.explain(
        service,
        slots,
        source,
        model,
        label,
        grid or settings.explain_grid,
        settings.explain_batch,
    )
