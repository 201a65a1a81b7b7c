"""Admin actions: reload the catalog, promote a model, export the kept images."""

import os
import tempfile
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from flipkart_api.catalog import ModelCatalog
from flipkart_api.errors import ApiError
from flipkart_api.settings import Settings
from flipkart_api.store.predictions import PredictionStore, StoreUnavailable
from flipkart_api.tools.promotion import PromotionError, promote


def catalog_summary(catalog: ModelCatalog) -> dict:
    current = catalog.current
    return {
        "production": current.production,
        "ready": current.ready,
        "models": sorted(current.models),
        "problems": current.problems,
        "reason": current.reason,
    }


async def reload(catalog: ModelCatalog) -> dict:
    await catalog.reload()
    return catalog_summary(catalog)


async def promote_model(
    catalog: ModelCatalog,
    settings: Settings,
    run_id: str | None,
    max_latency_ms: float | None,
    reason: str,
) -> dict:
    """The promotion rule of the offline tool (or the given run_id), then a reload."""
    try:
        registry = await run_in_threadpool(
            lambda: promote(
                Path(settings.artifacts_root),
                run_id=run_id,
                max_latency_ms=max_latency_ms,
                by="api /v1/admin/promote",
                reason=reason,
            )
        )
    except PromotionError as exc:
        raise ApiError(409, "promotion_refused", str(exc)) from exc
    await catalog.reload()
    promotion = registry.history[-1].model_dump(mode="json", exclude_none=True)
    return {"promotion": promotion, **catalog_summary(catalog)}


async def export_kept_images(database: PredictionStore) -> Path:
    """A temporary zip of the kept images and `labels.csv`; the caller deletes it."""
    keeper = database.keeper
    if keeper is None:
        raise ApiError(
            404, "keeping_disabled", "Image keeping is off (set FLIPKART_KEEP_IMAGES=true)."
        )
    handle, name = tempfile.mkstemp(suffix=".zip")
    os.close(handle)
    try:
        await database.run(keeper.export_zip, Path(name))
    except StoreUnavailable as exc:
        os.unlink(name)
        raise ApiError(503, "database_unavailable", str(exc)) from exc
    return Path(name)
