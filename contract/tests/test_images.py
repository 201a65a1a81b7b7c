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


def _png(image: Image.Image, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def test_large_png_is_reduced_without_a_full_size_rgb_copy(monkeypatch):
    from flipkart_contract import images

    converted: list[tuple[int, int]] = []
    real_to_rgb = images.to_rgb

    def recording(image, background=(255, 255, 255)):
        converted.append(image.size)
        return real_to_rgb(image, background)

    monkeypatch.setattr(images, "to_rgb", recording)
    data = _png(gradient_image((2500, 2000)).convert("P"))
    decoded = decode_image(data, policy=ResizePolicy(method="pad", size=224))
    factor = int(2500 / 224 // 2)  # keeps at least DRAFT_MARGIN x what the resize needs
    assert factor == 5 and decoded.size == (500, 400) and decoded.mode == "RGB"
    assert len(converted) > 1  # strip by strip
    assert max(w * h for w, h in converted) <= images.STRIP_PIXELS + 2500 * factor


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "1", "P"])
def test_reduced_path_equals_converting_then_reducing(mode):
    from flipkart_contract.images import _reduced_rgb

    image = gradient_image((1301, 997), seed=2).convert("RGBA").convert(mode)
    if mode == "P":
        image.info["transparency"] = 7
    for factor in (2, 3, 7):
        whole = np.asarray(to_rgb(image, (9, 8, 7)).reduce(factor))
        strips = np.asarray(_reduced_rgb(image, factor, (9, 8, 7)))
        assert strips.shape == whole.shape and (strips == whole).all()


def test_reduced_view_stays_close_to_the_full_decode():
    from flipkart_contract.resize import resize, to_pixels

    data = _png(gradient_image((2600, 1900), seed=4))
    policy = ResizePolicy(method="crop", size=224)
    reduced = model_view(data, policy).astype(np.float64)
    full = to_pixels(resize(decode_image(data), policy)).astype(np.float64)
    assert reduced.shape == full.shape == (224, 224, 3)
    assert np.abs(reduced - full).mean() < 3.0


def test_what_is_not_reduced():
    from flipkart_contract.images import open_image, reduce_factor

    policy = ResizePolicy(method="pad", size=224)
    cases = [
        (_png(gradient_image((1900, 1900))), policy),  # under REDUCE_MIN_PIXELS
        (_png(gradient_image((2500, 2000))), None),  # no policy: the image as it is
        (_png(Image.new("I;16", (2500, 2000), 300)), policy),  # scaled by its whole maximum
        (_png(gradient_image((2500, 2000))), ResizePolicy(method="pad", size=1024)),  # ratio < 4
    ]
    for data, chosen in cases:
        assert reduce_factor(open_image(data, policy=chosen), chosen) == 1
    assert reduce_factor(open_image(cases[1][0], policy=policy), policy) == 5


def test_exif_orientation_on_the_reduced_path():
    exif = Image.Exif()
    exif[0x0112] = 6
    data = _png(gradient_image((2500, 2000)), exif=exif.tobytes())
    decoded = decode_image(data, policy=ResizePolicy(method="pad", size=224))
    assert decoded.size == (400, 500)


def test_decode_cost_is_read_from_the_header():
    from flipkart_contract.images import decode_cost, open_image

    policy = ResizePolicy(method="pad", size=224)
    bilevel = open_image(_png(Image.new("1", (3000, 3000), 1)), policy=policy)
    cost = decode_cost(bilevel, policy)
    assert bilevel._im is None  # nothing decoded to estimate it
    assert 3000 * 3000 <= cost < 3000 * 3000 * 4  # the bilevel source + strips: no RGB copy
    plain = open_image(_png(gradient_image((100, 80))))
    assert decode_cost(plain) == 100 * 80 * 4  # Pillow keeps RGB on 4 bytes
    alpha = open_image(_png(Image.new("RGBA", (100, 80))))
    assert decode_cost(alpha) == 100 * 80 * 16  # source, RGBA copy, canvas, RGB
    drafted = open_image(encode(gradient_image((2000, 1600)), "JPEG"), policy=policy)
    assert decode_cost(drafted, policy) == drafted.size[0] * drafted.size[1] * 4 < 2000 * 1600
