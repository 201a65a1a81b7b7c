"""Bytes or a file → an RGB image, the same way for training, evaluation and serving.

Limits are checked before any pixel is decoded; EXIF orientation is applied; the first frame
of an animation is used; every mode becomes RGB (16-bit and float rescaled to 0–255, alpha
composited on the resize policy's pad colour). Every failure is an `ImageDecodeError` with a
stable `code` and the HTTP status a service should answer with.

JPEG draft: a large JPEG may be decoded at a reduced DCT scale (1/2, 1/4, 1/8) when the
policy will shrink it a lot anyway. The draft keeps at least `DRAFT_MARGIN` times the pixels
the resize needs, so the final antialiased resize still does the real work, and since every
part (both labs and the service) decodes through here, they all see the same pixels.

Reduced decode of other formats: PNG, WebP, GIF... have no reduced-scale decoder, so a large one
(over `REDUCE_MIN_PIXELS`) that the policy will shrink a lot is reduced (`Image.reduce`, a box
filter, same `DRAFT_MARGIN`) right after loading, converted to RGB strip by strip: the RGB copy
of the full image is never made. `decode_cost` estimates the peak memory of a decode from the
header alone, so that a service can reserve it before decoding (`open_image`, then
`finish_decode`; `decode_image` does both).
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
REDUCE_MIN_PIXELS = 4_000_000
STRIP_PIXELS = 1_000_000  # pixels converted at a time on the reduced path
# Bytes per pixel of Pillow's in-memory modes (RGB is stored on 4 bytes); others take 4.
PILLOW_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Modes converted with the whole image's maximum in view (see `to_rgb`): never reduced in strips.
WHOLE_IMAGE_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")
ORIENTATION = 0x0112
TRANSPOSE_OF_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


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

    With a `policy`, large JPEGs take the draft path, other large images the reduced path, and
    transparency is composited on the policy's pad colour (white otherwise).
    """
    image = open_image(data, policy=policy, max_pixels=max_pixels, max_bytes=max_bytes)
    return finish_decode(image, policy)


def open_image(
    data: bytes,
    *,
    policy: ResizePolicy | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
) -> Image.Image:
    """The image's header only: limits checked, JPEG draft requested, no pixel decoded yet."""
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
    return image


def finish_decode(image: Image.Image, policy: ResizePolicy | None = None) -> Image.Image:
    """Decode an `open_image` result: first frame, reduced path, EXIF orientation, RGB."""
    background = tuple(policy.pad_color) if policy else WHITE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)  # first frame of animations
            image.load()
        factor = reduce_factor(image, policy)
        if factor > 1:
            orientation = _orientation(image)
            image = _reduced_rgb(image, factor, background)
            method = TRANSPOSE_OF_ORIENTATION.get(orientation)
            return image.transpose(method) if method is not None else image
        image = _exif_transpose(image)
        return to_rgb(image, background)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(
            422, "corrupt_image", f"The image is truncated or corrupt ({exc})."[:300]
        ) from exc


def reduce_factor(image: Image.Image, policy: ResizePolicy | None) -> int:
    """The `Image.reduce` factor of the reduced path; 1 = decode in full.

    Large non-JPEG images only (JPEGs have the draft); the reduced image keeps at least
    `DRAFT_MARGIN` times the pixels the resize needs, like the draft.
    """
    width, height = image.size
    if policy is None or image.format == "JPEG" or width * height < REDUCE_MIN_PIXELS:
        return 1
    if image.mode in WHOLE_IMAGE_MODES:
        return 1
    ratio = max(width, height) / policy.resized_long_side(width, height)
    return max(1, int(ratio // DRAFT_MARGIN))


def decode_cost(image: Image.Image, policy: ResizePolicy | None = None) -> int:
    """An upper estimate of the bytes a `finish_decode` of this `open_image` result holds at
    its peak, from the header (size after any draft, mode) alone."""
    width, height = image.size
    pixels = width * height
    source = pixels * PILLOW_PIXEL_BYTES.get(image.mode, 4)
    factor = reduce_factor(image, policy)
    if factor > 1:
        rows = max(factor, STRIP_PIXELS // max(1, width) // factor * factor)
        strip = width * min(rows, height) * 16  # crop, RGBA, canvas, RGB
        reduced = math.ceil(width / factor) * math.ceil(height / factor) * 4
        return source + strip + 2 * reduced  # the output, and its transposed copy
    mode = image.mode
    if mode == "RGB":
        extra = 0
    elif mode in ALPHA_MODES or mode == "P":
        extra = 12 * pixels  # RGBA copy, canvas, RGB
    elif mode in WHOLE_IMAGE_MODES:
        extra = 13 * pixels  # float64 values, L, RGB
    else:
        extra = 4 * pixels  # RGB
    # A PNG's EXIF may follow its pixels: Pillow would decode them to read it, so not here.
    header_exif = "exif" in image.info or image.format != "PNG"
    turned = header_exif and _orientation(image) in TRANSPOSE_OF_ORIENTATION
    rotated = source if turned else 0
    return source + rotated + extra


def _reduced_rgb(image: Image.Image, factor: int, background: tuple[int, int, int]) -> Image.Image:
    """`to_rgb(image).reduce(factor)`, converted strip by strip (strips of whole reduce boxes,
    so the result is the same), never holding the RGB copy of the whole image."""
    width, height = image.size
    rows = max(factor, STRIP_PIXELS // max(1, width) // factor * factor)
    out = Image.new("RGB", (math.ceil(width / factor), math.ceil(height / factor)))
    for top in range(0, height, rows):
        strip = to_rgb(image.crop((0, top, width, min(height, top + rows))), background)
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        return 1


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
        # In place: no copy of the whole image when there is nothing to turn.
        ImageOps.exif_transpose(image, in_place=True)
        return image
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
