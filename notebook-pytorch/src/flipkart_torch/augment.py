"""Training augmentation, batched on the training device: no per-image Python loop.

Works on a uint8 or float batch `[N, H, W, 3]` of 0–255 RGB views (the cached, policy-resized
images), moved to the device first, and returns float `[N, H, W, 3]` 0–255. Every random draw is
a tensor of N values (or one value for the whole batch) from the given generators, so a seed
reproduces an epoch on a given device.

Recipes (`RECIPES`):
- `basic`: the original recipe — random resized crop (area 0.6–1), flip, brightness/contrast.
- `catalogue`: what breaks a model on real uploads of catalogue products — the product
  composited on another background through its near-white mask, stronger crops, rotation and
  shear, colour casts, saturation, greyscale, blur, down-then-up scaling, random erasing (a
  rectangle of one random colour).
Mixup / CutMix (`mix`) is separate: it needs the labels and yields soft targets for
`soft_cross_entropy`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    area: tuple[float, float] = (0.6, 1.0)  # random resized crop: fraction of the image area
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    rotate_deg: float = 0.0
    shear: float = 0.0
    brightness: float = 0.2  # factor drawn in [1 - b, 1 + b]
    contrast: float = 0.2
    saturation: float = 0.0
    colour_cast: float = 0.0  # per-channel gain in [1 - c, 1 + c]
    greyscale: float = 0.0  # probability
    blur: float = 0.0  # probability (Gaussian, sigma 0.5-1.5 px at 224 px)
    downscale: float = 0.0  # probability of down-then-up scaling to 25-60 % of the size
    background: float = 0.0  # probability of a new background behind the product
    erasing: float = 0.0  # probability of one random rectangle of noise

    def as_dict(self) -> dict:
        return asdict(self)


RECIPES: dict[str, AugmentConfig] = {
    "basic": AugmentConfig(),
    "catalogue": AugmentConfig(
        area=(0.35, 1.0),
        rotate_deg=12.0,
        shear=0.1,
        brightness=0.3,
        contrast=0.3,
        saturation=0.4,
        colour_cast=0.15,
        greyscale=0.15,
        blur=0.2,
        downscale=0.2,
        background=0.35,
        erasing=0.25,
    ),
}


def recipe(name: str, **overrides) -> AugmentConfig:
    if name not in RECIPES:
        raise ValueError(f"unknown augmentation recipe {name!r}; known: {', '.join(RECIPES)}")
    return replace(RECIPES[name], **overrides)


def _uniform(n: int, low: float, high: float, g: torch.Generator, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g, device=device)


def _chosen(n: int, p: float, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) < p


def near_white(x: torch.Tensor, threshold: float = 235.0, spread: float = 12.0) -> torch.Tensor:
    """[N, 1, H, W] mask of the near-white background of NCHW 0-255 images."""
    low = x.amin(dim=1, keepdim=True)
    high = x.amax(dim=1, keepdim=True)
    return (low >= threshold) & (high - low <= spread)


def random_backgrounds(
    n: int, h: int, w: int, g: torch.Generator, device, dtype=torch.float32
) -> torch.Tensor:
    """Smooth random textures (a coloured base with low- and high-frequency variation)."""
    base = torch.rand(n, 3, 1, 1, generator=g, device=device, dtype=dtype) * 200 + 30
    coarse = torch.randn(n, 3, 6, 6, generator=g, device=device, dtype=dtype)
    coarse = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    fine = torch.randn(n, 1, (h + 1) // 2, (w + 1) // 2, generator=g, device=device, dtype=dtype)
    fine = F.interpolate(fine, size=(h, w), mode="nearest")
    strength = torch.rand(n, 1, 1, 1, generator=g, device=device, dtype=dtype)
    return (base + 35 * strength * coarse + 10 * strength * fine).clamp(0, 255)


def _geometry(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random resized crop, flip, rotation and shear as one batched affine resampling."""
    n, _, h, w = x.shape
    dev = x.device
    area = _uniform(n, *cfg.area, g, dev)
    log_ratio = _uniform(n, math.log(cfg.ratio[0]), math.log(cfg.ratio[1]), g, dev)
    ratio = torch.exp(log_ratio)
    sw = torch.sqrt(area * ratio).clamp(max=1.0)  # crop width as a fraction of the image
    sh = torch.sqrt(area / ratio).clamp(max=1.0)
    tx = (torch.rand(n, generator=g, device=dev) * 2 - 1) * (1 - sw)
    ty = (torch.rand(n, generator=g, device=dev) * 2 - 1) * (1 - sh)
    flip = torch.where(_chosen(n, cfg.hflip, g, dev), -1.0, 1.0)
    angle = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, g, dev) * math.pi / 180
    shear = _uniform(n, -cfg.shear, cfg.shear, g, dev)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # output (u, v) in [-1, 1]^2 -> input = R(angle) @ [[sw*flip, shear*sw], [0, sh]] @ (u, v) + t
    a, b = sw * flip, shear * sw
    theta = torch.stack(
        [
            torch.stack([cos * a, cos * b - sin * sh, tx], dim=1),
            torch.stack([sin * a, sin * b + cos * sh, ty], dim=1),
        ],
        dim=1,
    ).to(x.dtype)
    grid = F.affine_grid(theta, [n, 3, h, w], align_corners=False)
    # Sample (x - 255) so that what falls outside the image comes back white, like the pad.
    return (
        F.grid_sample(x - 255, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        + 255
    )


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _colour(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    n, dev = x.shape[0], x.device
    shape = (n, 1, 1, 1)
    grey_weights = torch.tensor([0.299, 0.587, 0.114], device=dev, dtype=x.dtype).view(1, 3, 1, 1)
    if cfg.colour_cast > 0:
        gains = 1 + (torch.rand(n, 3, 1, 1, generator=g, device=dev) * 2 - 1) * cfg.colour_cast
        x = x * gains.to(x.dtype)
    if cfg.saturation > 0 or cfg.greyscale > 0:
        sat = _uniform(n, 1 - cfg.saturation, 1 + cfg.saturation, g, dev)
        sat = torch.where(_chosen(n, cfg.greyscale, g, dev), torch.zeros_like(sat), sat)
        grey = (x * grey_weights).sum(dim=1, keepdim=True)
        x = grey + (x - grey) * sat.view(shape).to(x.dtype)
    if cfg.contrast > 0:
        c = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, g, dev).view(shape).to(x.dtype)
        mean = (x * grey_weights).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
        x = (x - mean) * c + mean
    if cfg.brightness > 0:
        b = _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, g, dev).view(shape).to(x.dtype)
        x = x * b
    return x


