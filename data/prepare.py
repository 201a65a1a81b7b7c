# /// script
# requires-python = ">=3.11,<3.12"
# dependencies = ["flipkart-contract", "pillow>=11", "tqdm>=4.66"]
#
# [tool.uv.sources]
# flipkart-contract = { path = "../contract", editable = true }
# ///
"""Turn the Flipkart archive into the data contracts every other part of the project reads.

Writes, from a source archive (URL, local zip or extracted folder):
  data/images/                  the usable images, byte-for-byte as in the archive (git-ignored)
  data/dataset.csv              one row per usable image: label, product metadata, original sizes
  data/splits.csv               image,label,split — stratified 70/15/15, fixed seed, deterministic
  data/prepare_report.json      what was read, what was dropped and why
  frontend/assets/              dashboard CSVs and images/ (14 samples, 2 per class)

Outputs are built in a staging folder inside data/ and moved into place only when everything
succeeded, so a failure never leaves half-written outputs. A second run with the same source
and options finds its stamp and does nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import random
import re
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flipkart_contract import (
    ImageDecodeError,
    ResizePolicy,
    decode_image,
    read_json_object,
    sha256_bytes,
    sha256_file,
    write_json_atomic,
)
from flipkart_contract.files import write_text_atomic
from flipkart_contract.text import DESCRIPTION_MAX_CHARS, TITLE_MAX_CHARS, clean_text
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

OFFICIAL_URL = (
    "https://s3-eu-west-1.amazonaws.com/static.oc-static.com/prod/courses/files/"
    "Parcours_data_scientist/Projet+-+Textimage+DAS+V2/"
    "Dataset+projet+pre%CC%81traitement+textes+images.zip"
)
OFFLINE_HINT = "DATA_SOURCE=../shared/datasets/flipkart-images-512.zip make data"
PREPARE_VERSION = 2  # bump when the outputs' format or content rules change
SPLIT_FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
SAMPLES_PER_CLASS = 2
SAMPLE_MAX_SIDE = 512
PRODUCTS_CSV_GLOB = "flipkart_com-ecommerce_sample*.csv"
SIZES_CSV_NAME = "original_image_sizes.csv"
IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"}

ROOT = Path(__file__).resolve().parent.parent

# Sizes are read lazily from headers; we never need Pillow's bomb guard, which would refuse
# the real archive's 94-megapixel image. Our own limit (max_decode_pixels) applies instead.
Image.MAX_IMAGE_PIXELS = None
# Images are decoded by the contract (flipkart_contract.decode_image), as every lab and the
# service decode them. With this smallest resize policy a JPEG takes the contract's draft path
# at its largest DCT reduction (1/8): the check proves the data complete without the full cost.
CHECK_POLICY = ResizePolicy(method="pad", size=8)


class PrepareError(Exception):
    """A failure the user can act on; main() prints it without a traceback."""


class BadImage(Exception):
    """An image that cannot be used; `reason` is a short code, `detail` a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


# ---------------------------------------------------------------------------------------------
# Sources: URL (downloaded), zip, or folder — all read through the same small interface.


@dataclass
class Member:
    name: str  # path inside the source, POSIX style
    size: int


class Source:
    """Read-only access to the files of the archive, wherever they live."""

    def members(self) -> list[Member]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ZipSource(Source):
    def __init__(self, path: Path, max_total_bytes: int, max_entries: int) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PrepareError(f"{path} is not a readable zip archive ({exc})") from exc
        self._members = check_zip_entries(self.zip, max_total_bytes, max_entries)
        self._sha256 = sha256_file(path)

    def members(self) -> list[Member]:
        return self._members

    def read(self, name: str) -> bytes:
        return self.zip.read(name)

    def fingerprint(self) -> str:
        return f"zip-sha256:{self._sha256}"

    def close(self) -> None:
        self.zip.close()


class FolderSource(Source):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._members = []
        for file in sorted(path.rglob("*")):
            if file.is_file() and not file.is_symlink():
                rel = file.relative_to(path).as_posix()
                self._members.append(Member(rel, file.stat().st_size))

    def members(self) -> list[Member]:
        return self._members

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def fingerprint(self) -> str:
        listing = "".join(
            f"{m.name}\0{m.size}\0{(self.path / m.name).stat().st_mtime_ns}\n"
            for m in self._members
        )
        return f"folder:{sha256_bytes(listing.encode())}"


