"""The lab's eval view is the contract's (decode + resize policy, as artifacts/README.md states
them), the model's policy defaults."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flipkart_contract import ImageDecodeError, ResizePolicy, model_view
from flipkart_contract.testing import encode, gradient_image
from flipkart_torch.data import load_eval_view
from flipkart_torch.models.factory import create_model
from flipkart_torch.transforms import resize_policy_for
from PIL import Image


def save(image: Image.Image, path: Path, **save_args) -> Path:
    image.save(path, **save_args)
    return path


def test_pad_keeps_the_whole_product_centred_on_the_pad_colour(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (100, 50), (10, 20, 30)), tmp_path / "flat.png")
    policy = ResizePolicy(method="pad", size=64, interpolation="bilinear", pad_color=(255, 0, 255))
    out = load_eval_view(path, policy)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # longer side 64, shorter round(64 * 50 / 100) = 32, pasted at y = (64 - 32) // 2 = 16
    assert (out[16:48, :, :] == [10, 20, 30]).all()
    assert (out[:16] == [255, 0, 255]).all() and (out[48:] == [255, 0, 255]).all()


def test_pad_matches_the_contract_step_by_step(tmp_path: Path) -> None:
    image = gradient_image((77, 120))
    out = load_eval_view(save(image, tmp_path / "g.png"), ResizePolicy(method="pad", size=50))
    new_w = max(1, round(50 * 77 / 120))
    expected = Image.new("RGB", (50, 50), (255, 255, 255))
    expected.paste(image.resize((new_w, 50), Image.Resampling.BICUBIC), ((50 - new_w) // 2, 0))
    np.testing.assert_array_equal(out, np.asarray(expected))


def test_crop_matches_timms_eval_geometry(tmp_path: Path) -> None:
    image = gradient_image((90, 60))
    size, crop_pct = 32, 0.875
    policy = ResizePolicy(method="crop", size=size, interpolation="bilinear", crop_pct=crop_pct)
    out = load_eval_view(save(image, tmp_path / "g.png"), policy)
    scale = int(size / crop_pct)  # floor
    resized = image.resize((int(scale * 90 / 60), scale), Image.Resampling.BILINEAR)
    top, left = round((resized.height - size) / 2), round((resized.width - size) / 2)
    expected = np.asarray(resized.crop((left, top, left + size, top + size)))
    np.testing.assert_array_equal(out, expected)


def test_alpha_is_composited_on_the_pad_colour(tmp_path: Path) -> None:
    path = save(Image.new("RGBA", (10, 10), (0, 0, 0, 0)), tmp_path / "clear.png")
    out = load_eval_view(path, ResizePolicy(method="pad", size=10, interpolation="bilinear"))
    assert (out == 255).all()


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (200, 0, 0))
    image.paste((0, 0, 200), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = save(image, tmp_path / "rotated.jpg", exif=exif, quality=95)
    out = load_eval_view(path, ResizePolicy(method="pad", size=20, interpolation="bilinear"))
    # Displayed upright, the image is 20 wide and 40 high with the blue half on top.
    assert out[2, 10, 2] > 150 and out[17, 10, 0] > 150
    assert (out[:, :4] == 255).all()  # padded left and right: the long side is vertical


def test_a_large_jpeg_is_the_services_view_draft_decoding_included(tmp_path: Path) -> None:
    """The lab sees what the service sees: the contract's model_view, JPEG draft included."""
    data = encode(gradient_image((1600, 1200)), "JPEG", quality=90)
    path = tmp_path / "large.jpg"
    path.write_bytes(data)
    policy = ResizePolicy(method="crop", size=64, crop_pct=0.875)
    np.testing.assert_array_equal(load_eval_view(path, policy), model_view(data, policy))


def test_unreadable_file_is_a_contract_error(tmp_path: Path) -> None:
    path = tmp_path / "not-an-image.jpg"
    path.write_bytes(b"plain text")
    with pytest.raises(ImageDecodeError) as error:
        load_eval_view(path, ResizePolicy(size=32))
    assert error.value.code == "not_an_image"


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="method"):
        ResizePolicy(method="stretch", size=32)
    model = create_model("test_efficientnet", num_classes=3)
    with pytest.raises(ValueError, match="interpolation"):
        resize_policy_for(model, "pad", 32, interpolation="lanczos")


def test_policy_defaults_come_from_the_models_timm_config() -> None:
    model = create_model("test_efficientnet", num_classes=3)
    cfg = model.pretrained_cfg
    crop = resize_policy_for(model, "crop", 64)
    assert crop.crop_pct == cfg["crop_pct"] and crop.interpolation == cfg["interpolation"]
    pad = resize_policy_for(model, "pad", 64)
    assert pad.crop_pct == 1.0 and pad.size == 64  # pad keeps the whole image
    assert resize_policy_for(model, "crop", 64, "bilinear", 0.9).crop_pct == 0.9
