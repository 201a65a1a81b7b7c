"""Resize policies of the model card (artifacts/README.md) and training augmentation.

Eval preprocessing works on PIL images and returns uint8 HWC arrays: exactly what an exported
model's `pixels` input expects (normalisation happens inside the model). Training augmentation
works on batches of those cached uint8 arrays, so no JPEG is decoded during an epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
RESIZE_MODES = ("crop", "pad")
WHITE = (255, 255, 255)


def preprocessing_config(
    mode: str,
    size: int,
    interpolation: str = "bicubic",
    crop_pct: float = 1.0,
    pad_color: tuple[int, int, int] | list[int] = WHITE,
) -> dict[str, Any]:
    """The card's `preprocessing` object, validated."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"interpolation must be one of {tuple(INTERPOLATIONS)}, got {interpolation!r}"
        )
    if size < 8:
        raise ValueError(f"image size must be at least 8, got {size}")
    if not 0 < crop_pct <= 1:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct}")
    return {
        "mode": mode,
        "size": int(size),
        "interpolation": interpolation,
        "crop_pct": float(crop_pct),
        "pad_color": [int(c) for c in pad_color],
    }


def to_rgb(image: Image.Image, pad_color: tuple[int, int, int] | list[int] = WHITE) -> Image.Image:
    """EXIF orientation applied, any mode to RGB, alpha composited on `pad_color`."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*tuple(pad_color), 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def resize_crop(image: Image.Image, size: int, crop_pct: float, resample: int) -> Image.Image:
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
    image: Image.Image, size: int, resample: int, pad_color: tuple[int, int, int] | list[int]
) -> Image.Image:
    w, h = image.size
    if w >= h:
        new_w, new_h = size, max(1, round(size * h / w))
    else:
        new_w, new_h = max(1, round(size * w / h)), size
    resized = image.resize((new_w, new_h), resample)
    canvas = Image.new("RGB", (size, size), tuple(pad_color))
    canvas.paste(resized, ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def apply_policy(image: Image.Image, preprocessing: dict[str, Any]) -> np.ndarray:
    pad_color = preprocessing.get("pad_color", WHITE)
    rgb = to_rgb(image, pad_color)
    resample = INTERPOLATIONS[preprocessing["interpolation"]]
    size = preprocessing["size"]
    if preprocessing["mode"] == "crop":
        out = resize_crop(rgb, size, preprocessing.get("crop_pct", 1.0), resample)
    elif preprocessing["mode"] == "pad":
        out = resize_pad(rgb, size, resample, pad_color)
    else:
        raise ValueError(
            f"resize mode must be one of {RESIZE_MODES}, got {preprocessing['mode']!r}"
        )
    return np.asarray(out, dtype=np.uint8)


def eval_transform(card_preprocessing: dict[str, Any]) -> Callable[[Image.Image], np.ndarray]:
    """PIL image -> uint8 HWC array, as the card's `preprocessing` prescribes."""
    checked = preprocessing_config(**card_preprocessing)
    return lambda image: apply_policy(image, checked)


def normalize(batch_uint8_nhwc: torch.Tensor, mean: tuple, std: tuple) -> torch.Tensor:
    """uint8/float NHWC 0-255 -> float NCHW normalised (the same maths as the exported graph)."""
    x = batch_uint8_nhwc.float().permute(0, 3, 1, 2) / 255.0
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Training augmentation of a float NHWC 0-255 batch: random resized crop (scale 0.6-1,
    ratio 3/4-4/3), horizontal flip, brightness/contrast jitter. Deterministic given `generator`.
    """
    n, h, w, _ = batch.shape
    x = batch.permute(0, 3, 1, 2)
    out = torch.empty_like(x)
    rand = torch.rand(n, 6, generator=generator)
    for i in range(n):
        area = (0.6 + 0.4 * rand[i, 0].item()) * h * w
        ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * rand[i, 1].item())
        ch = min(h, max(1, round(math.sqrt(area / ratio))))
        cw = min(w, max(1, round(math.sqrt(area * ratio))))
        top = int(rand[i, 2].item() * (h - ch + 1))
        left = int(rand[i, 3].item() * (w - cw + 1))
        crop = x[i : i + 1, :, top : top + ch, left : left + cw]
        crop = F.interpolate(
            crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True
        )
        if rand[i, 4].item() < 0.5:
            crop = crop.flip(-1)
        out[i] = crop[0]
    jitter = torch.rand(n, 2, generator=generator)
    brightness = (0.8 + 0.4 * jitter[:, 0]).view(n, 1, 1, 1)
    contrast = (0.8 + 0.4 * jitter[:, 1]).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean) * brightness
    return out.clamp(0, 255).permute(0, 2, 3, 1)
