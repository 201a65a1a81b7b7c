"""`flipkart-api serve`: uvicorn on $PORT serving the production model."""

import argparse

import uvicorn

from flipkart_api.app import create_app
from flipkart_api.logs import configure_logging
from flipkart_api.settings import Settings, get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="flipkart-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP service")
    serve.add_argument("--host", help="default: FLIPKART_HOST or 0.0.0.0")
    serve.add_argument("--port", type=int, help="default: PORT or 8000")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.json_logs)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        access_log=False,  # our middleware logs each request as JSON, with its id
        log_config=None,
        **proxy_options(settings),
    )


def proxy_options(settings: Settings) -> dict:
    """uvicorn believes X-Forwarded-For/-Proto from the same peers as the rate limit, and
    from none by default (uvicorn alone would trust 127.0.0.1, or $FORWARDED_ALLOW_IPS)."""
    proxies = ",".join(e.strip() for e in settings.trusted_proxies.split(",") if e.strip())
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or ""}