def check_zip_entries(
    archive: zipfile.ZipFile, max_total_bytes: int, max_entries: int
) -> list[Member]:
    """Refuse the whole archive before anything is written if one entry is unsafe."""
    infos = archive.infolist()
    if len(infos) > max_entries:
        raise PrepareError(f"archive has {len(infos)} entries, more than the limit {max_entries}")
    members, total = [], 0
    for info in infos:
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
            raise PrepareError(
                f"unsafe entry {name!r} in archive (absolute path or '..'): refusing the archive"
            )
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PrepareError(f"unsafe entry {name!r} in archive (symbolic link): refusing it")
        if info.is_dir():
            continue
        total += info.file_size
        if total > max_total_bytes:
            raise PrepareError(
                f"archive expands to more than {max_total_bytes:,} bytes (limit "
                "--max-archive-bytes): refusing it"
            )
        members.append(Member(str(path), info.file_size))
    return members


def download(url: str, raw_dir: Path, timeout: float) -> Path:
    """Download to raw_dir/<name>.part (resuming it if present), then rename. Returns the file."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise PrepareError(f"--source URL must be http(s), got {url!r}")
    name = Path(urllib.parse.unquote(parsed.path)).name or "archive.zip"
    name = re.sub(r"[^\w.+-]+", "_", name)
    target = raw_dir / name
    if target.exists() and zipfile.is_zipfile(target):
        print(f"archive already downloaded: {target}")
        return target
    created_dir = not raw_dir.exists()
    raw_dir.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "flipkart-prepare/1"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if offset and response.status != 206:
                offset = 0  # server ignored the range: start over
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length else None
            with (
                part.open("ab" if offset else "wb") as out,
                tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=name) as bar,
            ):
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if part.exists() and part.stat().st_size == 0:
            part.unlink()
        if created_dir and not any(raw_dir.iterdir()):
            raw_dir.rmdir()
        kept = f" (partial download kept in {part} for resuming)" if part.exists() else ""
        raise PrepareError(
            f"could not download {url}: {reason}{kept}.\n"
            f"If this machine cannot reach it, pass a local copy with --source "
            f"(zip or extracted folder), e.g. {OFFLINE_HINT}"
        ) from exc
    if not zipfile.is_zipfile(part):
        raise PrepareError(f"downloaded file {part} is not a zip archive; delete it and retry")
    os.replace(part, target)
    return target


def open_source(args: argparse.Namespace, raw_dir: Path) -> Source:
    source = str(args.source)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        path = download(source, raw_dir, args.timeout)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise PrepareError(f"--source {source}: no such file or folder")
        if path.is_dir():
            return FolderSource(path)
    src = ZipSource(path, args.max_archive_bytes, args.max_entries)
    print(f"archive {path} sha256 {src.fingerprint().split(':', 1)[1]}")
    return src


# ---------------------------------------------------------------------------------------------
# Reading the product table and the images.


@dataclass
class Layout:
    products_csv: str
    images_dir: str  # prefix inside the source, ending with "/"
    sizes_csv: str | None


def find_layout(source: Source) -> Layout:
    names = [m.name for m in source.members() if not m.name.startswith("__MACOSX/")]
    candidates = sorted(
        (n for n in names if PurePosixPath(n).match(PRODUCTS_CSV_GLOB)), key=lambda n: n.count("/")
    )
    if not candidates:
        raise PrepareError(
            f"no {PRODUCTS_CSV_GLOB} in the source: is it the Flipkart archive? "
            f"(expected Flipkart/flipkart_com-ecommerce_sample_1050.csv and Flipkart/Images/)"
        )
    products = candidates[0]
    base = str(PurePosixPath(products).parent)
    prefix = "" if base == "." else base + "/"
    sizes = prefix + SIZES_CSV_NAME
    return Layout(products, prefix + "Images/", sizes if sizes in names else None)


def first_category(tree: str) -> str:
    """'["Home Furnishing >> Curtains >> ..."]' -> 'Home Furnishing'."""
    text = tree.strip()
    with contextlib.suppress(ValueError, TypeError):
        parsed = json.loads(text)
        if isinstance(parsed, list) and parsed:
            text = str(parsed[0])
    text = text.strip().strip('[]"').strip()
    return text.split(">>")[0].strip()


def parse_price(value: str) -> str:
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return ""


@dataclass
class Product:
    image: str
    label: str
    product_name: str
    brand: str
    price: str
    discounted_price: str
    description_length: int
    title: str  # cleaned like the service cleans a request's text (flipkart_contract.text)
    description: str


@dataclass
class Dropped:
    image: str
    reason: str
    detail: str


@dataclass
class ImageInfo:
    width: int  # as displayed (EXIF orientation applied)
    height: int
    bytes: int
    format: str
    mode: str


def read_products(source: Source, layout: Layout) -> tuple[list[Product], list[Dropped]]:
    text = source.read(layout.products_csv).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    required = {"image", "product_category_tree", "product_name"}
    missing = required - set(reader.fieldnames or [])
    if missing:
        raise PrepareError(f"{layout.products_csv} lacks the columns {sorted(missing)}")
    products, dropped, seen = [], [], set()
    for row in reader:
        image = (row.get("image") or "").strip()
        label = first_category(row.get("product_category_tree") or "")
        if not image or "/" in image or "\\" in image or image in (".", ".."):
            dropped.append(Dropped(image, "bad_image_name", "empty or not a plain file name"))
            continue
        if image in seen:
            dropped.append(Dropped(image, "duplicate_row", "image listed twice; first row kept"))
            continue
        seen.add(image)
        if not label:
            dropped.append(Dropped(image, "no_category", "empty product_category_tree"))
            continue
        products.append(
            Product(
                image=image,
                label=label,
                product_name=(row.get("product_name") or "").strip(),
                brand=(row.get("brand") or "").strip(),
                price=parse_price(row.get("retail_price", "")),
                discounted_price=parse_price(row.get("discounted_price", "")),
                description_length=len((row.get("description") or "").strip()),
                title=clean_text(row.get("product_name"), TITLE_MAX_CHARS),
                description=clean_text(row.get("description"), DESCRIPTION_MAX_CHARS),
            )
        )
    return products, dropped


def read_original_sizes(source: Source, layout: Layout) -> dict[str, tuple[int, int, int]]:
    if layout.sizes_csv is None:
        return {}
    rows = csv.DictReader(io.StringIO(source.read(layout.sizes_csv).decode("utf-8-sig")))
    sizes = {}
    for row in rows:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            sizes[row["image"]] = (
                int(row["original_width"]),
                int(row["original_height"]),
                int(row["original_bytes"]),
            )
    return sizes


def inspect_image(data: bytes, max_decode_pixels: int) -> ImageInfo:
    """Check that the bytes are a decodable image and measure it, cheaply for huge JPEGs.

    Raises BadImage with a short reason ("not_an_image", "unreadable", "too_large").
    """
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise BadImage("not_an_image", "not a recognised image format") from exc
    except Exception as exc:  # Pillow raises many types on garbage headers
        raise BadImage("unreadable", f"{type(exc).__name__}: {exc}") from exc
    with image:
        if image.format not in IMAGE_FORMATS:
            raise BadImage("not_an_image", f"unsupported format {image.format}")
        width, height = image.size
        if width <= 0 or height <= 0:
            raise BadImage("unreadable", f"zero-sized image {width}x{height}")
        fmt, mode = image.format, image.mode
        try:
            # A JPEG is decoded at 1/8 scale (CHECK_POLICY), so the limit, meant for images
            # decoded in full, does not apply to it; every other format is checked against it
            # by decode_image before a pixel is decoded.
            limit = width * height if fmt == "JPEG" else max_decode_pixels
            decode_image(data, policy=CHECK_POLICY, max_pixels=limit)
            orientation = image.getexif().get(0x0112, 1)
        except ImageDecodeError as exc:
            if exc.code == "too_many_pixels":
                raise BadImage(
                    "too_large",
                    f"{width}x{height} {fmt} exceeds --max-decode-pixels {max_decode_pixels:,}",
                ) from exc
            raise BadImage("unreadable", exc.message) from exc
        except Exception as exc:
            raise BadImage("unreadable", f"{type(exc).__name__}: {exc}") from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(width, height, len(data), fmt, mode)


def sample_thumbnail(data: bytes, max_side: int) -> bytes:
    """RGB JPEG, EXIF orientation applied, longer side at most max_side.

    The image passed inspect_image, which applied the pixel limit: a large JPEG takes the
    contract's draft path (at least twice the pixels the thumbnail keeps), nothing else is
    limited again here.
    """
    policy = ResizePolicy(method="pad", size=max_side)
    rgb = decode_image(data, policy=policy, max_pixels=sys.maxsize)
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=90, optimize=True)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Split and samples.


def stratified_split(rows: list[tuple[str, str]], seed: int) -> dict[str, str]:
    """image -> split. Per class: images sorted by name, shuffled with a seeded RNG, then cut."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for image, label in rows:
        by_label[label].append(image)
    split_of = {}
    for label in sorted(by_label):
        images = sorted(by_label[label])
        random.Random(f"{seed}:{label}").shuffle(images)
        n = len(images)
        n_test = round(n * SPLIT_FRACTIONS["test"])
        n_val = round(n * SPLIT_FRACTIONS["val"])
        for i, image in enumerate(images):
            split_of[image] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return split_of


