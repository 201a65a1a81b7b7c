"""Bytes → RGB image → the model's input, exactly as `artifacts/README.md` specifies.

Decoding is defensive: size and pixel limits are checked before pixels are decoded, every
Pillow failure becomes an `ApiError` (4xx), never a 500.
"""

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from flipkart_api.errors import ApiError

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
# A JPEG is decoded at a reduced DCT scale only while it stays at least this many times
# larger than the model's view, so the final antialiased resize still does the real work.
DRAFT_MARGIN = 2


@dataclass(frozen=True)
class ResizePolicy:
    mode: str  # "crop" or "pad"
    size: int
    interpolation: str = "bicubic"
    crop_pct: float = 1.0
    pad_color: tuple[int, int, int] = (255, 255, 255)

    @classmethod
    def from_card(cls, preprocessing: dict) -> "ResizePolicy":
        mode = preprocessing["mode"]
        interpolation = preprocessing.get("interpolation", "bicubic")
        if mode not in ("crop", "pad"):
            raise ValueError(f"unknown resize mode {mode!r}")
        if interpolation not in FILTERS:
            raise ValueError(f"unknown interpolation {interpolation!r}")
        return cls(
            mode=mode,
            size=int(preprocessing["size"]),
            interpolation=interpolation,
            crop_pct=float(preprocessing.get("crop_pct", 1.0)),
            pad_color=tuple(int(c) for c in preprocessing.get("pad_color", (255, 255, 255))),
        )

    def resized_long_side(self, width: int, height: int) -> float:
        """How long the image's longer side will be once resized (before crop or pad)."""
        long, short = max(width, height), min(width, height)
        if self.mode == "pad":
            return float(self.size)
        return math.floor(self.size / self.crop_pct) * long / short


def decode_image(data: bytes, max_pixels: int, policy: ResizePolicy | None = None) -> Image.Image:
    """Decode any Pillow-readable image to RGB: first frame, EXIF orientation applied."""
    if not data:
        raise ApiError(400, "empty_image", "The image is empty (0 bytes).")
    try:
        with warnings.catch_warnings():
            # Our own (configurable) pixel limit is checked below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(max_pixels) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ApiError(
            422, "not_an_image", "The data is not an image Pillow can read (JPEG, PNG, WebP...)."
        ) from exc
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ApiError(422, "empty_image", f"The image has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels, width, height)
    if policy is not None and image.format == "JPEG":
        _request_draft(image, policy)
    try:
        image.seek(0)  # first frame of animations
        image.load()
        image = _exif_transpose(image)
        return to_rgb(image, policy.pad_color if policy else (255, 255, 255))
    except ApiError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ApiError(
            422, "corrupt_image", f"The image is truncated or corrupt ({exc})."[:300]
        ) from exc


def _too_many_pixels(max_pixels: int, width: int = 0, height: int = 0) -> ApiError:
    size = f" ({width}x{height})" if width else ""
    return ApiError(
        413, "too_many_pixels", f"The image has too many pixels{size}; the limit is {max_pixels}."
    )


def _request_draft(image: Image.Image, policy: ResizePolicy) -> None:
    width, height = image.size
    ratio = max(width, height) / policy.resized_long_side(width, height)
    if ratio < 2 * DRAFT_MARGIN:
        return
    wanted = (math.ceil(width * DRAFT_MARGIN / ratio), math.ceil(height * DRAFT_MARGIN / ratio))
    image.draft("RGB", wanted)


def _exif_transpose(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        return image


def to_rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any mode to RGB; transparency composited on `background`, 16-bit and float rescaled."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0
        image = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")
        return image.convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ApiError(
            422, "unsupported_image_mode", f"Cannot convert mode {mode} to RGB."
        ) from exc


def resize(image: Image.Image, policy: ResizePolicy) -> Image.Image:
    """The card's resize policy, applied to an RGB image (see artifacts/README.md)."""
    resample = FILTERS[policy.interpolation]
    width, height = image.size
    size = policy.size
    if policy.mode == "crop":
        scale = math.floor(size / policy.crop_pct)
        if width <= height:
            new_w, new_h = scale, int(scale * height / width)
        else:
            new_w, new_h = int(scale * width / height), scale
        image = image.resize((new_w, new_h), resample)
        top = round((new_h - size) / 2)
        left = round((new_w - size) / 2)
        return image.crop((left, top, left + size, top + size))
    if width >= height:
        new_w, new_h = size, max(1, round(size * height / width))
    else:
        new_w, new_h = max(1, round(size * width / height)), size
    image = image.resize((new_w, new_h), resample)
    canvas = Image.new("RGB", (size, size), policy.pad_color)
    canvas.paste(image, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def to_pixels(image: Image.Image) -> np.ndarray:
    """RGB image → float32 `[H, W, 3]` with values 0–255 (what `pixels` expects per image)."""
    return np.asarray(image, dtype=np.float32)
