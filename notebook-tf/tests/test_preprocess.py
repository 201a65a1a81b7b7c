"""`load_image`, the lab's one entry from a file to model pixels (the contract's decode and
resize), against hand-computed expectations on real files."""

import numpy as np
import pytest
from flipkart_contract import ImageDecodeError, ResizePolicy
from flipkart_contract.testing import encode, gradient_image
from flipkart_tf.preprocess import load_image
from PIL import Image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def save(image: Image.Image, path, fmt: str = "PNG", **save_args):
    path.write_bytes(encode(image, fmt, **save_args))
    return path


def test_pad_landscape_file_centres_on_white(tmp_path) -> None:
    # 40x20 → longer side 16, shorter round(16 * 20 / 40) = 8, pasted at y = (16 - 8) // 2 = 4
    path = save(Image.new("RGB", (40, 20), RED), tmp_path / "wide.png")
    out = load_image(path, ResizePolicy(method="pad", size=16, interpolation="bilinear"))
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[:4] == WHITE).all() and (out[12:] == WHITE).all()
    assert (out[4:12] == RED).all()


def test_pad_portrait_rounding_and_colour(tmp_path) -> None:
    # 10x30 → 16 high, width max(1, round(16 * 10 / 30)) = round(5.33) = 5, x = (16 - 5) // 2 = 5
    path = save(Image.new("RGB", (10, 30), BLUE), tmp_path / "tall.png")
    out = load_image(str(path), ResizePolicy(method="pad", size=16, pad_color=(0, 128, 0)))
    assert (out[:, 5:10] == BLUE).all()
    assert (out[:, :5] == (0, 128, 0)).all() and (out[:, 10:] == (0, 128, 0)).all()


def test_crop_pct_matches_the_hand_computed_box(tmp_path) -> None:
    # scale = floor(16 / 0.875) = 18; 40x20 → (int(18 * 40 / 20), 18) = (36, 18);
    # left = round((36 - 16) / 2) = 10, top = round((18 - 16) / 2) = 1
    image = gradient_image((40, 20))
    path = save(image, tmp_path / "gradient.png")
    out = load_image(path, ResizePolicy(method="crop", size=16, crop_pct=0.875))
    expected = image.resize((36, 18), Image.Resampling.BICUBIC).crop((10, 1, 26, 17))
    np.testing.assert_array_equal(out, np.asarray(expected))


def test_transparent_png_shows_the_pad_colour(tmp_path) -> None:
    path = save(Image.new("RGBA", (8, 8), (255, 0, 0, 0)), tmp_path / "clear.png")
    assert (load_image(path, ResizePolicy(method="pad", size=8)) == WHITE).all()


def test_exif_rotated_jpeg_is_shown_upright(tmp_path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display: the 30x10 file shows as 10x30
    path = save(Image.new("RGB", (30, 10), RED), tmp_path / "rotated.jpg", "JPEG", exif=exif)
    out = load_image(path, ResizePolicy(method="pad", size=15, interpolation="bilinear"))
    # shown 10x30 → 15 high, 5 wide, centred at x = 5
    assert (out[:, :5] == WHITE).all() and (out[:, 10:] == WHITE).all()
    assert out[:, 6:9, 0].min() > 200 and out[:, 6:9, 2].max() < 60


def test_unreadable_and_missing_files_raise_what_the_pipeline_skips(tmp_path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    policy = ResizePolicy(size=16)
    with pytest.raises(ImageDecodeError) as error:
        load_image(broken, policy)
    assert isinstance(error.value, ValueError)  # what data.load_split catches
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "gone.jpg", policy)
