"""The FastAPI application factory."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from flipkart_api.errors import install_error_handlers
from flipkart_api.fetch import tls_context
from flipkart_api.metrics import Metrics
from flipkart_api.middleware import RequestContextMiddleware
from flipkart_api.models import ModelStore
from flipkart_api.routers import compat, health, models, predict
from flipkart_api.settings import Settings, get_settings
from flipkart_api.state import AppState
from flipkart_api.store import wiring as store_wiring

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    metrics = Metrics()
    store = ModelStore(settings, on_batch=metrics.record_batch)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        current = await run_in_threadpool(store.load)
        if predictions is not None:
            await run_in_threadpool(predictions.open)
        await run_in_threadpool(tls_context)  # warm the CA store for the first URL fetch
        if current.ready:
            log.info(
                "serving", extra={"production": current.production, "models": list(current.models)}
            )
        else:
            log.error("not ready", extra={"reason": current.reason})
        yield
        await store.close()
        if predictions is not None:
            predictions.close()

    app = FastAPI(
        title="Flipkart product classifier",
        version="1.0.0",
        description="Classifies product photos into the 7 Flipkart categories (ONNX Runtime).",
        lifespan=lifespan,
    )
    app.state.service = AppState(settings=settings, store=store, metrics=metrics)
    predictions = store_wiring.install(app, settings)  # prediction store, admin, rate limit
    install_error_handlers(app)
    for router in (predict.router, models.router, health.router, compat.router):
        app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["x-request-id"],
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
