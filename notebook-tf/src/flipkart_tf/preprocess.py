"""The resize policies of the model card (artifacts/README.md), done with Pillow.

They return uint8 HWC RGB arrays: exactly what an exported model's `pixels` input expects,
so the lab, the exported model and the server see the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageOps

INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
RESIZE_MODES = ("crop", "pad")
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class ResizePolicy:
    mode: str = "pad"
    size: int = 224
    interpolation: str = "bicubic"
    crop_pct: float = 1.0
    pad_color: tuple[int, int, int] = field(default=WHITE)

    def __post_init__(self) -> None:
        if self.mode not in RESIZE_MODES:
            raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {self.mode!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {tuple(INTERPOLATIONS)}, got {self.interpolation!r}"
            )
        if self.size < 8:
            raise ValueError(f"image size must be at least 8, got {self.size}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")
        if len(self.pad_color) != 3 or not all(0 <= int(c) <= 255 for c in self.pad_color):
            raise ValueError(f"pad_color must be 3 values in 0..255, got {self.pad_color!r}")
        object.__setattr__(self, "pad_color", tuple(int(c) for c in self.pad_color))

    def card(self) -> dict[str, Any]:
        """The card's `preprocessing` object."""
        data = asdict(self)
        data["pad_color"] = list(self.pad_color)
        data["crop_pct"] = float(self.crop_pct)
        return data


def to_rgb(image: Image.Image, background: tuple[int, int, int] = WHITE) -> Image.Image:
    """EXIF orientation applied, any mode converted to RGB, alpha composited on `background`."""
    image = ImageOps.exif_transpose(image)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def resize_crop(image: Image.Image, size: int, crop_pct: float, resample: int) -> Image.Image:
    """Shorter side to floor(size / crop_pct), then a centred size × size crop (timm eval)."""
    scale = math.floor(size / crop_pct)
    w, h = image.size
    if w <= h:
        new_w, new_h = scale, int(scale * h / w)
    else:
        new_w, new_h = int(scale * w / h), scale
    resized = image.resize((new_w, new_h), resample)
    top = round((new_h - size) / 2)
    left = round((new_w - size) / 2)
    return resized.crop((left, top, left + size, top + size))


def resize_pad(
    image: Image.Image, size: int, resample: int, pad_color: tuple[int, int, int]
) -> Image.Image:
    """Longer side to size, pasted centred on a size × size canvas of pad_color."""
    w, h = image.size
    if w >= h:
        new_w, new_h = size, max(1, round(size * h / w))
    else:
        new_w, new_h = max(1, round(size * w / h)), size
    resized = image.resize((new_w, new_h), resample)
    canvas = Image.new("RGB", (size, size), pad_color)
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def apply_policy(image: Image.Image, policy: ResizePolicy) -> np.ndarray:
    """An opened image → uint8 array [size, size, 3] under the card's resize policy."""
    rgb = to_rgb(image, policy.pad_color)
    resample = INTERPOLATIONS[policy.interpolation]
    if policy.mode == "crop":
        out = resize_crop(rgb, policy.size, policy.crop_pct, resample)
    else:
        out = resize_pad(rgb, policy.size, resample, policy.pad_color)
    return np.asarray(out, dtype=np.uint8)


def load_image(path: str, policy: ResizePolicy) -> np.ndarray:
    """Read, decode and resize one file; raises OSError/ValueError for unreadable images."""
    with Image.open(path) as image:
        image.load()
        return apply_policy(image, policy)