def pick_samples(split_of: dict[str, str], label_of: dict[str, str], seed: int) -> list[str]:
    by_label: dict[str, list[str]] = defaultdict(list)
    for image in sorted(split_of):
        if split_of[image] == "test":
            by_label[label_of[image]].append(image)
    samples = []
    for label in sorted(by_label):
        pool = by_label[label]
        random.Random(f"{seed}:samples:{label}").shuffle(pool)
        samples.extend(sorted(pool[:SAMPLES_PER_CLASS]))
    return samples


# ---------------------------------------------------------------------------------------------
# Writing outputs atomically.


def csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def replace_dir(staged: Path, target: Path) -> None:
    """Swap staged into target's place; the old target is removed only after the swap."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(staged, target)
    if old.exists():
        shutil.rmtree(old)


def write_file_atomic(path: Path, content: bytes) -> None:
    """The contract's atomic write, skipped when the file already holds exactly `content`."""
    if path.is_file() and path.read_bytes() == content:
        return  # unchanged: leave the file (and its mtime) alone
    write_text_atomic(path, content.decode("utf-8"))


# ---------------------------------------------------------------------------------------------
# The whole run.


def build_stamp(source: Source, args: argparse.Namespace) -> dict[str, object]:
    return {
        "prepare_version": PREPARE_VERSION,
        "source": source.fingerprint(),
        "seed": args.seed,
        "max_decode_pixels": args.max_decode_pixels,
    }


