from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from flipkart_api.deps import CatalogDep, MetricsDep, OptionalDatabaseDep
from flipkart_api.schemas import Health, Ready
from flipkart_api.services.monitoring import readiness

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="The process is alive")
async def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: {"model": Ready}},
    summary="The production model is loaded (degraded: predictions are not being stored)",
)
async def ready(catalog: CatalogDep, database: OptionalDatabaseDep) -> JSONResponse:
    status, body = await readiness(catalog, database)
    return JSONResponse(body, status_code=status)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    summary="Prometheus metrics",
)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
