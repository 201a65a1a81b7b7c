"""Readiness and the monitoring figures (`/ready`, `/v1/stats`)."""

from datetime import UTC, datetime
from pathlib import Path

from flipkart_contract import load_registry
from starlette.concurrency import run_in_threadpool

from flipkart_api.catalog import ModelCatalog
from flipkart_api.errors import ApiError
from flipkart_api.settings import Settings
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable
from flipkart_api.store.stats import MAX_BUCKETS, compute_series, compute_stats


async def readiness(catalog: ModelCatalog, database: PredictionStore | None) -> tuple[int, dict]:
    """(HTTP status, body): ready, degraded (predictions answered but not stored), not ready."""
    current = catalog.current
    # The listing is reported when registry.json names one: loaded, or why not (the image
    # service stays ready; only the text features are unavailable).
    listing = {}
    if current.listing is not None:
        listing["listing"] = current.listing.listing_id
    elif current.listing_problem is not None:
        listing["listing_problem"] = current.listing_problem
    if not current.ready:
        return 503, {"status": "not_ready", "reason": current.reason, **listing}
    problem = None if database is None else await database.check()
    if problem is not None:
        return 200, {
            "status": "degraded",
            "model": current.production,
            "reason": problem,
            **listing,
        }
    return 200, {"status": "ready", "model": current.production, **listing}


def promotion_time(artifacts_root: Path) -> tuple[str | None, datetime | None]:
    """The production run_id and when it was last promoted (naive UTC), from registry.json."""
    try:
        registry = load_registry(Path(artifacts_root) / "registry.json")
    except (OSError, ValueError):  # no registry, or one the contract refuses
        return None, None
    for entry in reversed(registry.history):
        if entry.run_id == registry.production:
            at = entry.at
            if at.tzinfo is not None:
                at = at.astimezone(UTC).replace(tzinfo=None)
            return registry.production, at
    return registry.production, None


async def stats(
    settings: Settings, database: PredictionStore, window_hours: float, last_n: int | None
) -> dict:
    production, promoted_at = await run_in_threadpool(promotion_time, settings.artifacts_root)
    try:
        figures = await database.run(
            compute_stats, window_hours, last_n or settings.stats_last_n, production, promoted_at
        )
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", str(exc)) from exc
    return {"database": database.backend, **figures}


async def series(database: PredictionStore, window_hours: float, bucket_minutes: int) -> dict:
    buckets = window_hours * 60 / bucket_minutes
    if buckets > MAX_BUCKETS:
        raise ApiError(
            422,
            "too_many_buckets",
            f"{window_hours:g} h in buckets of {bucket_minutes} min is {buckets:.0f} buckets; "
            f"the limit is {MAX_BUCKETS}: choose longer buckets or a shorter window.",
        )
    try:
        figures = await database.run(compute_series, window_hours, bucket_minutes)
    except StoreUnavailable as exc:
        raise ApiError(503, "database_unavailable", str(exc)) from exc
    return {"database": database.backend, **figures}