def outputs_intact(stamp_file: Path, expected: dict[str, object], root_of: dict[str, Path]) -> bool:
    if not stamp_file.exists():
        return False
    try:
        saved = read_json_object(stamp_file)
    except (OSError, ValueError):
        return False
    if saved.get("stamp") != expected:
        return False
    images_dir = root_of["data"] / "images"
    for name, size in saved.get("images", {}).items():
        path = images_dir / name
        if not path.is_file() or path.stat().st_size != size:
            return False
    for key, digests in saved.get("outputs", {}).items():
        root = root_of[key]
        for rel, digest in digests.items():
            path = root / rel
            if not path.is_file() or sha256_file(path) != digest:
                return False
    return True


def iter_progress(items: list, desc: str) -> Iterator:
    return tqdm(items, desc=desc, unit="img", disable=None)


def prepare(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    assets_dir = Path(args.assets_dir).resolve()
    raw_dir = data_dir / "raw"
    source = open_source(args, raw_dir)
    try:
        stamp = build_stamp(source, args)
        stamp_file = data_dir / "images" / ".prepare-stamp.json"
        roots = {"data": data_dir, "assets": assets_dir}
        if not args.force and outputs_intact(stamp_file, stamp, roots):
            print("data is up to date with this source: nothing to do (--force to rebuild)")
            return 0
        return build(source, stamp, data_dir, assets_dir, args)
    finally:
        source.close()


def build(
    source: Source,
    stamp: dict[str, object],
    data_dir: Path,
    assets_dir: Path,
    args: argparse.Namespace,
) -> int:
    layout = find_layout(source)
    products, dropped = read_products(source, layout)
    original_sizes = read_original_sizes(source, layout)
    available = {m.name for m in source.members()}
    print(f"{len(products) + len(dropped)} rows in {layout.products_csv}")

    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".staging-"))
    try:
        staged_images = staging / "images"
        staged_images.mkdir()
        usable: list[tuple[Product, ImageInfo]] = []
        thumbnails: dict[str, bytes] = {}
        for product in iter_progress(products, "checking images"):
            member = layout.images_dir + product.image
            if member not in available:
                dropped.append(Dropped(product.image, "missing", f"{member} not in the source"))
                continue
            data = source.read(member)
            try:
                info = inspect_image(data, args.max_decode_pixels)
            except BadImage as exc:
                dropped.append(Dropped(product.image, exc.reason, exc.detail))
                continue
            (staged_images / product.image).write_bytes(data)
            usable.append((product, info))

        if not usable:
            raise PrepareError("no usable image in the source: nothing written")
        split_of = stratified_split([(p.image, p.label) for p, _ in usable], args.seed)
        label_of = {p.image: p.label for p, _ in usable}
        samples = pick_samples(split_of, label_of, args.seed)
        for image in samples:
            thumbnails[image] = sample_thumbnail(
                (staged_images / image).read_bytes(), SAMPLE_MAX_SIDE
            )

        files = render_tables(usable, dropped, split_of, samples, original_sizes, layout)
        data_files = {k: v for k, v in files.items() if k.startswith("data/")}
        asset_files = {k: v for k, v in files.items() if k.startswith("assets/")}
        asset_files.update({f"assets/images/{name}": thumb for name, thumb in thumbnails.items()})
        outputs = {
            "data": {k.removeprefix("data/"): sha256_bytes(v) for k, v in data_files.items()},
            "assets": {k.removeprefix("assets/"): sha256_bytes(v) for k, v in asset_files.items()},
        }
        write_json_atomic(
            staged_images / ".prepare-stamp.json",
            {
                "stamp": stamp,
                "outputs": outputs,
                "images": {p.image: info.bytes for p, info in usable},
            },
        )

        # Everything is built: move it into place (images last, so the stamp marks completion).
        staged_samples = staging / "samples"
        staged_samples.mkdir()
        for name, thumb in thumbnails.items():
            (staged_samples / name).write_bytes(thumb)
        assets_dir.mkdir(parents=True, exist_ok=True)
        for rel, content in data_files.items():
            write_file_atomic(data_dir / rel.removeprefix("data/"), content)
        for rel, content in asset_files.items():
            if not rel.startswith("assets/images/"):
                write_file_atomic(assets_dir / rel.removeprefix("assets/"), content)
        replace_dir(staged_samples, assets_dir / "images")
        replace_dir(staged_images, data_dir / "images")
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    print_summary(usable, dropped, split_of, data_dir, assets_dir)
    return 0


