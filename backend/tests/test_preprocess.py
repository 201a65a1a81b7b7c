"""Decoding and the two resize policies of artifacts/README.md."""

import io
import math

import numpy as np
import pytest
from flipkart_api.errors import ApiError
from flipkart_api.preprocess import ResizePolicy, decode_image, resize, to_pixels
from helpers import gradient_image, image_bytes
from PIL import Image

LIMIT = 10**8


def encode(image: Image.Image, fmt: str = "PNG", **args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **args)
    return buffer.getvalue()


def test_crop_policy_is_timms_eval_transform() -> None:
    image = gradient_image((100, 50))
    policy = ResizePolicy(mode="crop", size=32, interpolation="bilinear", crop_pct=0.875)
    # scale = floor(32 / 0.875) = 36; 100x50 → 72x36; offsets round(2.0)=2, round(20.0)=20
    expected = image.resize((72, 36), Image.Resampling.BILINEAR).crop((20, 2, 52, 34))
    assert np.array_equal(np.asarray(resize(image, policy)), np.asarray(expected))


def test_crop_policy_portrait_uses_python_rounding() -> None:
    image = gradient_image((45, 91))
    policy = ResizePolicy(mode="crop", size=20, interpolation="bicubic", crop_pct=0.9)
    # scale = floor(22.2) = 22; 45x91 → 22 x int(22*91/45)=44; offsets round(12/2)=6, round(1)=1
    expected = image.resize((22, 44), Image.Resampling.BICUBIC).crop((1, 12, 21, 32))
    assert np.array_equal(np.asarray(resize(image, policy)), np.asarray(expected))


def test_pad_policy_centres_on_the_pad_colour() -> None:
    image = Image.new("RGB", (80, 50), (10, 20, 30))
    policy = ResizePolicy(mode="pad", size=32, pad_color=(255, 0, 255))
    view = np.asarray(resize(image, policy))
    assert view.shape == (32, 32, 3)
    # 80x50 → 32x20, pasted at (0, 6): rows 0-5 and 26-31 are padding
    assert (view[:6] == (255, 0, 255)).all() and (view[26:] == (255, 0, 255)).all()
    assert (view[6:26] == (10, 20, 30)).all()


def test_pad_policy_keeps_at_least_one_pixel() -> None:
    image = Image.new("RGB", (1000, 2), (0, 0, 0))
    view = np.asarray(resize(image, ResizePolicy(mode="pad", size=32)))
    assert (view == 0).all(axis=2).sum() == 32  # one black row of 32 pixels


def test_to_pixels_is_float32_hwc_0_255() -> None:
    pixels = to_pixels(Image.new("RGB", (5, 4), (255, 0, 7)))
    assert pixels.dtype == np.float32 and pixels.shape == (4, 5, 3)
    assert pixels[0, 0].tolist() == [255.0, 0.0, 7.0]


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    data = encode(image, "JPEG", exif=exif.tobytes())
    assert decode_image(data, LIMIT).size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "1", "P", "CMYK", "LA", "RGBA", "I", "F", "YCbCr"])
def test_any_mode_becomes_rgb(mode: str) -> None:
    image = gradient_image((16, 12)).convert(mode)
    fmt = {"CMYK": "JPEG", "YCbCr": "JPEG", "F": "TIFF", "I": "TIFF"}.get(mode, "PNG")
    decoded = decode_image(encode(image, fmt), LIMIT)
    assert decoded.mode == "RGB" and decoded.size == (16, 12)


def test_transparency_is_composited_on_white() -> None:
    image = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    decoded = np.asarray(decode_image(encode(image), LIMIT))
    assert decoded[0, 0].tolist() == [255, 0, 0]
    assert decoded[4, 4].tolist() == [255, 255, 255]


def test_sixteen_bit_grey_is_rescaled_not_clipped() -> None:
    values = np.full((6, 6), 32896, dtype=np.uint16)  # mid-grey in 16 bits
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    decoded = np.asarray(decode_image(encode(image), LIMIT))
    assert decoded[0, 0].tolist() == [128, 128, 128]


def test_animated_images_give_their_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    decoded = np.asarray(decode_image(buffer.getvalue(), LIMIT))
    assert decoded[5, 5, 0] > 200 and decoded[5, 5, 2] < 50


def test_big_jpegs_use_draft_mode_with_a_small_difference() -> None:
    image = gradient_image((1600, 1200)).resize((1600, 1200))
    data = encode(image, "JPEG", quality=95)
    policy = ResizePolicy(mode="pad", size=64)
    drafted = decode_image(data, LIMIT, policy)
    full = decode_image(data, LIMIT)
    assert full.size == (1600, 1200)
    assert drafted.size[0] < 1600 and drafted.size[0] >= 2 * 64  # reduced, still 2x the target
    view_drafted = np.asarray(resize(drafted, policy), np.float32)
    diff = np.abs(view_drafted - np.asarray(resize(full, policy), np.float32))
    assert diff.mean() < 2.0 and diff.max() < 40


def test_small_jpegs_are_decoded_in_full() -> None:
    data = encode(gradient_image((200, 150)), "JPEG")
    assert decode_image(data, LIMIT, ResizePolicy(mode="crop", size=64)).size == (200, 150)


def test_pixel_limit_is_checked_before_decoding() -> None:
    data = image_bytes((3000, 3000), color=(255, 255, 255))
    with pytest.raises(ApiError) as raised:
        decode_image(data, 1_000_000)
    assert raised.value.status == 413 and raised.value.code == "too_many_pixels"


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty_image"), (b"GIF89a-nope", "not_an_image"), (b"plain text", "not_an_image")],
)
def test_bad_bytes_raise_client_errors(data: bytes, code: str) -> None:
    with pytest.raises(ApiError) as raised:
        decode_image(data, LIMIT)
    assert raised.value.code == code and 400 <= raised.value.status < 500


def test_truncated_jpeg_is_corrupt() -> None:
    data = encode(gradient_image((400, 300)), "JPEG")
    with pytest.raises(ApiError) as raised:
        decode_image(data[: len(data) // 3], LIMIT)
    assert raised.value.code == "corrupt_image" and raised.value.status == 422


def test_policy_from_card_rejects_unknown_values() -> None:
    card = {"mode": "pad", "size": 224, "interpolation": "bicubic", "pad_color": [1, 2, 3]}
    assert ResizePolicy.from_card(card).pad_color == (1, 2, 3)
    with pytest.raises(ValueError):
        ResizePolicy.from_card({**card, "mode": "stretch"})
    with pytest.raises(ValueError):
        ResizePolicy.from_card({**card, "interpolation": "lanczos"})


def test_resized_long_side_matches_the_policies() -> None:
    crop = ResizePolicy(mode="crop", size=224, crop_pct=0.875)
    assert crop.resized_long_side(400, 200) == math.floor(224 / 0.875) * 2
    assert ResizePolicy(mode="pad", size=224).resized_long_side(400, 200) == 224
