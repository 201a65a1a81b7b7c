"""`flipkart-api serve`: uvicorn on $PORT serving the production model.

With `FLIPKART_WORKERS` > 1 (0 = one per core), uvicorn runs that many worker processes on one
listening socket, each a whole app (`worker_app`) with its own models, micro-batcher, rate
limiter, decode budget and metrics, and ONNX Runtime's threads shared out among them
(`Settings.intra_op_threads`). The prediction store is migrated once, here, before the workers
start, so they never race to migrate.
"""

import argparse
import os

import uvicorn
from fastapi import FastAPI

from flipkart_api.app import create_app
from flipkart_api.logs import configure_logging
from flipkart_api.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="flipkart-api", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP service")
    serve.add_argument("--host", help="default: FLIPKART_HOST or 0.0.0.0")
    serve.add_argument("--port", type=int, help="default: PORT or 8000")
    serve.add_argument("--workers", type=int, help="default: FLIPKART_WORKERS or 1 (0 = cores)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.workers is not None:
        settings = settings.model_copy(update={"workers": args.workers})
    configure_logging(settings.log_level, settings.json_logs)
    uvicorn.run(**serve_options(settings, args.host, args.port))


def serve_options(settings: Settings, host: str | None = None, port: int | None = None) -> dict:
    """uvicorn.run's arguments: the app itself for one worker, an import string (each worker
    process builds its own app) for several."""
    options = {
        "host": host or settings.host,
        "port": port or settings.port,
        "access_log": False,  # our middleware logs each request as JSON, with its id
        "log_config": None,
        **proxy_options(settings),
    }
    workers = settings.worker_count()
    if workers == 1:
        return options | {"app": create_app(settings)}
    migrate_store(settings)
    # The workers read their settings from the environment: pass the resolved count on.
    os.environ["FLIPKART_WORKERS"] = str(workers)
    return options | {"app": "flipkart_api.cli:worker_app", "factory": True, "workers": workers}


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn calls this in each process it starts)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.json_logs)
    return create_app(settings)


def migrate_store(settings: Settings) -> None:
    """Migrate the prediction store (and create its token key) once, before the workers start."""
    if not settings.store_enabled:
        return
    from flipkart_api.store.predictions import PredictionStore

    store = PredictionStore(settings)
    try:
        store.open()  # a database that is down is logged; each worker retries by itself
    finally:
        store.close()


def proxy_options(settings: Settings) -> dict:
    """uvicorn believes X-Forwarded-For/-Proto from the same peers as the rate limit, and
    from none by default (uvicorn alone would trust 127.0.0.1, or $FORWARDED_ALLOW_IPS)."""
    proxies = ",".join(e.strip() for e in settings.trusted_proxies.split(",") if e.strip())
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or ""}