DATASET_COLUMNS = [
    "image", "label", "product_name", "brand", "price", "discounted_price", "description_length",
    "original_width", "original_height", "original_bytes", "file_format", "file_mode",
    "title", "description",
]  # fmt: skip
DASHBOARD_COLUMNS = [
    "image", "label", "product_name", "brand", "price", "description_length",
    "original_width", "original_height", "original_bytes", "aspect_ratio", "split",
]  # fmt: skip


def render_tables(
    usable: list[tuple[Product, ImageInfo]],
    dropped: list[Dropped],
    split_of: dict[str, str],
    samples: list[str],
    original_sizes: dict[str, tuple[int, int, int]],
    layout: Layout,
) -> dict[str, bytes]:
    dataset_rows, dashboard_rows, split_rows, sample_rows = [], [], [], []
    for product, info in sorted(usable, key=lambda pair: pair[0].image):
        width, height, size = original_sizes.get(
            product.image, (info.width, info.height, info.bytes)
        )
        dataset_rows.append([
            product.image, product.label, product.product_name, product.brand, product.price,
            product.discounted_price, product.description_length, width, height, size,
            info.format, info.mode, product.title, product.description,
        ])  # fmt: skip
        dashboard_rows.append([
            product.image, product.label, product.product_name, product.brand, product.price,
            product.description_length, width, height, size, f"{width / height:.4f}",
            split_of[product.image],
        ])  # fmt: skip
        split_rows.append([product.image, product.label, split_of[product.image]])
        if product.image in samples:
            sample_rows.append([
                product.image, product.label, product.product_name, split_of[product.image],
                product.title, product.description,
            ])  # fmt: skip
    sample_rows.sort(key=lambda row: (row[1], row[0]))
    counts = Counter((split_of[p.image], p.label) for p, _ in usable)
    report = {
        "products_csv": layout.products_csv,
        "original_sizes": "original_image_sizes.csv" if original_sizes else "measured",
        "rows_read": len(usable) + len(dropped),
        "usable_images": len(usable),
        "dropped": len(dropped),
        "dropped_by_reason": dict(sorted(Counter(d.reason for d in dropped).items())),
        "dropped_rows": [
            {"image": d.image, "reason": d.reason, "detail": d.detail}
            for d in sorted(dropped, key=lambda d: (d.reason, d.image))
        ],
        "classes": sorted({p.label for p, _ in usable}),
        "split_counts": {
            split: {label: counts[(split, label)] for label in sorted({p.label for p, _ in usable})}
            for split in SPLIT_FRACTIONS
        },
        "samples": sorted(samples),
    }
    return {
        "data/dataset.csv": csv_bytes(DATASET_COLUMNS, dataset_rows),
        "data/splits.csv": csv_bytes(["image", "label", "split"], split_rows),
        "data/prepare_report.json": (json.dumps(report, indent=2) + "\n").encode(),
        "assets/dataset_dashboard.csv": csv_bytes(DASHBOARD_COLUMNS, dashboard_rows),
        "assets/sampled.csv": csv_bytes(
            ["image", "label", "product_name", "split", "title", "description"], sample_rows
        ),
    }


