"""What a model of the lab sees: its resize policy, normalisation and training augmentation.

Decoding and the resize policies themselves are the contract's (`flipkart_contract`): the lab's
evaluation, its training data and the service all see the same pixels. Training augmentation
works on batches of those cached uint8 views, so no image is decoded during an epoch.
"""

from __future__ import annotations

from typing import Any

import torch
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
