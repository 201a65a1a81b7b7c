"""Reading the image(s) of a request, and their listing text: multipart upload, base64 JSON, a
URL, or a raw image body; an optional title and description beside each image, or instead of it.

Text is cleaned as the text model was trained on (`flipkart_contract.text.clean_text`, cut to the
contract's limits); blank text is absent; text longer than the request limits
(`max_title_chars`, `max_description_chars`) is refused, 413 `text_too_long`; a multipart text
field that is not valid UTF-8 is refused, 400 `invalid_text_encoding`.
"""

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request
from flipkart_contract.text import DESCRIPTION_MAX_CHARS, TITLE_MAX_CHARS, clean_text
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from flipkart_api.errors import ApiError
from flipkart_api.settings import Settings

MULTIPART_OVERHEAD = 64 * 1024
DATA_URL_PREFIX = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]*)*;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One slot: an image (its bytes, or a URL still to fetch) and/or its listing text (cleaned,
    '' when absent), or the error that spoiled it."""

    data: bytes | None = None
    url: str | None = None
    error: ApiError | None = None
    title: str = ""
    description: str = ""

    @property
    def has_image(self) -> bool:
        return self.data is not None or self.url is not None

    def with_text(self, title: str, description: str) -> "Source":
        return Source(self.data, self.url, self.error, title, description)


# ---------------------------------------------------------------- text fields

TEXT_FIELDS = {"title": TITLE_MAX_CHARS, "description": DESCRIPTION_MAX_CHARS}


class InvalidText:
    """A multipart text field whose bytes are not valid in the body's charset (UTF-8)."""


INVALID_TEXT = InvalidText()


def clean_field(value: object, field: str, settings: Settings) -> str:
    """The cleaned text of the `title` or `description` field ('' when absent or blank)."""
    if value is None:
        return ""
    if value is INVALID_TEXT:
        raise ApiError(400, "invalid_text_encoding", f"The {field} is not valid UTF-8 text.")
    if not isinstance(value, str):
        raise ApiError(422, "invalid_text_field", f"The {field} must be a string.")
    limit = settings.max_title_chars if field == "title" else settings.max_description_chars
    if len(value) > limit:
        raise ApiError(
            413,
            "text_too_long",
            f"The {field} is {len(value)} characters long; the limit is {limit}.",
        )
    return clean_text(value, TEXT_FIELDS[field])


def text_slot(title: object, description: object, settings: Settings, image: Source) -> Source:
    """`image` with its cleaned text; without an image, a text-only slot (its text not blank)."""
    cleaned = {
        field: clean_field(value, field, settings)
        for field, value in (("title", title), ("description", description))
    }
    if image.has_image or image.error is not None or any(cleaned.values()):
        return image.with_text(cleaned["title"], cleaned["description"])
    if any(isinstance(v, str) and v for v in (title, description)):
        raise ApiError(
            422,
            "empty_text",
            "The title and description hold no text once cleaned (only spaces or control "
            "characters), and there is no image.",
        )
    raise _missing_image()


def _missing_image(what: str = "") -> ApiError:
    return ApiError(
        422,
        "missing_image",
        what
        or "Send an image (multipart 'file', JSON 'image' or 'url') and/or a 'title' or "
        "'description'.",
    )


def _text_slot_or_error(title: object, description: object, settings: Settings, image: Source):
    try:
        return text_slot(title, description, settings, image)
    except ApiError as exc:
        return Source(error=exc)


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


async def read_sources(
    request: Request, settings: Settings, *, batch: bool, text: bool = False
) -> list[Source]:
    """The request's slots. A whole-request problem raises; a per-image one fills a slot.

    `text`: the route reads the listing text too (a slot may then be text only); otherwise the
    text fields are ignored and every slot is an image.
    """
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
        sources = await _from_multipart(request, body, settings, batch, text)
    elif content_type == "application/json" or content_type.endswith("+json"):
        sources = _from_json(body, settings, batch, text)
    elif not batch and (content_type.startswith("image/") or content_type in RAW_TYPES):
        sources = [_source_or_error(lambda: Source(data=_checked_size(body, settings)))]
    else:
        accepted = "multipart/form-data or application/json"
        raise ApiError(
            415, "unsupported_media_type", f"Content type {content_type!r}: send {accepted}."
        )
    if batch and len(sources) > settings.max_batch_images:
        raise _too_many_images(len(sources), settings)
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


