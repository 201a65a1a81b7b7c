"""The card's resize policies against hand-computed expectations."""

import numpy as np
import pytest
from flipkart_tf.preprocess import ResizePolicy, apply_policy, load_image
from PIL import Image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def two_colour(w: int, h: int, horizontal: bool) -> Image.Image:
    """Left/right (horizontal=True) or top/bottom halves red and blue."""
    pixels = np.zeros((h, w, 3), np.uint8)
    if horizontal:
        pixels[:, : w // 2], pixels[:, w // 2 :] = RED, BLUE
    else:
        pixels[: h // 2], pixels[h // 2 :] = RED, BLUE
    return Image.fromarray(pixels)


def test_pad_landscape_centres_on_white() -> None:
    # 40x20 → longer side 16, shorter round(16 * 20 / 40) = 8, pasted at y = (16 - 8) // 2 = 4
    image = Image.new("RGB", (40, 20), RED)
    out = apply_policy(image, ResizePolicy("pad", 16, "bilinear"))
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[:4] == WHITE).all() and (out[12:] == WHITE).all()
    assert (out[4:12] == RED).all()


def test_pad_portrait_rounding_and_colour() -> None:
    # 10x30 → 16 high, width max(1, round(16 * 10 / 30)) = round(5.33) = 5, x = (16 - 5) // 2 = 5
    image = Image.new("RGB", (10, 30), BLUE)
    out = apply_policy(image, ResizePolicy("pad", 16, "bicubic", pad_color=(0, 128, 0)))
    assert (out[:, 5:10] == BLUE).all()
    assert (out[:, :5] == (0, 128, 0)).all() and (out[:, 10:] == (0, 128, 0)).all()


def test_crop_full_shorter_side_keeps_the_middle() -> None:
    # 20x40 top red / bottom blue, crop_pct 1 → 16x32, top = round((32 - 16) / 2) = 8
    out = apply_policy(two_colour(20, 40, False), ResizePolicy("crop", 16, "bilinear"))
    assert out.shape == (16, 16, 3)
    assert (out[:7] == RED).all() and (out[9:] == BLUE).all()  # rows 7-8 blend at the seam


def test_crop_pct_matches_the_hand_computed_box() -> None:
    # scale = floor(16 / 0.875) = 18; 40x20 → (int(18 * 40 / 20), 18) = (36, 18);
    # left = round((36 - 16) / 2) = 10, top = round((18 - 16) / 2) = 1
    image = two_colour(40, 20, True)
    out = apply_policy(image, ResizePolicy("crop", 16, "bicubic", crop_pct=0.875))
    expected = image.resize((36, 18), Image.Resampling.BICUBIC).crop((10, 1, 26, 17))
    np.testing.assert_array_equal(out, np.asarray(expected))


def test_alpha_is_composited_on_the_pad_colour(tmp_path) -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    path = tmp_path / "clear.png"
    rgba.save(path)
    out = load_image(str(path), ResizePolicy("pad", 8))
    assert (out == WHITE).all()


def test_exif_orientation_is_applied(tmp_path) -> None:
    image = Image.new("RGB", (30, 10), RED)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display: the 30x10 file shows as 10x30
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    out = load_image(str(path), ResizePolicy("pad", 15, "bilinear"))
    # shown 10x30 → 15 high, 5 wide, centred at x = 5
    assert (out[:, :5] == WHITE).all() and (out[:, 10:] == WHITE).all()
    assert out[:, 6:9, 0].min() > 200 and out[:, 6:9, 2].max() < 60


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "stretch"},
        {"interpolation": "nearest"},
        {"size": 4},
        {"crop_pct": 0.0},
        {"pad_color": (0, 0, 300)},
    ],
)
def test_bad_policies_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        ResizePolicy(**kwargs)


def test_card_form() -> None:
    card = ResizePolicy("crop", 224, "bicubic", 0.875).card()
    assert card == {
        "mode": "crop",
        "size": 224,
        "interpolation": "bicubic",
        "crop_pct": 0.875,
        "pad_color": [255, 255, 255],
    }
