"""Reading the image(s) of a request: multipart upload, base64 JSON, a URL, or a raw image body."""

import base64
import binascii
import json
import re
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from flipkart_api.errors import ApiError
from flipkart_api.settings import Settings

MULTIPART_OVERHEAD = 64 * 1024
DATA_URL_PREFIX = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]*)*;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One image slot: its bytes, a URL still to fetch, or the error that spoiled it."""

    data: bytes | None = None
    url: str | None = None
    error: ApiError | None = None


def body_limit(settings: Settings, batch: bool) -> int:
    # base64 inflates by 4/3; allow the multipart/JSON envelope on top.
    one = settings.max_upload_bytes * 4 // 3 + MULTIPART_OVERHEAD
    return max(one, settings.max_batch_bytes) if batch else one


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    # isascii: "²".isdigit() is true; the length check keeps int() far from its digit limit.
    digits = declared.lstrip("0")
    if declared.isascii() and declared.isdigit() and (len(digits) > 18 or int(declared) > limit):
        raise _body_too_large(limit)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _body_too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _body_too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"The request body is over {limit} bytes.")


def decode_base64(text: object, settings: Settings) -> bytes:
    if not isinstance(text, str):
        raise ApiError(422, "invalid_image_field", "The image must be a base64 string.")
    text = DATA_URL_PREFIX.sub("", text.strip(), count=1)
    text = "".join(text.split())
    if len(text) > settings.max_upload_bytes * 4 // 3 + 4:
        raise _file_too_large(settings)
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, "invalid_base64", "The image is not valid base64.") from exc
    if len(data) > settings.max_upload_bytes:
        raise _file_too_large(settings)
    return data


def _file_too_large(settings: Settings) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"The image is over {settings.max_upload_bytes} bytes."
    )


def _source_or_error(make) -> Source:
    try:
        return make()
    except ApiError as exc:
        return Source(error=exc)


async def read_sources(request: Request, settings: Settings, *, batch: bool) -> list[Source]:
    """The request's image slots. A whole-request problem raises; a per-image one fills a slot."""
    limit = body_limit(settings, batch)
    body = await read_body(request, limit)
    if not body:
        raise ApiError(
            400,
            "empty_body",
            "The request has no body: send a multipart file, JSON with base64 or a URL.",
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        sources = await _from_multipart(request, body, settings, batch)
    elif content_type == "application/json" or content_type.endswith("+json"):
        sources = _from_json(body, settings, batch)
    elif not batch and (content_type.startswith("image/") or content_type in RAW_TYPES):
        sources = [_source_or_error(lambda: Source(data=_checked_size(body, settings)))]
    else:
        accepted = "multipart/form-data or application/json"
        raise ApiError(
            415, "unsupported_media_type", f"Content type {content_type!r}: send {accepted}."
        )
    if batch and len(sources) > settings.max_batch_images:
        raise ApiError(
            413,
            "too_many_images",
            f"{len(sources)} images in one request; the limit is {settings.max_batch_images}.",
        )
    if not batch and len(sources) > 1:
        raise ApiError(
            422,
            "several_images",
            f"{len(sources)} images in a request that takes one: send one 'file' field "
            "(several images go to /v1/predict/batch as 'files').",
        )
    return sources


RAW_TYPES = ("application/octet-stream",)


def _checked_size(data: bytes, settings: Settings) -> bytes:
    if len(data) > settings.max_upload_bytes:
        raise _file_too_large(settings)
    return data


async def _from_multipart(
    request: Request, body: bytes, settings: Settings, batch: bool
) -> list[Source]:
    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    field = "files" if batch else "file"
    try:
        form = await Request(request.scope, replay).form(
            max_files=settings.max_batch_images + 1, max_fields=100
        )
    except StarletteHTTPException as exc:
        raise ApiError(400, "invalid_multipart", f"Malformed multipart body: {exc.detail}") from exc
    try:
        values = form.getlist(field)
        if not values:
            raise ApiError(422, "missing_image", f"The multipart body has no {field!r} file field.")
        sources = []
        for value in values:
            if not isinstance(value, UploadFile):  # the request's shape, not one image, is wrong
                raise ApiError(422, "invalid_image_field", f"{field!r} must be a file.")
            data = await value.read()
            sources.append(_source_or_error(lambda d=data: Source(data=_checked_size(d, settings))))
        return sources
    finally:
        await form.close()


def _from_json(body: bytes, settings: Settings, batch: bool) -> list[Source]:
    try:
        payload = json.loads(body)
    except RecursionError as exc:  # nested thousands deep: no image payload looks like that
        raise ApiError(400, "invalid_json", "The JSON body is nested too deeply.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from exc
    except ValueError as exc:  # an integer over Python's 4300 digits
        raise ApiError(400, "invalid_json", "The JSON body holds a number too long.") from exc
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_request", "The JSON body must be an object.")
    if batch:
        return _batch_from_json(payload, settings)
    given = [key for key in ("image", "url") if payload.get(key) is not None]
    if len(given) != 1:
        raise ApiError(
            422, "missing_image", 'Send exactly one of {"image": "<base64>"} or {"url": "..."}.'
        )
    if given[0] == "image":
        return [_source_or_error(lambda: Source(data=decode_base64(payload["image"], settings)))]
    return [_url_source(payload["url"])]


def _batch_from_json(payload: dict, settings: Settings) -> list[Source]:
    given = [key for key in ("images", "urls") if payload.get(key) is not None]
    if len(given) != 1 or not isinstance(payload[given[0]], list) or not payload[given[0]]:
        raise ApiError(
            422,
            "missing_image",
            'Send exactly one non-empty list: {"images": ["<base64>", ...]} or {"urls": [...]}.',
        )
    items = payload[given[0]]
    if len(items) > settings.max_batch_images:
        raise ApiError(
            413,
            "too_many_images",
            f"{len(items)} images in one request; the limit is {settings.max_batch_images}.",
        )
    if not all(isinstance(item, str) for item in items):  # the shape is wrong, not one image
        raise ApiError(422, "invalid_image_field", f"Every item of {given[0]!r} must be a string.")
    if given[0] == "urls":
        return [_url_source(url) for url in items]
    return [
        _source_or_error(lambda i=item: Source(data=decode_base64(i, settings))) for item in items
    ]


def _url_source(url: object) -> Source:
    if not isinstance(url, str) or not url:
        return Source(error=ApiError(422, "invalid_url", "The URL must be a non-empty string."))
    return Source(url=url)
