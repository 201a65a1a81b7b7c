from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from flipkart_api.auth import check_admin
from flipkart_api.errors import ApiError
from flipkart_api.schemas import ErrorBody
from flipkart_api.state import AppState, get_state
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable, get_predictions
from flipkart_api.store.stats import compute_stats, promotion_time

router = APIRouter(prefix="/v1", tags=["monitoring"])


@router.get(
    "/stats",
    responses={code: {"model": ErrorBody} for code in (401, 403, 422, 503)},
    summary="Monitoring: predictions per label and model, latency, confidence, feedback accuracy",
)
async def stats(
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
    predictions: Annotated[PredictionStore, Depends(get_predictions)],
    window_hours: Annotated[
        float, Query(gt=0, le=24 * 366, description="Time window, in hours, ending now.")
    ] = 24.0,
    last_n: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="Mean confidence over the last N predictions."),
    ] = None,
) -> dict:
    if state.settings.stats_private:
        check_admin(request, state.settings)
    production, promoted_at = await run_in_threadpool(promotion_time, state.settings.artifacts_root)
    try:
        figures = await predictions.run(
            compute_stats,
            window_hours,
            last_n or state.settings.stats_last_n,
            production,
            promoted_at,
        )
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", str(exc)) from exc
    return {"database": predictions.backend, **figures}
