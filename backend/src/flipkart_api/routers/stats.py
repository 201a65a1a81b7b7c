from typing import Annotated

from fastapi import APIRouter, Depends, Query

from flipkart_api.deps import DatabaseDep, SettingsDep, stats_access
from flipkart_api.schemas import ErrorBody
from flipkart_api.services import monitoring

router = APIRouter(prefix="/v1", tags=["monitoring"])
WindowHours = Annotated[
    float, Query(gt=0, le=24 * 366, description="Time window, in hours, ending now.")
]


@router.get(
    "/stats",
    responses={code: {"model": ErrorBody} for code in (401, 403, 422, 503)},
    dependencies=[Depends(stats_access)],
    summary="Monitoring: predictions per label, model and architecture, latency, confidence, "
    "feedback accuracy",
)
async def stats(
    settings: SettingsDep,
    database: DatabaseDep,
    window_hours: WindowHours = 24.0,
    last_n: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="Mean confidence over the last N predictions."),
    ] = None,
) -> dict:
    return await monitoring.stats(settings, database, window_hours, last_n)


@router.get(
    "/stats/series",
    responses={code: {"model": ErrorBody} for code in (401, 403, 422, 503)},
    dependencies=[Depends(stats_access)],
    summary="Monitoring over time: requests (cache hits included) and latency percentiles per "
    "bucket, and the answered labels' mix",
)
async def stats_series(
    database: DatabaseDep,
    window_hours: WindowHours = 48.0,
    bucket_minutes: Annotated[
        int, Query(ge=1, le=7 * 24 * 60, description="Bucket length, in minutes.")
    ] = 60,
) -> dict:
    return await monitoring.series(database, window_hours, bucket_minutes)
