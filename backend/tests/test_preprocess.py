"""`model_input`: the contract's decode and resize, with the service's errors and timings.

How decoding and the resize policies work is tested in `contract/`; here, that the service
really goes through them (same pixels as `flipkart_contract.model_view`, the labs' path), takes
the JPEG draft path, composites transparency on the card's pad colour, and answers `ApiError`s.
"""

import io

import numpy as np
import pytest
from flipkart_api.errors import ApiError
from flipkart_api.preprocess import model_input
from flipkart_contract import ImageDecodeError, ResizePolicy, model_view
from flipkart_contract.testing import encode, gradient_image, image_bytes
from PIL import Image, JpegImagePlugin

LIMIT = 10**8
PAD = ResizePolicy(method="pad", size=32, pad_color=(0, 0, 255))
CROP = ResizePolicy(method="crop", size=32, interpolation="bilinear", crop_pct=0.875)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    return encode(gradient_image((60, 30)), "JPEG", exif=exif.tobytes())


def sixteen_bit() -> bytes:
    values = np.linspace(0, 65535, 40 * 24).reshape(24, 40).astype(np.uint16)
    return encode(Image.fromarray(values), "PNG")


def animated() -> bytes:
    frames = [Image.new("RGB", (20, 12), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=50)
    return buffer.getvalue()


IMAGES = {
    "png": lambda: encode(gradient_image((90, 60)), "PNG"),
    "jpeg": lambda: encode(gradient_image((45, 91)), "JPEG", quality=90),
    "cmyk": lambda: encode(gradient_image((50, 40)).convert("CMYK"), "JPEG"),
    "alpha": lambda: encode(gradient_image((50, 40)).convert("RGBA"), "PNG"),
    "16-bit": sixteen_bit,
    "exif": exif_rotated,
    "gif": animated,
}


@pytest.mark.parametrize("policy", [PAD, CROP], ids=["pad", "crop"])
@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_the_service_sees_what_the_contract_gives_the_labs(kind: str, policy) -> None:
    data = IMAGES[kind]()
    pixels = model_input(data, policy, LIMIT)
    assert pixels.dtype == np.float32 and pixels.shape == (32, 32, 3)
    assert pixels.min() >= 0 and pixels.max() <= 255
    assert np.array_equal(pixels, model_view(data, policy).astype(np.float32))


def test_transparency_is_composited_on_the_cards_pad_colour() -> None:
    clear = image_bytes((40, 40), mode="RGBA", color=(255, 0, 0, 0))
    assert (model_input(clear, PAD, LIMIT) == (0, 0, 255)).all()
    white = ResizePolicy(method="pad", size=32)
    assert (model_input(clear, white, LIMIT) == 255).all()


def test_exif_orientation_reaches_the_model() -> None:
    # 60x30 stored, displayed 30x60: the pad policy then fills the width, not the height.
    pixels = model_input(exif_rotated(), PAD, LIMIT)
    assert (pixels[:, :8] == (0, 0, 255)).all() and (pixels[:, -8:] == (0, 0, 255)).all()
    assert not (pixels[:8] == (0, 0, 255)).all()


def test_big_jpegs_take_the_draft_path(monkeypatch) -> None:
    calls: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size, *args):
        result = original(self, mode, size, *args)
        calls.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    big = encode(gradient_image((1600, 1200)), "JPEG", quality=95)
    policy = ResizePolicy(method="pad", size=64)
    pixels = model_input(big, policy, LIMIT)
    assert len(calls) == 1 and 2 * 64 <= calls[0][0] < 1600  # decoded smaller, ≥ 2x the view
    assert np.array_equal(pixels, model_view(big, policy).astype(np.float32))
    calls.clear()
    model_input(encode(gradient_image((200, 150)), "JPEG"), policy, LIMIT)
    assert calls == []  # a small JPEG is decoded in full


def test_timings_are_reported_when_asked() -> None:
    timings: dict[str, float] = {}
    model_input(IMAGES["png"](), PAD, LIMIT, timings=timings)
    assert set(timings) == {"decode", "preprocess"} and min(timings.values()) >= 0


def truncated() -> bytes:
    data = encode(gradient_image((400, 300)), "JPEG")
    return data[: len(data) // 3]


@pytest.mark.parametrize(
    ("data", "limit", "status", "code"),
    [
        (b"", LIMIT, 400, "empty_image"),
        (b"GIF89a-nope", LIMIT, 422, "not_an_image"),
        (b"plain text", LIMIT, 422, "not_an_image"),
        (truncated(), LIMIT, 422, "corrupt_image"),
        (image_bytes((3000, 3000), color=(255, 255, 255)), 1_000_000, 413, "too_many_pixels"),
    ],
    ids=["empty", "bad-gif", "text", "truncated", "too-many-pixels"],
)
def test_decode_failures_become_api_errors(data: bytes, limit: int, status: int, code) -> None:
    with pytest.raises(ApiError) as raised:
        model_input(data, PAD, limit)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert raised.value.message and isinstance(raised.value.__cause__, ImageDecodeError)
