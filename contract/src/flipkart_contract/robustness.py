"""Realistic upload conditions: what happens to a catalogue photo before it reaches the service.

Each condition turns a clean product photo (the dataset's: a product on white) into the bytes
a user would upload. Deterministic for a given seed. Used by the robustness suite (the
backend's `evaluate --robustness`, the labs' augmentations may borrow the same ideas) so every
model is judged on the same perturbed files.

| condition | what it imitates |
| --- | --- |
| `clean` | the photo re-encoded as a high-quality JPEG (the reference) |
| `phone_photo` | a phone snapshot: grey uneven surface, slight rotation and perspective, |
|  | warm/cool cast, softer focus, 12 MP upscale, JPEG 85 |
| `textured_background` | the product, cut out by its near-white background, on a wood/fabric |
|  | texture |
| `greyscale` | a black-and-white photo |
| `heavy_jpeg` | an image recompressed by messaging apps (JPEG quality 25) |
| `low_resolution` | a thumbnail blown up again (longer side 80 px, then 4x) |
| `colour_cast` | strong tungsten or fluorescent light (channel gains 0.75–1.25) |
| `dark` | underexposed (brightness 0.55, contrast 0.8) |
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

CONDITIONS = (
    "clean",
    "phone_photo",
    "textured_background",
    "greyscale",
    "heavy_jpeg",
    "low_resolution",
    "colour_cast",
    "dark",
)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def near_white_mask(image: Image.Image, threshold: int = 235) -> np.ndarray:
    """True where the pixel belongs to the (near-white) background."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return (pixels.min(axis=2) >= threshold) & (np.ptp(pixels, axis=2) <= 12)


def texture(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A wood- or fabric-like texture: stripes with noise in a random earthy colour."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(6, 30)
    stripes = np.sin((x * math.cos(angle) + y * math.sin(angle)) / period * 2 * math.pi)
    noise = rng.normal(0, 1, (h, w))
    base = rng.uniform([90, 60, 30], [200, 160, 120])
    value = 0.75 + 0.15 * stripes[..., None] + 0.08 * noise[..., None]
    return Image.fromarray(np.clip(base * value, 0, 255).astype(np.uint8), "RGB")


def perturb(image: Image.Image, condition: str, seed: int = 0) -> bytes:
    """The upload's bytes for one photo under one condition."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    rng = np.random.default_rng([seed, CONDITIONS.index(condition)])
    image = image.convert("RGB")
    if condition == "clean":
        return _jpeg(image, 95)
    if condition == "greyscale":
        return _jpeg(image.convert("L").convert("RGB"), 92)
    if condition == "heavy_jpeg":
        return _jpeg(image, 25)
    if condition == "low_resolution":
        small = image.copy()
        small.thumbnail((80, 80), Image.Resampling.BILINEAR)
        return _jpeg(
            small.resize((small.width * 4, small.height * 4), Image.Resampling.BILINEAR), 90
        )
    if condition == "colour_cast":
        gains = rng.uniform(0.75, 1.25, 3)
        return _jpeg(_gains(image, gains), 92)
    if condition == "dark":
        dark = ImageEnhance.Contrast(ImageEnhance.Brightness(image).enhance(0.55)).enhance(0.8)
        return _jpeg(dark, 92)
    if condition == "textured_background":
        mask = near_white_mask(image)
        background = np.asarray(texture(image.size, rng))
        pixels = np.asarray(image).copy()
        pixels[mask] = background[mask]
        return _jpeg(Image.fromarray(pixels), 92)
    return _phone_photo(image, rng)


def _gains(image: Image.Image, gains: np.ndarray) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64) * gains.reshape(1, 1, 3)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _phone_photo(image: Image.Image, rng: np.random.Generator) -> bytes:
    w, h = image.size
    # A table-top shot: the product on a slightly grey, unevenly lit surface.
    surface = np.asarray(image, dtype=np.float64)
    mask = near_white_mask(image)
    surface[mask] = surface[mask] * rng.uniform(0.82, 0.93)
    yy = np.linspace(-1, 1, h)[:, None, None]
    xx = np.linspace(-1, 1, w)[None, :, None]
    light = 1.0 - 0.12 * (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
    shot = Image.fromarray(np.clip(surface * light, 0, 255).astype(np.uint8), "RGB")
    # Hand-held: a small rotation and a perspective skew, filled with the surface colour.
    fill = tuple(int(v) for v in np.asarray(shot)[mask].mean(axis=0)) if mask.any() else (200,) * 3
    shot = shot.rotate(rng.uniform(-6, 6), Image.Resampling.BICUBIC, expand=False, fillcolor=fill)
    dx, dy = w * rng.uniform(0.02, 0.07), h * rng.uniform(0.02, 0.07)
    quad = (dx, dy * rng.uniform(0, 1), 0, h, w, h - dy * rng.uniform(0, 1), w - dx, 0)
    shot = shot.transform(
        (w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=fill
    )
    shot = _gains(shot, rng.uniform(0.88, 1.12, 3))
    shot = shot.filter(ImageFilter.GaussianBlur(rng.uniform(0.6, 1.4)))
    # Phone resolution (12 MP class on the longer side), phone JPEG.
    scale = 4032 / max(w, h)
    shot = shot.resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
    return _jpeg(shot, 85)
