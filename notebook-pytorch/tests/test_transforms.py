"""Resize policies exactly as artifacts/README.md states them, and the training augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from flipkart_torch.transforms import augment, eval_transform
from PIL import Image


def striped(w: int, h: int) -> Image.Image:
    array = np.zeros((h, w, 3), dtype=np.uint8)
    array[:, :, 0] = (np.arange(w)[None, :] * 3 % 256).astype(np.uint8)
    array[:, :, 1] = (np.arange(h)[:, None] * 2 % 256).astype(np.uint8)
    return Image.fromarray(array)


def test_pad_keeps_the_whole_product_centred_on_the_pad_colour() -> None:
    image = Image.new("RGB", (100, 50), (10, 20, 30))
    out = eval_transform(
        {"mode": "pad", "size": 64, "interpolation": "bilinear", "pad_color": [255, 0, 255]}
    )(image)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # longer side 64, shorter round(64 * 50 / 100) = 32, pasted at y = (64 - 32) // 2 = 16
    assert (out[16:48, :, :] == [10, 20, 30]).all()
    assert (out[:16] == [255, 0, 255]).all() and (out[48:] == [255, 0, 255]).all()


def test_pad_matches_the_contract_step_by_step() -> None:
    image = striped(77, 120)
    out = eval_transform({"mode": "pad", "size": 50, "interpolation": "bicubic"})(image)
    new_w = max(1, round(50 * 77 / 120))
    expected = Image.new("RGB", (50, 50), (255, 255, 255))
    expected.paste(image.resize((new_w, 50), Image.Resampling.BICUBIC), ((50 - new_w) // 2, 0))
    np.testing.assert_array_equal(out, np.asarray(expected))


def test_crop_matches_timms_eval_geometry() -> None:
    image = striped(90, 60)
    size, crop_pct = 32, 0.875
    out = eval_transform(
        {"mode": "crop", "size": size, "interpolation": "bilinear", "crop_pct": crop_pct}
    )(image)
    scale = int(size / crop_pct)  # floor
    resized = image.resize((int(scale * 90 / 60), scale), Image.Resampling.BILINEAR)
    top, left = round((resized.height - size) / 2), round((resized.width - size) / 2)
    expected = np.asarray(resized.crop((left, top, left + size, top + size)))
    np.testing.assert_array_equal(out, expected)


def test_alpha_is_composited_on_the_pad_colour() -> None:
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    out = eval_transform({"mode": "pad", "size": 10, "interpolation": "bilinear"})(image)
    assert (out == 255).all()


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="resize mode"):
        eval_transform({"mode": "stretch", "size": 32, "interpolation": "bilinear"})
    with pytest.raises(ValueError, match="interpolation"):
        eval_transform({"mode": "pad", "size": 32, "interpolation": "lanczos"})


def test_augment_is_deterministic_per_generator_and_keeps_shape() -> None:
    batch = torch.from_numpy(np.stack([np.asarray(striped(32, 32))] * 4)).float()
    a = augment(batch, torch.Generator().manual_seed(1))
    b = augment(batch, torch.Generator().manual_seed(1))
    c = augment(batch, torch.Generator().manual_seed(2))
    assert a.shape == batch.shape
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 255
