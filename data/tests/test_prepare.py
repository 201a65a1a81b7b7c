"""data/prepare.py on small synthetic archives built in the real Flipkart layout."""

from __future__ import annotations

import csv
import http.server
import io
import json
import socket
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import (
    CLASSES,
    SCRIPT,
    build_archive_files,
    jpeg,
    read_csv,
    run_prepare,
    write_zip,
)
from flipkart_contract import sha256_bytes
from flipkart_contract.testing import encode
from PIL import Image


def tree(root: Path) -> dict[str, int]:
    """Every file under root (relative path -> size), to prove nothing else was touched."""
    return {
        str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_synthetic_archive_outputs_and_bad_items(prepare, archive, tmp_path, capsys):
    source, bad = archive
    assert run_prepare(prepare, source, tmp_path / "out") == 0
    out = capsys.readouterr().out
    data, assets = tmp_path / "out" / "data", tmp_path / "out" / "assets"

    splits = read_csv(data / "splits.csv")
    images = {row["image"] for row in splits}
    assert not images & set(bad), "bad items must not reach splits.csv"
    assert {"cmyk.jpg", "grey.png", "palette.png", "sixteen.png", "rotated.jpg"} <= images
    assert len(splits) == 7 * 10 + 5
    assert sorted({row["label"] for row in splits}) == CLASSES
    assert {row["split"] for row in splits} == {"train", "val", "test"}
    assert sorted(
        p.name for p in (data / "images").iterdir() if not p.name.startswith(".")
    ) == sorted(images)

    # Every bad item is reported, with its reason, on stdout and in the report.
    report = json.loads((data / "prepare_report.json").read_text())
    reasons = {row["image"]: row["reason"] for row in report["dropped_rows"]}
    assert reasons == bad
    assert report["dropped"] == 4 and report["usable_images"] == 75
    for name, reason in bad.items():
        assert f"{name}: {reason}" in out
    assert "dropped 4 rows" in out
    # The 20000x20000 header is read lazily: reported as too large, not as a bomb error.
    huge = next(r for r in report["dropped_rows"] if r["image"] == "huge_header.png")
    assert "DecompressionBomb" not in huge["detail"]

    # Sizes are measured when the archive has no original_image_sizes.csv; EXIF rotation swaps.
    dataset = {row["image"]: row for row in read_csv(data / "dataset.csv")}
    assert (
        dataset["rotated.jpg"]["original_width"],
        dataset["rotated.jpg"]["original_height"],
    ) == (
        "20",
        "60",
    )
    assert dataset["cmyk.jpg"]["file_mode"] == "CMYK"
    assert dataset["sixteen.png"]["file_mode"].startswith("I")
    first = dataset[splits[0]["image"]]
    assert first["product_name"].startswith("Product ") and first["brand"].startswith("Brand")
    assert int(first["description_length"]) >= 10 and float(first["price"]) >= 100

    # Frontend assets: dashboard rows match splits, 2 test samples per class, small RGB JPEGs.
    dashboard = read_csv(assets / "dataset_dashboard.csv")
    assert {row["image"]: row["split"] for row in dashboard} == {
        row["image"]: row["split"] for row in splits
    }
    sampled = read_csv(assets / "sampled.csv")
    assert Counter(row["label"] for row in sampled) == dict.fromkeys(CLASSES, 2)
    assert all(row["split"] == "test" for row in sampled)
    for row in sampled:
        with Image.open(assets / "images" / row["image"]) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert max(image.size) <= 512


def test_original_sizes_csv_is_used_when_present(prepare, tmp_path):
    files, _ = build_archive_files(per_class=4)
    files["Flipkart/original_image_sizes.csv"] = (
        b"image,original_width,original_height,original_bytes\r\n"
        b"0000good0000.jpg,8484,11042,9000000\r\n"
    )
    source = write_zip(tmp_path / "a.zip", files)
    assert run_prepare(prepare, source, tmp_path / "out") == 0
    dataset = {row["image"]: row for row in read_csv(tmp_path / "out/data/dataset.csv")}
    row = dataset["0000good0000.jpg"]
    assert (row["original_width"], row["original_height"], row["original_bytes"]) == (
        "8484",
        "11042",
        "9000000",
    )
    # Images absent from the sizes file fall back to measured sizes.
    assert dataset["0001good0001.jpg"]["original_width"] == "40"


def test_title_and_description_are_kept_cleaned_and_limited(prepare, tmp_path):
    files, _ = build_archive_files(per_class=4)
    table = files["Flipkart/flipkart_com-ecommerce_sample_1050.csv"].decode()
    rows = list(csv.DictReader(io.StringIO(table)))
    rows[0]["product_name"] = "  Analog\tWatch \x0b for  Men "
    rows[0]["description"] = "Key  Features\n of a watch " + "word " * 1000
    rows[1]["description"] = ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    files["Flipkart/flipkart_com-ecommerce_sample_1050.csv"] = out.getvalue().encode()
    base = run_prepare(prepare, write_zip(tmp_path / "a.zip", build_archive_files(4)[0]),
                       tmp_path / "base")  # fmt: skip
    assert base == 0
    assert run_prepare(prepare, write_zip(tmp_path / "b.zip", files), tmp_path / "out") == 0

    dataset = {row["image"]: row for row in read_csv(tmp_path / "out/data/dataset.csv")}
    first, second = dataset[rows[0]["image"]], dataset[rows[1]["image"]]
    assert first["title"] == "Analog Watch for Men"
    assert first["description"].startswith("Key Features of a watch word")
    assert len(first["description"]) <= prepare.DESCRIPTION_MAX_CHARS
    assert first["description"].endswith("word")  # cut between words
    assert first["description_length"] == str(len(rows[0]["description"].strip()))
    assert second["description"] == "" and second["title"] == rows[1]["product_name"]
    # The text changes no split.
    assert (tmp_path / "out/data/splits.csv").read_bytes() == (
        tmp_path / "base/data/splits.csv"
    ).read_bytes()
    sampled = read_csv(tmp_path / "out/assets/sampled.csv")
    assert all(row["title"] == dataset[row["image"]]["title"] for row in sampled)
    assert all(row["description"] == dataset[row["image"]]["description"] for row in sampled)


def test_split_is_deterministic_and_stratified(prepare, archive, tmp_path):
    source, _ = archive
    assert run_prepare(prepare, source, tmp_path / "one") == 0
    assert run_prepare(prepare, source, tmp_path / "two") == 0
    one = (tmp_path / "one/data/splits.csv").read_bytes()
    assert one == (tmp_path / "two/data/splits.csv").read_bytes()
    assert run_prepare(prepare, source, tmp_path / "one", "--force") == 0
    assert (tmp_path / "one/data/splits.csv").read_bytes() == one

    rows = read_csv(tmp_path / "one/data/splits.csv")
    per_class = Counter(row["label"] for row in rows)
    per_split = Counter((row["label"], row["split"]) for row in rows)
    for label, n in per_class.items():
        for split, fraction in prepare.SPLIT_FRACTIONS.items():
            assert abs(per_split[(label, split)] - n * fraction) <= 1, (label, split)

    # A different seed gives a different (still stratified) split.
    assert run_prepare(prepare, source, tmp_path / "three", "--seed", "7") == 0
    assert (tmp_path / "three/data/splits.csv").read_bytes() != one


def test_folder_source_gives_the_same_outputs_as_the_zip(prepare, tmp_path):
    files, _ = build_archive_files(per_class=4)
    source = write_zip(tmp_path / "a.zip", files)
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(source) as archive:
        archive.extractall(folder)
    assert run_prepare(prepare, source, tmp_path / "from_zip") == 0
    assert run_prepare(prepare, folder, tmp_path / "from_folder") == 0
    for name in ("splits.csv", "dataset.csv"):
        assert (tmp_path / "from_zip/data" / name).read_bytes() == (
            tmp_path / "from_folder/data" / name
        ).read_bytes()


def test_second_run_changes_nothing(prepare, archive, tmp_path, capsys):
    source, _ = archive
    out = tmp_path / "out"
    assert run_prepare(prepare, source, out) == 0
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*")}
    capsys.readouterr()
    assert run_prepare(prepare, source, out) == 0
    assert "up to date" in capsys.readouterr().out
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.rglob("*")} == before

    # A damaged output is noticed and rebuilt.
    (out / "data/splits.csv").write_text("tampered\n")
    assert run_prepare(prepare, source, out) == 0
    assert (out / "data/splits.csv").read_text().startswith("image,label,split")
    next(p for p in (out / "data/images").iterdir() if not p.name.startswith(".")).unlink()
    assert run_prepare(prepare, source, out) == 0
    assert len(read_csv(out / "data/splits.csv")) == len(
        [p for p in (out / "data/images").iterdir() if not p.name.startswith(".")]
    )


