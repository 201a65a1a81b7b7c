"""Plugs the store, its routers and the rate limit into the app built by `create_app`."""

from fastapi import FastAPI

from flipkart_api.auth import configured_hashes
from flipkart_api.ratelimit import RateLimitMiddleware, TokenBuckets
from flipkart_api.routers import admin, feedback, stats
from flipkart_api.settings import Settings
from flipkart_api.store.predictions import PredictionStore


def install(app: FastAPI, settings: Settings) -> PredictionStore | None:
    configured_hashes(settings)  # a malformed key hash stops the start-up with a clear message
    predictions = PredictionStore(settings) if settings.store_enabled else None
    app.state.predictions = predictions
    for router in (feedback.router, stats.router, admin.router):
        app.include_router(router)
    if settings.rate_limit_per_minute > 0:
        buckets = TokenBuckets(settings.rate_limit_per_minute, settings.rate_limit_burst)
        app.add_middleware(
            RateLimitMiddleware,
            buckets=buckets,
            trust_forwarded=settings.rate_limit_trust_forwarded,
        )
    return predictions
