"""One JSON error shape for every failure: `{"error": {"code": "...", "message": "..."}}`.

An exception nothing else handles is answered by `LastResortMiddleware` (500, same shape) and
is not re-raised: Starlette's own last handler re-raises after answering, and uvicorn then
closes the connection, so a client's next request on the same keep-alive connection failed.
"""

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A failure the client can act on (or a 503 while the model is not ready)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message}},
        headers=headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body(), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        # The headers carry `Allow` on a 405 (RFC 9110 requires it).
        return error_response(exc.status_code, code, str(exc.detail), exc.headers)

    # Only reached from outside `LastResortMiddleware` (the outer middleware itself failing);
    # Starlette re-raises after this answer, and the server closes the connection.
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "The server failed unexpectedly.")


INTERNAL_ERROR_BODY = json.dumps(
    {"error": {"code": "internal_error", "message": "The server failed unexpectedly."}}
).encode()


class LastResortMiddleware:
    """Answers an unhandled exception with a JSON 500 and keeps the connection usable.

    Sits inside the application's middleware (request id, access log, CORS), which therefore
    see the 500 like any other answer. An exception raised after the answer has started cannot
    be answered: it is re-raised, and the server closes that connection.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked_send(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        except Exception:
            if started:
                raise
            log.exception("unhandled error", extra={"path": scope.get("path")})
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(INTERNAL_ERROR_BODY)).encode()),
            ]
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