def _subset(x: torch.Tensor, chosen: torch.Tensor, fn) -> torch.Tensor:
    """Apply `fn` to the chosen images only (one batched call), keep the others."""
    if not bool(chosen.any()):
        return x
    out = x.clone()
    out[chosen] = fn(x[chosen])
    return out


def augment_batch(
    batch: torch.Tensor,
    cfg: AugmentConfig,
    generator: torch.Generator,
    batch_rng: np.random.Generator,
) -> torch.Tensor:
    """Augment a `[N, H, W, 3]` 0-255 batch on its device (see the module docstring).

    `generator` (on the batch's device) draws the per-image values; `batch_rng` draws the few
    per-batch values (blur sigma, downscale factor).
    """
    x = batch.permute(0, 3, 1, 2).float()
    n, _, h, w = x.shape
    dev = x.device
    if cfg.background > 0:
        chosen = _chosen(n, cfg.background, generator, dev).view(n, 1, 1, 1)
        mask = near_white(x) & chosen
        x = torch.where(mask, random_backgrounds(n, h, w, generator, dev), x)
    x = _geometry(x, cfg, generator)
    if cfg.downscale > 0:
        factor = float(batch_rng.uniform(0.25, 0.6))
        small = (max(8, round(h * factor)), max(8, round(w * factor)))
        x = _subset(
            x,
            _chosen(n, cfg.downscale, generator, dev),
            lambda s: F.interpolate(
                F.interpolate(s, size=small, mode="bilinear", antialias=True, align_corners=False),
                size=(h, w),
                mode="bilinear",
                align_corners=False,
            ),
        )
    x = _colour(x, cfg, generator)
    if cfg.blur > 0:
        sigma = float(batch_rng.uniform(0.5, 1.5)) * h / 224
        x = _subset(x, _chosen(n, cfg.blur, generator, dev), lambda s: _gaussian_blur(s, sigma))
    if cfg.erasing > 0:
        x = _erase(x, _chosen(n, cfg.erasing, generator, dev), generator)
    return x.clamp(0, 255).permute(0, 2, 3, 1)


