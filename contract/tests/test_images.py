"""Decoding: limits before decoding, every mode, EXIF, first frame, the JPEG draft decision."""

import io
import struct

import numpy as np
import pytest
from flipkart_contract import ImageDecodeError, ResizePolicy, decode_image, model_view
from flipkart_contract.images import open_image_file, request_draft, to_rgb
from flipkart_contract.testing import encode, gradient_image, image_bytes
from PIL import Image

PAD = ResizePolicy(method="pad", size=64)


def test_rgb_png_round_trips():
    image = decode_image(image_bytes((30, 20), color=(10, 20, 30)))
    assert image.mode == "RGB" and image.size == (30, 20)
    assert image.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "empty_image"),
        (b"GIF89a not really", 422, "not_an_image"),
        (b"%PDF-1.7\n" + b"x" * 200, 422, "not_an_image"),
        (b"text", 422, "not_an_image"),
    ],
)
def test_unusable_bytes_are_refused_with_a_code(data, status, code):
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data)
    assert (err.value.status, err.value.code) == (status, code)
    assert err.value.message


def test_truncated_jpeg_is_corrupt():
    data = encode(gradient_image((200, 150)), "JPEG", quality=90)
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data[: len(data) // 2])
    assert err.value.code == "corrupt_image" and err.value.status == 422


def test_pixel_limit_is_checked_before_decoding(monkeypatch):
    data = image_bytes((400, 300), fmt="PNG")
    loaded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: loaded.append(1))
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data, max_pixels=400 * 300 - 1)
    assert err.value.status == 413 and err.value.code == "too_many_pixels"
    assert "400x300" in err.value.message
    assert loaded == []


def test_png_header_claiming_huge_size_is_refused_without_decoding():
    # A valid PNG signature and IHDR chunk for 100000 x 100000 px, no pixel data at all.
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    with pytest.raises(ImageDecodeError) as err:
        decode_image(data)
    assert err.value.code == "too_many_pixels"


def test_byte_limit():
    with pytest.raises(ImageDecodeError) as err:
        decode_image(b"x" * 101, max_bytes=100)
    assert (err.value.status, err.value.code) == (413, "image_too_large")


def test_alpha_is_composited_on_the_pad_colour():
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))  # fully transparent red
    grey = ResizePolicy(method="pad", size=16, pad_color=(10, 20, 30))
    assert decode_image(encode(rgba, "PNG"), policy=grey).getpixel((5, 5)) == (10, 20, 30)
    assert decode_image(encode(rgba, "PNG")).getpixel((5, 5)) == (255, 255, 255)
    half = Image.new("LA", (4, 4), (0, 128))
    assert decode_image(encode(half, "PNG")).getpixel((1, 1)) == (127, 127, 127)


def test_palette_with_transparency():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    assert decode_image(encode(image, "PNG", transparency=0)).getpixel((2, 2)) == (255, 255, 255)


def test_16_bit_grey_is_rescaled():
    values = np.full((6, 6), 65535, dtype=np.uint16)
    values[0, 0] = 257 * 100
    image = Image.fromarray(values)
    assert image.mode.startswith("I;16")
    rgb = decode_image(encode(image, "PNG"))
    assert rgb.getpixel((3, 3)) == (255, 255, 255)
    assert rgb.getpixel((0, 0)) == (100, 100, 100)


def test_32_bit_and_float_modes():
    assert to_rgb(Image.new("I", (2, 2), 65535)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("I", (2, 2), 200)).getpixel((0, 0)) == (200, 200, 200)
    assert to_rgb(Image.new("F", (2, 2), 12.4)).getpixel((0, 0)) == (12, 12, 12)


def test_cmyk_jpeg_becomes_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # red in CMYK
    rgb = decode_image(encode(cmyk, "JPEG", quality=95))
    r, g, b = rgb.getpixel((8, 8))
    assert rgb.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 270 on display: width and height swap
    decoded = decode_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert decoded.size == (20, 40)


def test_broken_exif_does_not_lose_the_image(monkeypatch):
    from PIL import ImageOps

    def broken(_image):
        raise ValueError("bad EXIF")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    assert decode_image(image_bytes((5, 5), fmt="JPEG")).size == (5, 5)


def test_first_frame_of_an_animation():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert decode_image(buffer.getvalue()).getpixel((4, 4)) == (255, 0, 0)


def test_draft_only_when_the_resize_shrinks_a_lot():
    big = Image.open(io.BytesIO(encode(gradient_image((2000, 1500)), "JPEG")))
    assert request_draft(big, ResizePolicy(method="pad", size=224))
    assert big.size[0] < 2000 and max(big.size) >= 2 * 224
    small = Image.open(io.BytesIO(encode(gradient_image((600, 450)), "JPEG")))
    assert not request_draft(small, ResizePolicy(method="pad", size=224))
    assert small.size == (600, 450)


def test_draft_view_stays_close_to_the_full_decode():
    """The draft path's bound: ≤ 3 grey levels on average, against decoding in full."""
    from flipkart_contract.resize import resize, to_pixels

    data = encode(gradient_image((2400, 1800), seed=3), "JPEG", quality=92)
    policy = ResizePolicy(method="pad", size=224)
    drafted = model_view(data, policy).astype(np.float64)
    full = to_pixels(resize(decode_image(data), policy)).astype(np.float64)
    assert drafted.shape == full.shape == (224, 224, 3)
    assert np.abs(drafted - full).mean() < 3.0


def test_open_image_file_and_missing_file(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(image_bytes((12, 10)))
    assert open_image_file(path).size == (12, 10)
    assert model_view(path, PAD).shape == (64, 64, 3)
    with pytest.raises(FileNotFoundError):
        open_image_file(tmp_path / "missing.png")