def print_summary(
    usable: list[tuple[Product, ImageInfo]],
    dropped: list[Dropped],
    split_of: dict[str, str],
    data_dir: Path,
    assets_dir: Path,
) -> None:
    labels = sorted({p.label for p, _ in usable})
    print(f"{len(usable)} usable images in {len(labels)} classes -> {data_dir / 'splits.csv'}")
    if dropped:
        print(f"dropped {len(dropped)} rows:")
        for reason, n in sorted(Counter(d.reason for d in dropped).items()):
            print(f"  {reason}: {n}")
        for d in sorted(dropped, key=lambda d: (d.reason, d.image)):
            print(f"    - {d.image or '<empty>'}: {d.reason} ({d.detail})")
    counts = Counter((split_of[p.image], p.label) for p, _ in usable)
    width = max(len(label) for label in labels)
    print(f"  {'class':<{width}}  train  val  test")
    for label in labels:
        print(
            f"  {label:<{width}}  {counts[('train', label)]:>5}  {counts[('val', label)]:>3}"
            f"  {counts[('test', label)]:>4}"
        )
    print(f"frontend assets -> {assets_dir}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Prepare the Flipkart images, dataset.csv, splits.csv and UI assets.",
        epilog=f"Offline: {OFFLINE_HINT}",
    )
    parser.add_argument(
        "--source",
        default=OFFICIAL_URL,
        help="archive URL (default: the official one), local zip, or extracted folder",
    )
    parser.add_argument("--data-dir", default=str(ROOT / "data"), help="where outputs go")
    parser.add_argument(
        "--assets-dir", default=str(ROOT / "frontend" / "assets"), help="frontend assets folder"
    )
    parser.add_argument("--seed", type=int, default=42, help="seed of the stratified split")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--timeout", type=float, default=30.0, help="network timeout in seconds")
    parser.add_argument(
        "--max-archive-bytes",
        type=int,
        default=4 << 30,
        help="refuse archives expanding beyond this many bytes (default 4 GiB)",
    )
    parser.add_argument("--max-entries", type=int, default=100_000, help="max entries in the zip")
    parser.add_argument(
        "--max-decode-pixels",
        type=int,
        default=250_000_000,
        help="non-JPEG images above this pixel count are skipped (JPEGs are checked at 1/8 scale)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return prepare(args)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no output was changed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
