"""Train/serve parity from live code: the PyTorch lab's evaluation path, the TensorFlow lab's
input pipeline and the backend's request path, each run in its own project's environment on
the same real-format files, must produce the same pixels.

Bound: 0 grey levels (bit-identical uint8 views; the backend's float32 view equals them).
Why 0 and not a tolerance: all three decode and resize through `flipkart_contract`
(`decode_image` with its JPEG draft decision, then `resize`), so any difference at all means a
part has stopped using the contract's code path — the kind of drift this test exists to catch.
The draft path's own error against a full decode is bounded separately in
contract/tests/test_images.py.
"""

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from flipkart_contract import ResizePolicy, model_view
from flipkart_contract.testing import encode, gradient_image
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).with_name("probe.py")
PROJECTS = {"torch": "notebook-pytorch", "tf": "notebook-tf", "backend": "backend"}
POLICIES = {
    "pad224": ResizePolicy(method="pad", size=224, interpolation="bicubic"),
    "crop160": ResizePolicy(method="crop", size=160, crop_pct=0.875, interpolation="bilinear"),
}


def real_photo() -> Image.Image:
    """A real Flipkart product photo from the frontend's committed samples."""
    path = sorted((ROOT / "frontend" / "assets" / "images").glob("*.jpg"))[0]
    with Image.open(path) as image:
        return image.convert("RGB")


def write_images(folder: Path) -> None:
    photo = real_photo()
    # A phone-sized JPEG: decoded through the draft path (1/4 or 1/8 DCT scale).
    big = photo.resize((3024, 4032), Image.Resampling.BICUBIC)
    (folder / "phone_draft.jpg").write_bytes(encode(big, "JPEG", quality=90))
    # The original photo as is (no draft).
    (folder / "photo.jpg").write_bytes(encode(photo, "JPEG", quality=95))
    # PNG with alpha: a transparent border around the product.
    rgba = photo.convert("RGBA")
    alpha = Image.new("L", rgba.size, 0)
    alpha.paste(255, (20, 20, rgba.width - 20, rgba.height - 20))
    rgba.putalpha(alpha)
    (folder / "alpha.png").write_bytes(encode(rgba, "PNG"))
    # CMYK JPEG.
    (folder / "cmyk.jpg").write_bytes(encode(photo.convert("CMYK"), "JPEG", quality=92))
    # 16-bit greyscale PNG.
    grey16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    (folder / "grey16.png").write_bytes(encode(Image.fromarray(grey16), "PNG"))
    # EXIF-rotated JPEG (orientation 6), large enough for the draft path too.
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = gradient_image((2600, 1300), seed=5)
    (folder / "exif_rotated.jpg").write_bytes(encode(rotated, "JPEG", quality=90, exif=exif))
    # Palette GIF.
    buffer = io.BytesIO()
    photo.convert("P").save(buffer, "GIF")
    (folder / "palette.gif").write_bytes(buffer.getvalue())


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    local = ROOT / ".tools" / "bin" / "uv"
    if not found and local.is_file():
        found = str(local)
    if not found:
        pytest.fail("uv not found: set UV or run through make")
    return found


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    write_images(folder)
    return folder


@pytest.fixture(scope="module")
def views(images, tmp_path_factory) -> dict:
    """{(part, policy): {file: view}} for every part and policy, from live code."""
    out = tmp_path_factory.mktemp("views")
    found = {}
    for policy_name, policy in POLICIES.items():
        policy_file = out / f"{policy_name}.json"
        policy_file.write_text(policy.model_dump_json())
        for part, project in PROJECTS.items():
            target = out / f"{part}_{policy_name}.npz"
            subprocess.run(
                [uv(), "run", "--locked", "--quiet", "--project", str(ROOT / project), "python",
                 str(PROBE), part, str(images), str(policy_file), str(target)],
                check=True, cwd=ROOT, timeout=600,
            )  # fmt: skip
            with np.load(target) as data:
                found[part, policy_name] = {name: data[name] for name in data.files}
    return found


def test_the_phone_photo_really_takes_the_draft_path(images):
    from flipkart_contract.images import request_draft

    with Image.open(images / "phone_draft.jpg") as image:
        assert request_draft(image, POLICIES["pad224"])
        assert image.size[0] < 3024


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("part", PROJECTS)
def test_every_part_sees_the_reference_pixels(views, images, part, policy_name):
    policy = POLICIES[policy_name]
    got = views[part, policy_name]
    assert sorted(got) == sorted(p.name for p in images.iterdir())
    for name, view in got.items():
        reference = model_view(images / name, policy)
        assert view.shape == (policy.size, policy.size, 3), name
        diff = np.abs(view.astype(np.float64) - reference.astype(np.float64)).max()
        assert diff == 0, f"{part} differs from the contract on {name} by {diff} grey levels"
