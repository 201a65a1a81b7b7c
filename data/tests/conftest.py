"""Fixtures: data/prepare.py imported as a module, and synthetic archives in the real layout."""

from __future__ import annotations

import csv
import importlib.util
import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from flipkart_contract.testing import FLIPKART_CLASSES, encode, image_bytes
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "prepare.py"
CLASSES = FLIPKART_CLASSES
PRODUCT_COLUMNS = [
    "uniq_id", "crawl_timestamp", "product_url", "product_name", "product_category_tree", "pid",
    "retail_price", "discounted_price", "image", "is_FK_Advantage_product", "description",
    "product_rating", "overall_rating", "brand", "product_specifications",
]  # fmt: skip


@pytest.fixture(scope="session")
def prepare():
    spec = importlib.util.spec_from_file_location("prepare", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["prepare"] = module
    spec.loader.exec_module(module)
    return module


def jpeg(size=(40, 30), color=(200, 30, 30), mode="RGB", exif_orientation=None) -> bytes:
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    return image_bytes(size, "JPEG", mode, color, quality=90, **kwargs)


def png(image: Image.Image) -> bytes:
    return encode(image, "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height but whose pixel data is missing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # a few bytes where gigabytes are promised
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def product_row(image: str, label: str, i: int) -> dict[str, str]:
    return {
        "uniq_id": image.split(".")[0],
        "crawl_timestamp": "2016-04-30 03:22:56 +0000",
        "product_url": f"http://www.flipkart.com/p/{i}",
        "product_name": f"Product {i} of {label}",
        "product_category_tree": f'["{label} >> Sub >> Leaf {i}"]',
        "pid": f"PID{i}",
        "retail_price": str(100 + i),
        "discounted_price": str(90 + i),
        "image": image,
        "is_FK_Advantage_product": "False",
        "description": "x" * (10 + i),
        "product_rating": "No rating available",
        "overall_rating": "No rating available",
        "brand": f"Brand{i % 3}",
        "product_specifications": "{}",
    }


def build_archive_files(per_class: int = 10) -> tuple[dict[str, bytes], dict[str, str]]:
    """Files of a small archive in the real layout, plus the expected fate of the bad items.

    Returns ({path inside archive: bytes}, {image name: expected drop reason}).
    """
    files: dict[str, bytes] = {}
    rows = []
    i = 0
    for c, label in enumerate(CLASSES):
        for k in range(per_class):
            name = f"{c:02d}{k:02d}good{i:04d}.jpg"
            files[f"Flipkart/Images/{name}"] = jpeg(color=(c * 30, k * 20, 100))
            rows.append(product_row(name, label, i))
            i += 1
    # Usable but unusual images (all labelled Watches / Computers to keep classes balanced-ish).
    special = {
        "cmyk.jpg": jpeg(mode="CMYK", color=(0, 255, 255, 0)),
        "grey.png": png(Image.new("L", (30, 20), 128)),
        "palette.png": png(Image.new("RGB", (16, 16), (0, 0, 255)).convert("P")),
        "sixteen.png": png(Image.new("I;16", (12, 10), 65535)),
        "rotated.jpg": jpeg(size=(60, 20), exif_orientation=6),
    }
    for name, data in special.items():
        files[f"Flipkart/Images/{name}"] = data
        rows.append(product_row(name, "Watches" if "g" in name else "Computers", i))
        i += 1
    bad = {
        "missing.jpg": "missing",
        "corrupt.jpg": "unreadable",
        "text.jpg": "not_an_image",
        "huge_header.png": "too_large",  # never decoded: 400 MP > --max-decode-pixels
    }
    files["Flipkart/Images/corrupt.jpg"] = jpeg()[:200]  # truncated JPEG
    files["Flipkart/Images/text.jpg"] = b"this is a text file, not a picture\n" * 10
    files["Flipkart/Images/huge_header.png"] = png_header_only(20000, 20000)
    for name in bad:
        rows.append(product_row(name, "Baby Care", i))
        i += 1
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PRODUCT_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    files["Flipkart/flipkart_com-ecommerce_sample_1050.csv"] = out.getvalue().encode()
    return files, bad


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    files, bad = build_archive_files()
    return write_zip(tmp_path / "flipkart.zip", files), bad


def run_prepare(prepare, source, out: Path, *extra: str) -> int:
    return prepare.main(
        [
            "--source",
            str(source),
            "--data-dir",
            str(out / "data"),
            "--assets-dir",
            str(out / "assets"),
            *extra,
        ]
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
