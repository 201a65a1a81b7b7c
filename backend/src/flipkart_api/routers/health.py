from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from flipkart_api.schemas import Health, Ready
from flipkart_api.state import AppState, get_state
from flipkart_api.store.predictions import database_problem

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, summary="The process is alive")
async def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: {"model": Ready}},
    summary="The production model is loaded",
)
async def ready(request: Request, state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    current = state.store.current
    if current.ready:
        problem = await database_problem(request)  # predictions still answered, not stored
        if problem is not None:
            return JSONResponse(
                {"status": "degraded", "model": current.production, "reason": problem}
            )
        return JSONResponse({"status": "ready", "model": current.production})
    return JSONResponse({"status": "not_ready", "reason": current.reason}, status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    summary="Prometheus metrics",
)
async def metrics(state: Annotated[AppState, Depends(get_state)]) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