@pytest.mark.parametrize("entry", ["../evil.txt", "/abs/evil.txt", "Flipkart/../../evil.txt"])
def test_zip_slip_entry_is_rejected(prepare, tmp_path, capsys, entry):
    files, _ = build_archive_files(per_class=2)
    files[entry] = b"pwned"
    work = tmp_path / "work"
    work.mkdir()
    source = write_zip(work / "evil.zip", files)
    before = tree(tmp_path)
    assert run_prepare(prepare, source, work / "out") == 2
    err = capsys.readouterr().err
    assert "unsafe entry" in err and entry in err
    assert tree(tmp_path) == before, "nothing may be written anywhere"


def test_archive_expanding_beyond_the_limit_is_refused(prepare, archive, tmp_path, capsys):
    source, _ = archive
    assert run_prepare(prepare, source, tmp_path / "out", "--max-archive-bytes", "5000") == 2
    assert "refusing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_existing_outputs_survive_a_failing_run(prepare, archive, tmp_path, monkeypatch):
    source, _ = archive
    out = tmp_path / "out"
    assert run_prepare(prepare, source, out) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def explode(*args, **kwargs):
        raise RuntimeError("disk full while writing a sample")

    monkeypatch.setattr(prepare, "sample_thumbnail", explode)
    with pytest.raises(RuntimeError):
        run_prepare(prepare, source, out, "--force", "--seed", "3")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in (out / "data").iterdir() if p.name.startswith(".staging")]