class StrictTextParser(MultiPartParser):
    """Starlette's multipart parser, except that a text field that does not decode in the
    body's charset becomes `INVALID_TEXT` (Starlette falls back to latin-1 silently)."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset)
            except (UnicodeDecodeError, LookupError):
                self.items.append((part.field_name, INVALID_TEXT))
                return
        super().on_part_end()


async def parse_multipart(request: Request, body: bytes, settings: Settings) -> FormData:
    async def replay() -> AsyncIterator[bytes]:
        yield body

    parser = StrictTextParser(
        request.headers,
        replay(),
        max_files=settings.max_batch_images + 1,
        max_fields=100,
        max_part_size=len(body) + 1,  # the body is bounded already; long text gets its 413
    )
    try:
        return await parser.parse()
    except MultiPartException as exc:
        raise ApiError(
            400, "invalid_multipart", f"Malformed multipart body: {exc.message}"
        ) from exc


async def _from_multipart(
    request: Request, body: bytes, settings: Settings, batch: bool, text: bool
) -> list[Source]:
    field = "files" if batch else "file"
    form = await parse_multipart(request, body, settings)
    try:
        images = []
        for value in form.getlist(field):
            if not isinstance(value, UploadFile):  # the request's shape, not one image, is wrong
                raise ApiError(422, "invalid_image_field", f"{field!r} must be a file.")
            data = await value.read()
            images.append(_source_or_error(lambda d=data: Source(data=_checked_size(d, settings))))
        suffix = "s" if batch else ""
        texts = {name: form.getlist(name + suffix) if text else [] for name in TEXT_FIELDS}
        for name, values in texts.items():
            if any(isinstance(v, UploadFile) for v in values):
                raise ApiError(
                    422, "invalid_text_field", f"{name + suffix!r} must be a text field."
                )
        if not batch:
            if len(images) > 1:
                return images  # read_sources refuses it (several_images)
            for name, values in texts.items():
                if len(values) > 1:
                    raise ApiError(422, "invalid_text_field", f"Send one {name!r} field.")
            if not images and not text:
                raise _missing_image(f"The multipart body has no {field!r} file field.")
            image = images[0] if images else Source()
            title, description = (values[0] if values else None for values in texts.values())
            return [text_slot(title, description, settings, image)]
        if not images and not any(texts.values()):
            raise _missing_image(f"The multipart body has no {field!r} file field.")
        return _batch_slots(images, texts["title"], texts["description"], settings, suffix="s")
    finally:
        await form.close()


def _batch_slots(
    images: list[Source],
    titles: list[object] | None,
    descriptions: list[object] | None,
    settings: Settings,
    suffix: str,
) -> list[Source]:
    """One slot per image with its text (titles and descriptions, when given, one per image in
    order); without images, one text-only slot per title/description."""
    count = len(images) or max(len(titles or ()), len(descriptions or ()))
    for name, values in (("title", titles), ("description", descriptions)):
        if values and len(values) != count:
            raise ApiError(
                422,
                "text_count_mismatch",
                f"{len(values)} {name}{suffix} for {count} "
                f"{'images' if images else 'slots'}: send one per image, in order "
                "(an empty one for an image without text), or none.",
            )
    if count > settings.max_batch_images:
        raise _too_many_images(count, settings)
    images = images or [Source()] * count
    return [
        _text_slot_or_error(
            titles[i] if titles else None,
            descriptions[i] if descriptions else None,
            settings,
            image,
        )
        for i, image in enumerate(images)
    ]


def _too_many_images(count: int, settings: Settings) -> ApiError:
    return ApiError(
        413,
        "too_many_images",
        f"{count} images in one request; the limit is {settings.max_batch_images}.",
    )


def _from_json(body: bytes, settings: Settings, batch: bool, text: bool) -> list[Source]:
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
        return _batch_from_json(payload if text else _without_text(payload), settings)
    given = [key for key in ("image", "url") if payload.get(key) is not None]
    if len(given) > 1:
        raise _missing_image('Send at most one of {"image": "<base64>"} or {"url": "..."}.')
    if not given:
        image = Source()
    elif given[0] == "image":
        image = _source_or_error(lambda: Source(data=decode_base64(payload["image"], settings)))
    else:
        image = _url_source(payload["url"])
    if not text:
        if not given:
            raise _missing_image('Send exactly one of {"image": "<base64>"} or {"url": "..."}.')
        return [image]
    return [text_slot(payload.get("title"), payload.get("description"), settings, image)]


def _without_text(payload: dict) -> dict:
    return {key: payload.get(key) for key in ("images", "urls")}


def _batch_from_json(payload: dict, settings: Settings) -> list[Source]:
    given = [key for key in ("images", "urls") if payload.get(key) is not None]
    texts = {name: payload.get(name + "s") for name in TEXT_FIELDS}
    for name, values in texts.items():
        if values is not None and not isinstance(values, list):
            raise ApiError(422, "invalid_text_field", f"{name + 's'!r} must be a list.")
    lists_ok = len(given) == 1 and isinstance(payload[given[0]], list) and payload[given[0]]
    if not lists_ok and not (not given and any(texts.values())):
        raise _missing_image(
            'Send exactly one non-empty list: {"images": ["<base64>", ...]} or {"urls": [...]}, '
            'each with optional "titles" and "descriptions" (one per image), or only those.'
        )
    items = payload[given[0]] if given else []
    if len(items) > settings.max_batch_images:
        raise _too_many_images(len(items), settings)
    if not all(isinstance(item, str) for item in items):  # the shape is wrong, not one image
        raise ApiError(422, "invalid_image_field", f"Every item of {given[0]!r} must be a string.")
    if given and given[0] == "urls":
        images = [_url_source(url) for url in items]
    else:
        images = [
            _source_or_error(lambda i=item: Source(data=decode_base64(i, settings)))
            for item in items
        ]
    return _batch_slots(images, texts["title"], texts["description"], settings, suffix="s")


def _url_source(url: object) -> Source:
    if not isinstance(url, str) or not url:
        return Source(error=ApiError(422, "invalid_url", "The URL must be a non-empty string."))
    return Source(url=url)
