"""The FastAPI application factory: the shared objects on `app.state`, routers, middleware."""

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from flipkart_api.auth import configured_hashes
from flipkart_api.catalog import ModelCatalog
from flipkart_api.errors import LastResortMiddleware, install_error_handlers
from flipkart_api.fetch import tls_context
from flipkart_api.memory import DecodeBudget
from flipkart_api.metrics import Metrics
from flipkart_api.middleware import RequestContextMiddleware
from flipkart_api.ratelimit import RateLimiter
from flipkart_api.routers import (
    admin,
    compat,
    explain,
    feedback,
    health,
    models,
    predict,
    runs,
    stats,
)
from flipkart_api.schemas import batch_body, predict_body, text_limits
from flipkart_api.services.explanation import explain_slots
from flipkart_api.settings import Settings, get_settings
from flipkart_api.store.predictions import PredictionStore

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configured_hashes(settings)  # a malformed key hash stops the start-up with a clear message
    metrics = Metrics()
    catalog = ModelCatalog(settings, on_batch=metrics.record_batch)
    database = PredictionStore(settings) if settings.store_enabled else None

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        current = await run_in_threadpool(catalog.load)
        if database is not None:
            await run_in_threadpool(database.open)
        await run_in_threadpool(tls_context)  # warm the CA store for the first URL fetch
        if current.ready:
            log.info(
                "serving", extra={"production": current.production, "models": list(current.models)}
            )
        else:
            log.error("not ready", extra={"reason": current.reason})
        yield
        await catalog.close()
        if database is not None:
            database.close()

    app = FastAPI(
        title="Flipkart product classifier",
        version="1.0.0",
        description="Classifies product photos into the 7 Flipkart categories (ONNX Runtime).",
        lifespan=lifespan,
    )
    # What `flipkart_api.deps` hands to the routes.
    app.state.settings = settings
    app.state.catalog = catalog
    app.state.metrics = metrics
    app.state.database = database
    app.state.rate_limiter = (
        RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_burst, settings.trusted_networks()
        )
        if settings.rate_limit_per_minute > 0
        else None
    )
    app.state.decode_budget = (
        DecodeBudget(settings.decode_budget_bytes, settings.decode_wait_s)
        if settings.decode_budget_bytes > 0
        else None
    )
    app.state.explain_slots = explain_slots(settings.explain_concurrency, settings.decode_wait_s)
    install_error_handlers(app)
    for module in (predict, explain, models, runs, health, compat, feedback, stats, admin):
        app.include_router(module.router)
    document_limits(app, settings)
    app.add_middleware(LastResortMiddleware)  # innermost: CORS and the access log see its 500
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


def document_limits(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI schema states the configured limits (the routes are declared with defaults)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            limits = text_limits(settings)
            batch = schema["paths"]["/v1/predict/batch"]["post"]
            batch["requestBody"] = batch_body(settings.max_batch_images, limits)["requestBody"]
            predict = schema["paths"]["/v1/predict"]["post"]
            predict["requestBody"] = predict_body(limits)["requestBody"]
        return app.openapi_schema

    app.openapi = openapi