def test_missing_source_and_non_archive(prepare, tmp_path, capsys):
    assert run_prepare(prepare, tmp_path / "nope.zip", tmp_path / "out") == 2
    assert "no such file" in capsys.readouterr().err
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    assert run_prepare(prepare, fake, tmp_path / "out") == 2
    assert "not a readable zip" in capsys.readouterr().err
    empty = write_zip(tmp_path / "empty.zip", {"readme.txt": b"hello"})
    assert run_prepare(prepare, empty, tmp_path / "out") == 2
    assert "flipkart_com-ecommerce_sample" in capsys.readouterr().err
    assert not (tmp_path / "out" / "data" / "splits.csv").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_url_says_use_source_and_leaves_nothing(prepare, tmp_path, capsys):
    port = free_port()  # nothing listens there: connection refused, on loopback only
    url = f"http://127.0.0.1:{port}/Dataset.zip"
    assert run_prepare(prepare, url, tmp_path / "out", "--timeout", "5") == 2
    err = capsys.readouterr().err
    assert "could not download" in err and "--source" in err
    assert tree(tmp_path) == {}
    assert not (tmp_path / "out" / "data" / "raw").exists()


def test_non_http_url_is_refused(prepare, tmp_path, capsys):
    assert run_prepare(prepare, "ftp://127.0.0.1/x.zip", tmp_path / "out") == 2
    assert "http(s)" in capsys.readouterr().err


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves one payload, honouring `Range: bytes=N-` (what a resumed download sends)."""

    payload = b""
    ranges: ClassVar[list[str]] = []

    def do_GET(self):
        start = 0
        header = self.headers.get("Range")
        type(self).ranges.append(header or "")
        if header:
            start = int(header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(self.payload) - 1}/*")
        else:
            self.send_response(200)
        body = self.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_server(archive):
    source, _ = archive
    RangeHandler.payload = source.read_bytes()
    RangeHandler.ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/Dataset%20images.zip", RangeHandler
    server.shutdown()


def test_download_from_url_with_checksum_and_resume(prepare, loopback_server, tmp_path, capsys):
    url, handler = loopback_server
    out = tmp_path / "out"
    raw = out / "data" / "raw"
    raw.mkdir(parents=True)
    # A previous interrupted download left the first half in the .part file.
    half = len(handler.payload) // 2
    (raw / "Dataset_images.zip.part").write_bytes(handler.payload[:half])
    assert run_prepare(prepare, url, out) == 0
    assert handler.ranges == [f"bytes={half}-"]
    archive = raw / "Dataset_images.zip"
    assert archive.read_bytes() == handler.payload
    assert not (raw / "Dataset_images.zip.part").exists()
    printed = capsys.readouterr().out
    assert sha256_bytes(handler.payload) in printed
    assert len(read_csv(out / "data/splits.csv")) == 75
    # Second run: no network request, nothing to do.
    assert run_prepare(prepare, url, out) == 0
    assert handler.ranges == [f"bytes={half}-"]
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (Image.new("CMYK", (20, 12), (0, 0, 0, 0)), "JPEG", (255, 255, 255)),
        (Image.new("L", (20, 12), 77), "PNG", (77, 77, 77)),
        (Image.new("I;16", (20, 12), 65535), "PNG", (255, 255, 255)),
        (Image.new("I;16", (20, 12), 32768), "PNG", (128, 128, 128)),
        (Image.new("RGBA", (20, 12), (255, 0, 0, 0)), "PNG", (255, 255, 255)),  # on white
        (Image.new("RGB", (20, 12), (0, 0, 255)).convert("P"), "PNG", (0, 0, 255)),
    ],
    ids=["cmyk", "grey", "16-bit-max", "16-bit-half", "transparent", "palette"],
)
def test_sample_thumbnails_of_every_mode_are_rgb_jpegs(prepare, image, fmt, expected):
    thumb = prepare.sample_thumbnail(encode(image, fmt), 512)
    with Image.open(io.BytesIO(thumb)) as out:
        assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (20, 12))
        pixel = out.getpixel((10, 6))
    assert all(abs(a - b) <= 2 for a, b in zip(pixel, expected, strict=True)), pixel


def test_sample_thumbnail_applies_exif_orientation(prepare):
    rotated = jpeg(size=(60, 20), exif_orientation=6)
    with Image.open(io.BytesIO(prepare.sample_thumbnail(rotated, 512))) as out:
        assert out.size == (20, 60)
    with Image.open(io.BytesIO(prepare.sample_thumbnail(jpeg(size=(900, 300)), 512))) as out:
        assert out.size == (512, 171)


def test_image_over_pillows_bomb_limit_is_accepted_lazily(prepare, tmp_path):
    """The real archive holds a 94-megapixel JPEG: it must be measured, not refused."""
    buffer = io.BytesIO()
    Image.new("RGB", (10000, 9500), "white").save(buffer, "JPEG", quality=50)
    info = prepare.inspect_image(buffer.getvalue(), max_decode_pixels=10)
    assert (info.width, info.height, info.format) == (10000, 9500, "JPEG")
    thumb = prepare.sample_thumbnail(buffer.getvalue(), 512)
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.size[0] == 512 and abs(image.size[1] - 486) <= 1


def test_too_large_non_jpeg_is_skipped_not_decoded(prepare):
    data = io.BytesIO()
    Image.new("L", (300, 300)).save(data, "PNG")
    with pytest.raises(prepare.BadImage) as excinfo:
        prepare.inspect_image(data.getvalue(), max_decode_pixels=1000)
    assert excinfo.value.reason == "too_large"


def test_command_line_entry_point_runs(tmp_path):
    """The script runs as `python prepare.py` (what `uv run data/prepare.py` does)."""
    files, _ = build_archive_files(per_class=3)
    source = write_zip(tmp_path / "a.zip", files)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(source), "--data-dir", str(tmp_path / "d"),
         "--assets-dir", str(tmp_path / "a")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usable images in 7 classes" in result.stdout
