"""The resize policies of a model card: what a model sees of an RGB image.

- `crop`: `scale = floor(size / crop_pct)`; the **shorter** side is resized to `scale` (the
  longer to `int(scale * long / short)`), then a centred `size × size` crop (offsets
  `round((h - size) / 2)`, `round((w - size) / 2)`). This is timm's eval transform.
- `pad`: the **longer** side is resized to `size` (the shorter to
  `max(1, round(size * short / long))`), pasted centred on a `size × size` canvas of
  `pad_color` (offsets `(size - w) // 2`, `(size - h) // 2`).
- `interpolation`: Pillow's antialiased `bilinear` or `bicubic` filter.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, model_validator

FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
RESIZE_METHODS = ("crop", "pad")
WHITE = (255, 255, 255)


class ResizePolicy(BaseModel):
    """The card's `resize_policy` object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["crop", "pad"] = "pad"
    size: int = Field(224, ge=8, le=4096)
    interpolation: Literal["bilinear", "bicubic"] = "bicubic"
    crop_pct: float = Field(1.0, gt=0, le=1)
    pad_color: tuple[int, int, int] = WHITE  # each 0..255, checked below

    @model_validator(mode="before")
    @classmethod
    def _legacy_mode_key(cls, data: Any) -> Any:
        # schema_version 1 cards called the method `mode` (a word the runs use for freeze/finetune).
        if isinstance(data, dict) and "mode" in data and "method" not in data:
            data = {("method" if k == "mode" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _check_colour(self) -> ResizePolicy:
        if not all(0 <= c <= 255 for c in self.pad_color):
            raise ValueError(f"pad_color must be 3 values in 0..255, got {list(self.pad_color)}")
        return self

    def resized_long_side(self, width: int, height: int) -> float:
        """How long the image's longer side will be once resized (before the crop or pad)."""
        if self.method == "pad":
            return float(self.size)
        long, short = max(width, height), min(width, height)
        return math.floor(self.size / self.crop_pct) * long / short


def resize(image: Image.Image, policy: ResizePolicy) -> Image.Image:
    """The policy applied to an RGB image: a `size × size` RGB image."""
    resample = FILTERS[policy.interpolation]
    width, height = image.size
    size = policy.size
    if policy.method == "crop":
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
    canvas = Image.new("RGB", (size, size), tuple(policy.pad_color))
    canvas.paste(image, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def to_pixels(image: Image.Image, dtype: Any = np.uint8) -> np.ndarray:
    """RGB image → `[H, W, 3]` array of 0–255 values (`float32` is what `pixels` expects)."""
    return np.asarray(image, dtype=dtype)