def _erase(x: torch.Tensor, chosen: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One random rectangle (2-20 % of the area) of one random colour per chosen image."""
    n, c, h, w = x.shape
    dev = x.device
    area = _uniform(n, 0.02, 0.2, g, dev)
    ratio = torch.exp(_uniform(n, math.log(0.3), math.log(3.3), g, dev))
    eh = (torch.sqrt(area / ratio) * h).clamp(1, h)
    ew = (torch.sqrt(area * ratio) * w).clamp(1, w)
    top = torch.rand(n, generator=g, device=dev) * (h - eh)
    left = torch.rand(n, generator=g, device=dev) * (w - ew)
    rows = torch.arange(h, device=dev).view(1, h, 1)
    cols = torch.arange(w, device=dev).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + eh).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + ew).view(n, 1, 1))
        & chosen.view(n, 1, 1)
    )
    colour = torch.rand(n, c, 1, 1, generator=g, device=dev, dtype=x.dtype) * 255
    return torch.where(inside.unsqueeze(1), colour, x)


def one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    off = smoothing / num_classes
    targets = torch.full((len(labels), num_classes), off, device=labels.device)
    targets.scatter_(1, labels.view(-1, 1), 1.0 - smoothing + off)
    return targets


def mix(
    batch: torch.Tensor,
    targets: torch.Tensor,
    batch_rng: np.random.Generator,
    mixup_alpha: float = 0.2,
    cutmix_alpha: float = 1.0,
    prob: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup or CutMix (one of them, with probability `prob`) on an NHWC batch.

    The batch is paired with its reverse, so no permutation needs a generator on the device.
    Returns the mixed batch and the soft targets (rows sum to 1).
    """
    if len(batch) < 2 or batch_rng.random() >= prob:
        return batch, targets
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or batch_rng.random() < 0.5)
    partner = torch.flip(torch.arange(len(batch), device=batch.device), dims=[0])
    if not use_cutmix:
        lam = float(batch_rng.beta(mixup_alpha, mixup_alpha))
        mixed = batch * lam + batch[partner] * (1 - lam)
        return mixed, targets * lam + targets[partner] * (1 - lam)
    lam = float(batch_rng.beta(cutmix_alpha, cutmix_alpha))
    _, h, w, _ = batch.shape
    ch, cw = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
    cy, cx = int(batch_rng.integers(0, h)), int(batch_rng.integers(0, w))
    top, bottom = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    left, right = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    mixed = batch.clone()
    mixed[:, top:bottom, left:right] = batch[partner, top:bottom, left:right]
    lam = 1 - (bottom - top) * (right - left) / (h * w)
    return mixed, targets * lam + targets[partner] * (1 - lam)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1).mean()


def augmented_copies(images, augmentation: AugmentConfig, copies: int, seed: int, device):
    """`copies` augmented uint8 NHWC copies of uint8 NHWC `images` (a NumPy array), one at a
    time: `augment_batch` on `device` in batches of 256, its draws from `seed` (the same copies
    for a seed on a given device)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    batch_rng = np.random.default_rng(seed)
    for _ in range(copies):
        parts = []
        for start in range(0, len(images), 256):
            batch = torch.from_numpy(images[start : start + 256]).to(device)
            pixels = augment_batch(batch, augmentation, generator, batch_rng)
            parts.append(pixels.round().clamp(0, 255).to(torch.uint8).cpu().numpy())
        yield np.concatenate(parts)
