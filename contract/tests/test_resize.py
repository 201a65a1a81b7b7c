import numpy as np
import pytest
from flipkart_contract import ResizePolicy, resize, to_pixels
from flipkart_contract.testing import gradient_image
from PIL import Image
from pydantic import ValidationError


def test_pad_keeps_the_whole_image_centred_on_the_pad_colour():
    image = Image.new("RGB", (200, 100), (0, 0, 0))
    out = resize(image, ResizePolicy(method="pad", size=64, pad_color=(1, 2, 3)))
    assert out.size == (64, 64)
    pixels = to_pixels(out)
    assert tuple(pixels[0, 32]) == (1, 2, 3)  # band above the image
    assert tuple(pixels[32, 32]) == (0, 0, 0)
    assert (pixels[:16] == (1, 2, 3)).all() and (pixels[48:] == (1, 2, 3)).all()


def test_crop_is_timms_eval_transform():
    image = gradient_image((300, 200))
    policy = ResizePolicy(method="crop", size=64, crop_pct=0.875)
    scale = int(64 / 0.875)  # floor
    expected = image.resize((int(scale * 300 / 200), scale), Image.Resampling.BICUBIC)
    left = round((expected.width - 64) / 2)
    top = round((expected.height - 64) / 2)
    expected = expected.crop((left, top, left + 64, top + 64))
    assert np.array_equal(to_pixels(resize(image, policy)), to_pixels(expected))


def test_tall_and_one_pixel_images():
    assert resize(Image.new("RGB", (1, 500)), ResizePolicy(size=32)).size == (32, 32)
    crop = ResizePolicy(method="crop", size=32)
    assert resize(Image.new("RGB", (3, 500)), crop).size == (32, 32)


def test_to_pixels_float():
    out = to_pixels(Image.new("RGB", (2, 2), (9, 8, 7)), np.float32)
    assert out.dtype == np.float32 and out.shape == (2, 2, 3) and out[0, 0, 0] == 9.0


def test_policy_validation():
    with pytest.raises(ValidationError):
        ResizePolicy(method="stretch")
    with pytest.raises(ValidationError):
        ResizePolicy(size=4)
    with pytest.raises(ValidationError):
        ResizePolicy(crop_pct=1.5)
    with pytest.raises(ValidationError):
        ResizePolicy(pad_color=(0, 0, 300))
    with pytest.raises(ValidationError):
        ResizePolicy(interpolation="nearest")
    with pytest.raises(ValidationError):
        ResizePolicy(size=32, colour="red")


def test_version_1_key_mode_is_read_as_method():
    assert ResizePolicy.model_validate({"mode": "crop", "size": 32}).method == "crop"


def test_resized_long_side():
    assert ResizePolicy(method="pad", size=224).resized_long_side(1000, 500) == 224
    crop = ResizePolicy(method="crop", size=224, crop_pct=0.875)
    assert crop.resized_long_side(1000, 500) == 256 * 2
