"""What a model of the lab sees: its resize policy, normalisation and training augmentation.

Decoding and the resize policies themselves are the contract's (`flipkart_contract`): the lab's
evaluation, its training data and the service all see the same pixels. Training augmentation
works on batches of those cached uint8 views, so no image is decoded during an epoch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from flipkart_contract import ResizePolicy
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 0.875


def model_norm(model: nn.Module) -> tuple[tuple, tuple]:
    """The model's mean and std (timm's pretrained config, ImageNet's otherwise)."""
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))


def resize_policy_for(
    model: nn.Module,
    method: str,
    size: int,
    interpolation: str | None = None,
    crop_pct: float | None = None,
) -> ResizePolicy:
    """The card's resize policy for a model: interpolation and crop_pct default to the model's
    timm config (crop_pct only matters for `crop`; `pad` keeps the whole image)."""
    cfg: dict[str, Any] = getattr(model, "pretrained_cfg", {}) or {}
    if interpolation is None:
        interpolation = cfg.get("interpolation", "bicubic")
        if interpolation not in ("bilinear", "bicubic"):  # timm knows more filters than a card
            interpolation = "bicubic"
    if crop_pct is None:
        crop_pct = cfg.get("crop_pct", DEFAULT_CROP_PCT) if method == "crop" else 1.0
    return ResizePolicy(method=method, size=size, interpolation=interpolation, crop_pct=crop_pct)


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
