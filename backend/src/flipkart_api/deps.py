"""Every FastAPI dependency of the routes, in one place.

`create_app` puts the shared objects on `app.state` (settings, catalog, metrics, database,
rate_limiter); the routes receive them, or what is derived from them (the model a request asks
for, the prediction service, admin access), through the `Annotated` aliases below.

Every dependency is `async def`, although none awaits anything: FastAPI runs a plain `def`
dependency on the thread pool, and the hops (about ten per prediction) cost more CPU than the
work itself (bench/serving/README.md). None of them may block: no I/O, no waiting on a lock.
"""

from typing import Annotated

from fastapi import Depends, Header, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from flipkart_api.auth import check_admin
from flipkart_api.catalog import LoadedModel, ModelCatalog, ModelSet
from flipkart_api.errors import ApiError
from flipkart_api.inputs import Source, read_sources
from flipkart_api.memory import DecodeBudget
from flipkart_api.metrics import Metrics
from flipkart_api.services.prediction import Origin, PredictionService, check_top_k
from flipkart_api.settings import Settings
from flipkart_api.store.predictions import PredictionStore
from flipkart_api.tokens import PredictionCredentials


async def app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def catalog(request: Request) -> ModelCatalog:
    return request.app.state.catalog


async def metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def optional_database(request: Request) -> PredictionStore | None:
    """The prediction store; None when it is disabled (`FLIPKART_STORE_ENABLED=false`)."""
    return request.app.state.database


SettingsDep = Annotated[Settings, Depends(app_settings)]
CatalogDep = Annotated[ModelCatalog, Depends(catalog)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
OptionalDatabaseDep = Annotated[PredictionStore | None, Depends(optional_database)]


async def database(found: OptionalDatabaseDep) -> PredictionStore:
    """The prediction store, or 503 `store_disabled` for routes that cannot work without it."""
    if found is None:
        raise ApiError(
            503,
            "store_disabled",
            "The prediction store is disabled on this server (FLIPKART_STORE_ENABLED=false).",
        )
    return found


DatabaseDep = Annotated[PredictionStore, Depends(database)]


async def prediction_service(
    request: Request, settings: SettingsDep, metrics: MetricsDep, database: OptionalDatabaseDep
) -> PredictionService:
    return PredictionService(settings, metrics, database, request.app.state.decode_budget)


PredictionServiceDep = Annotated[PredictionService, Depends(prediction_service)]


async def current_models(catalog: CatalogDep) -> ModelSet:
    """The model set of this request (its listing included); one per request, so the model and
    the listing a request uses come from the same set even during a reload."""
    return catalog.current


CurrentModels = Annotated[ModelSet, Depends(current_models)]


async def selected_model(
    models: CurrentModels,
    model: Annotated[
        str | None,
        Query(max_length=200, description="run_id or architecture (default: production)."),
    ] = None,
) -> LoadedModel:
    """The model of the `model` query parameter; 404/422/503 when there is none to use."""
    return models.resolve(model)


async def production_model(catalog: CatalogDep) -> LoadedModel:
    return catalog.current.resolve(None)


SelectedModel = Annotated[LoadedModel, Depends(selected_model)]
ProductionModel = Annotated[LoadedModel, Depends(production_model)]


async def top_k(
    model: SelectedModel,
    top_k: Annotated[
        int | None, Query(ge=1, description="How many classes to return (default: all).")
    ] = None,
) -> int:
    return check_top_k(top_k, model)


TopK = Annotated[int, Depends(top_k)]


async def one_image(request: Request, settings: SettingsDep) -> Source:
    """The request's image (multipart `file`, JSON `image` or `url`, or a raw image body)."""
    [source] = await read_sources(request, settings, batch=False)
    return source


async def one_listing(request: Request, settings: SettingsDep) -> Source:
    """The request's image and/or listing text (`title`, `description`)."""
    [source] = await read_sources(request, settings, batch=False, text=True)
    return source


async def batch_listings(request: Request, settings: SettingsDep) -> list[Source]:
    """The request's images and/or listing texts, one slot each (a bad one spoils only its slot).

    The rate limit counts one unit per slot: `rate_limit` charged the first before the body
    was read, the others are charged here, all or none.
    """
    sources = await read_sources(request, settings, batch=True, text=True)
    limiter = request.app.state.rate_limiter
    if limiter is not None:
        limiter.check_rest_of_batch(request, len(sources))
    return sources


OneImage = Annotated[Source, Depends(one_image)]
OneListing = Annotated[Source, Depends(one_listing)]
BatchListings = Annotated[list[Source], Depends(batch_listings)]


async def origin(request: Request) -> Origin:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return Origin(content_type=content_type, route=request.url.path)


OriginDep = Annotated[Origin, Depends(origin)]


ADMIN_KEY = HTTPBearer(
    auto_error=False,  # check_admin answers the 401/403, in the service's error format
    description="The admin API key (its sha256 is configured in FLIPKART_ADMIN_KEY_SHA256).",
)


async def require_admin(
    request: Request,
    settings: SettingsDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(ADMIN_KEY)],
) -> None:
    """The admin routes' guard: a valid API key (see flipkart_api.auth)."""
    check_admin(request, settings)


async def stats_access(request: Request, settings: SettingsDep) -> None:
    """`/v1/stats` needs the admin key unless `FLIPKART_STATS_PRIVATE=false`."""
    if settings.stats_private:
        check_admin(request, settings)


async def rate_limit(request: Request) -> None:
    """Per-client token buckets on the routes that do work (`FLIPKART_RATE_LIMIT_PER_MINUTE`)."""
    limiter = request.app.state.rate_limiter
    if limiter is not None:
        limiter.check(request)


async def prediction_credentials(
    request: Request,
    settings: SettingsDep,
    token: Annotated[
        str | None,
        Header(
            alias="X-Feedback-Token",
            max_length=128,
            description="The `feedback_token` of the prediction's answer (or send the admin key).",
        ),
    ] = None,
) -> PredictionCredentials:
    admin, admin_error = False, None
    if request.headers.get("authorization"):
        try:
            check_admin(request, settings)
            admin = True
        except ApiError as exc:  # reported only when the token does not open the way either
            admin_error = exc
    return PredictionCredentials(token or None, admin, admin_error)


PredictionCredentialsDep = Annotated[PredictionCredentials, Depends(prediction_credentials)]


async def explain_rate_limit(request: Request, settings: SettingsDep) -> None:
    """An explanation runs grid² + 1 images: it costs `explain_rate_cost` units."""
    limiter = request.app.state.rate_limiter
    if limiter is not None:
        limiter.check(request, cost=settings.explain_rate_cost)


async def explain_slots(request: Request) -> DecodeBudget:
    return request.app.state.explain_slots


ExplainSlotsDep = Annotated[DecodeBudget, Depends(explain_slots)]
