"""Bytes or a file → an RGB image, the same way for training, evaluation and serving.

Limits are checked before any pixel is decoded; EXIF orientation is applied; the first frame
of an animation is used; every mode becomes RGB (16-bit and float rescaled to 0–255, alpha
composited on the resize policy's pad colour). Every failure is an `ImageDecodeError` with a
stable `code` and the HTTP status a service should answer with.

JPEG draft: a large JPEG may be decoded at a reduced DCT scale (1/2, 1/4, 1/8) when the
policy will shrink it a lot anyway. The draft keeps at least `DRAFT_MARGIN` times the pixels
the resize needs, so the final antialiased resize still does the real work, and since every
part (both labs and the service) decodes through here, they all see the same pixels.
"""

from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from flipkart_contract.resize import WHITE, ResizePolicy

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DRAFT_MARGIN = 2
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


class ImageDecodeError(ValueError):
    """An image that cannot be used; `status` is the HTTP status a service answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def decode_image(
    data: bytes,
    *,
    policy: ResizePolicy | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
) -> Image.Image:
    """Decode any Pillow-readable image to RGB (see the module docstring).

    With a `policy`, large JPEGs take the draft path and transparency is composited on the
    policy's pad colour (white otherwise).
    """
    if not data:
        raise ImageDecodeError(400, "empty_image", "The image is empty (0 bytes).")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageDecodeError(
            413, "image_too_large", f"The image is {len(data)} bytes; the limit is {max_bytes}."
        )
    try:
        with warnings.catch_warnings():
            # Our own pixel limit is checked below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(
            422, "not_an_image", "The data is not an image Pillow can read (JPEG, PNG, WebP...)."
        ) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageDecodeError(422, "empty_image", f"The image has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels, width, height)
    if policy is not None and image.format == "JPEG":
        request_draft(image, policy)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # first frame of animations
            image.load()
        image = _exif_transpose(image)
        return to_rgb(image, tuple(policy.pad_color) if policy else WHITE)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(
            422, "corrupt_image", f"The image is truncated or corrupt ({exc})."[:300]
        ) from exc


def open_image_file(
    path: str | os.PathLike[str],
    *,
    policy: ResizePolicy | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """`decode_image` of a file's bytes; a missing file raises FileNotFoundError."""
    with open(path, "rb") as handle:
        data = handle.read()
    return decode_image(data, policy=policy, max_pixels=max_pixels)


def request_draft(image: Image.Image, policy: ResizePolicy) -> bool:
    """Ask Pillow to decode a JPEG at a reduced scale when the resize allows it.

    Returns whether a draft was requested. Pillow then picks the smallest DCT scale that keeps
    the image at least `wanted` in both dimensions.
    """
    width, height = image.size
    ratio = max(width, height) / policy.resized_long_side(width, height)
    if ratio < 2 * DRAFT_MARGIN:
        return False
    wanted = (math.ceil(width * DRAFT_MARGIN / ratio), math.ceil(height * DRAFT_MARGIN / ratio))
    image.draft("RGB", wanted)
    return True


def _exif_transpose(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        return image


def to_rgb(image: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """Any mode to RGB; transparency composited on `background`, 16-bit and float rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0
        grey = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
        return grey.convert("RGB")
    has_alpha = mode in ALPHA_MODES or (mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ImageDecodeError(
            422, "unsupported_image_mode", f"Cannot convert mode {mode} to RGB."
        ) from exc


def _too_many_pixels(max_pixels: int, width: int = 0, height: int = 0) -> ImageDecodeError:
    size = f" ({width}x{height})" if width else ""
    return ImageDecodeError(
        413, "too_many_pixels", f"The image has too many pixels{size}; the limit is {max_pixels}."
    )


def model_view(
    source: bytes | str | os.PathLike[str],
    policy: ResizePolicy,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """What a model sees of an encoded image or a file: uint8 `[size, size, 3]`.

    Decode (draft decision included) + the policy's resize: the one path used by the labs'
    evaluation, the exported model's checks and the service.
    """
    from flipkart_contract.resize import resize, to_pixels

    if isinstance(source, bytes | bytearray):
        image = decode_image(bytes(source), policy=policy, max_pixels=max_pixels)
    else:
        image = open_image_file(source, policy=policy, max_pixels=max_pixels)
    return to_pixels(resize(image, policy))
