"""Batch classification without a browser: reading photos and zips safely (each hostile archive
answered with its own sentence), cutting the requests to the backend's stated limit, the
results table and the CSV file (UTF-8 with a BOM, no formula injection)."""

import csv
import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from fake_backend import BATCH_LIMIT, RUN_IDS, fake_prediction
from flipkart_contract.testing import image_bytes
from flipkart_ui import batch, comparison
from flipkart_ui.api_client import ApiClient
from flipkart_ui.batch import MIB, BatchRefused, Item, Limits
from flipkart_ui.config import load_settings
from flipkart_ui.handlers import Frontend
from flipkart_ui.i18n import t
from flipkart_ui.tabs import batch_model_picker


def photo(index: int = 0, size: tuple[int, int] = (12, 10)) -> bytes:
    return image_bytes(size, "PNG", color=(10 * index % 256, 40, 200))


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def make_zip(path: Path, entries: dict[str, bytes], **options) -> str:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data, **options)
    return str(path)


def add_entry(path: str, info: zipfile.ZipInfo, data: bytes) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(info, data)


def problems(items: list[Item]) -> dict[str, str | None]:
    return {item.name: item.problem[0] if item.problem else None for item in items}


def refusal(paths: list[str], limits: Limits = batch.LIMITS) -> tuple[str, dict]:
    with pytest.raises(BatchRefused) as refused:
        batch.read_files(paths, limits)
    return refused.value.message


def test_the_limits_are_the_stated_ones():
    assert (
        Limits(
            photos=64,
            photo_bytes=10 * MIB,
            total_bytes=64 * MIB,
            pixels=40_000_000,
            zip_entries=1_000,
            zip_ratio=100,
        )
        == batch.LIMITS
    )


def test_photos_and_a_zip_of_photos_become_one_row_each(tmp_path):
    paths = [write(tmp_path / f"p{i}.png", photo(i)) for i in range(2)]
    entries = {"a.png": photo(3), "folder/b.png": photo(4), "folder/": b""}
    paths.append(make_zip(tmp_path / "more.zip", entries))
    items = batch.read_files(paths)
    assert [item.name for item in items] == [
        "p0.png",
        "p1.png",
        "more.zip/a.png",
        "more.zip/folder/b.png",
    ]
    assert all(item.data and item.problem is None for item in items)


def test_a_file_that_is_not_a_photo_is_a_row_of_its_own(tmp_path):
    entries = {"notes.txt": b"hello", "ok.png": photo(), "__MACOSX/._ok.png": b"\0\5\26\7"}
    paths = [make_zip(tmp_path / "mixed.zip", entries), write(tmp_path / "fake.jpg", b"nope")]
    assert problems(batch.read_files(paths)) == {
        "mixed.zip/notes.txt": "file_not_image",
        "mixed.zip/ok.png": None,
        "fake.jpg": "file_not_image",
    }


@pytest.mark.parametrize(
    "name",
    ["../evil.png", "a/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"],
)
def test_a_path_traversal_name_is_not_opened(tmp_path, name):
    path = make_zip(tmp_path / "traversal.zip", {"ok.png": photo()})
    add_entry(path, zipfile.ZipInfo(name), photo(1))
    items = batch.read_files([path])
    assert problems(items) == {
        "traversal.zip/ok.png": None,
        f"traversal.zip/{name}": "file_unsafe_name",
    }
    assert not list(tmp_path.parent.glob("**/evil.png"))  # nothing is ever extracted
    assert items[1].data is None


def test_a_symlink_is_not_followed(tmp_path):
    path = make_zip(tmp_path / "links.zip", {"ok.png": photo()})
    link = zipfile.ZipInfo("passwd.png")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    add_entry(path, link, b"/etc/passwd")
    assert problems(batch.read_files([path]))["links.zip/passwd.png"] == "file_symlink"


def mark_encrypted(path: str, name: str) -> None:
    """Sets the "encrypted" flag of entry `name` as a password-protected archive does (zipfile
    cannot write one): bit 0 of the flags in its local and central headers."""
    data = bytearray(Path(path).read_bytes())
    for signature, flags, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = data.find(signature)
        while start >= 0:
            if data[start + name_at : start + name_at + len(name)] == name.encode():
                data[start + flags] |= 0x1
            start = data.find(signature, start + 1)
    Path(path).write_bytes(bytes(data))


def test_an_encrypted_entry_is_not_opened(tmp_path):
    path = make_zip(tmp_path / "secret.zip", {"ok.png": photo(), "locked.png": photo(2)})
    mark_encrypted(path, "locked.png")
    assert problems(batch.read_files([path]))["secret.zip/locked.png"] == "file_encrypted"


def test_a_zip_inside_the_zip_is_listed_not_opened(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("deep.png", photo())
    entries = {"inner.zip": inner.getvalue(), "disguised.png": inner.getvalue()}
    assert problems(batch.read_files([make_zip(tmp_path / "outer.zip", entries)])) == {
        "outer.zip/inner.zip": "file_nested_zip",
        "outer.zip/disguised.png": "file_nested_zip",
    }


def test_a_zip_bomb_is_refused(tmp_path):
    path = make_zip(tmp_path / "bomb.zip", {"ok.png": photo(), "zeros.png": bytes(5 * MIB)})
    assert refusal([path]) == ("err_batch_zip_bomb", {"name": "bomb.zip", "ratio": "100"})


def test_an_archive_of_over_1000_entries_is_refused(tmp_path):
    path = make_zip(tmp_path / "many.zip", {f"{i}.txt": b"" for i in range(1001)})
    assert refusal([path]) == ("err_batch_zip_entries", {"name": "many.zip", "limit": 1000})


def test_a_broken_archive_is_refused(tmp_path):
    path = write(tmp_path / "broken.zip", b"PK\x03\x04" + b"\x00garbage" * 50)
    assert refusal([path]) == ("err_batch_bad_zip", {"name": "broken.zip"})


def test_over_64_photos_are_refused_before_the_rest_is_read(tmp_path, monkeypatch):
    entries = {f"{i}.png": photo(i, (4, 4)) for i in range(90)}
    path = make_zip(tmp_path / "90.zip", entries, compress_type=zipfile.ZIP_STORED)
    read = []
    entry_item = batch.entry_item
    monkeypatch.setattr(batch, "entry_item", lambda *args: read.append(1) or entry_item(*args))
    assert refusal([path]) == ("err_batch_too_many", {"limit": 64})
    assert len(read) == 65  # the 65th entry refuses the batch: the 25 after it are never read
    sixty_four = dict(list(entries.items())[:64])
    assert len(batch.read_files([make_zip(tmp_path / "64.zip", sixty_four)])) == 64


def test_a_photo_over_10_mb_is_a_row_not_a_refusal(tmp_path):
    big = write(tmp_path / "big.png", photo() + bytes(10 * MIB))
    items = batch.read_files([big, write(tmp_path / "ok.png", photo())])
    assert problems(items) == {"big.png": "file_too_large", "ok.png": None}
    assert items[0].problem == ("file_too_large", {"limit": 10})


def test_over_64_mb_in_all_is_refused(tmp_path):
    limits = Limits(photo_bytes=2_000, total_bytes=5_000)
    paths = [write(tmp_path / f"{i}.png", photo(i) + bytes(1_500)) for i in range(4)]
    assert refusal(paths, limits) == ("err_batch_total", {"limit": 0})
    assert refusal([], limits) == ("err_batch_empty", {})


def test_over_40_megapixels_is_a_row(tmp_path):
    huge = write(tmp_path / "huge.png", image_bytes((8_000, 5_001), "PNG", color=(0, 0, 0)))
    items = batch.read_files([huge, write(tmp_path / "ok.png", photo())])
    assert items[0].problem == ("file_too_many_pixels", {"limit": 40})
    assert items[1].problem is None


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width` × `height` pixels and holds none (a decompression bomb's
    header: Pillow refuses it when it is opened)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_a_bombs_header_is_over_the_pixel_limit_not_a_crash(tmp_path):
    items = batch.read_files([write(tmp_path / "bomb.png", png_header(30_000, 30_000))])
    assert items[0].problem == ("file_too_many_pixels", {"limit": 40})


def test_requests_respect_the_image_and_byte_limits():
    items = [Item(f"{i}.png", data=bytes(10)) for i in range(7)]
    items.insert(3, Item("bad.txt", problem=("file_not_image", {})))
    groups = batch.chunks(items, max_images=3)
    assert [[item.name for item in group] for group in groups] == [
        ["0.png", "1.png", "2.png"],
        ["3.png", "4.png", "5.png"],
        ["6.png"],
    ]
    assert [len(group) for group in batch.chunks(items, max_images=10, max_bytes=25)] == [
        2,
        2,
        2,
        1,
    ]


def test_the_client_reads_the_limit_from_the_openapi_schema(backend):
    assert ApiClient(backend.url).batch_limit() == BATCH_LIMIT
    assert ApiClient("http://127.0.0.1:9", timeout_s=1).batch_limit() is None


def test_a_batch_is_sent_in_requests_of_the_stated_size(backend, tmp_path):
    settings = load_settings({"API_URL": backend.url})
    paths = [write(tmp_path / f"{i}.png", photo(i)) for i in range(6)]
    paths.append(write(tmp_path / "notes.txt", b"text"))
    state, summary, table, download = Frontend(settings).classify_batch(paths, "en")
    batches = [call["names"] for call in backend.behaviour.calls]
    assert batches == [["0.png", "1.png", "2.png", "3.png"], ["4.png", "5.png"]]
    assert state["requests"] == 2 and state["per_request"] == BATCH_LIMIT
    for row, path in zip(state["rows"][:6], paths[:6], strict=True):
        assert row["label"] == fake_prediction(Path(path).read_bytes())["label"]
    assert list(table["Not classified because"])[-1] == t("file_not_image", "en")
    assert summary == (
        "Files classified: 6 of 7 (1 not). Requests sent: 2, at most 4 photos each "
        "(the service's limit)."
    )
    assert download["visible"] and download["value"].endswith("classifications.csv")


def test_a_batch_is_classified_by_the_chosen_model(backend, tmp_path):
    """The Batch tab's model: sent as `model=` with every request; none chosen, production."""
    ui = Frontend(load_settings({"API_URL": backend.url}))
    paths = [write(tmp_path / f"{i}.png", photo(i)) for i in range(5)]
    state, *_ = ui.classify_batch(paths, "en", model=RUN_IDS[1])
    assert [call["query"] for call in backend.behaviour.calls] == [{"model": RUN_IDS[1]}] * 2
    for row, path in zip(state["rows"], paths, strict=True):
        assert row["label"] == fake_prediction(Path(path).read_bytes(), RUN_IDS[1])["label"]
    assert fake_prediction(photo(0), RUN_IDS[1]) != fake_prediction(photo(0))  # told apart
    backend.behaviour.calls.clear()
    ui.classify_batch(paths[:1], "en", model=None)
    assert backend.behaviour.calls[0]["query"] == {}


def test_the_batch_model_list_is_the_classification_tabs(backend):
    """Production first and chosen by default, in the page's language; hidden without a list."""
    state = Frontend(load_settings({"API_URL": backend.url})).model_list()
    for lang in ("en", "fr"):
        picker = batch_model_picker(state, None, lang)
        assert picker["value"] == RUN_IDS[0] and picker["visible"]
        assert picker["choices"] == comparison.pickers(state, None, None, lang)[0]["choices"]
        assert picker["choices"][0][0].startswith(t("model_production", lang, name=""))
        assert [run_id for _, run_id in picker["choices"]] == [RUN_IDS[0], RUN_IDS[1]]
    assert batch_model_picker(state, RUN_IDS[1], "en")["value"] == RUN_IDS[1]
    assert not batch_model_picker({"response": None, "message": None}, None, "en")["visible"]


def test_a_failed_request_marks_each_of_its_photos(backend, tmp_path):
    backend.behaviour.mode = "error"
    settings = load_settings({"API_URL": backend.url})
    paths = [write(tmp_path / f"{i}.png", photo(i)) for i in range(2)]
    state, summary, table, _ = Frontend(settings).classify_batch(paths, "fr")
    assert [row["problem"][0] for row in state["rows"]] == ["err_server", "err_server"]
    assert summary.startswith("Fichiers classés : 0 sur 2 (2 sans réponse).")
    assert list(table["Non classé car"]) == [t("err_server", "fr")] * 2


def test_a_refused_batch_says_why(backend, tmp_path):
    settings = load_settings({"API_URL": backend.url})
    path = write(tmp_path / "broken.zip", b"PK\x03\x04 not really")
    _, summary, table, download = Frontend(settings).classify_batch([path], "fr")
    assert summary == f"**❌ {t('err_batch_bad_zip', 'fr', name='broken.zip')}**"
    assert table.empty and not download["visible"]
    assert backend.behaviour.calls == []


def test_the_csv_has_a_bom_and_no_formula(tmp_path):
    rows = [
        {
            "name": "=cmd|' /C calc'!A0.png",
            "label": "Watches",
            "confidence": 0.83842,
            "uncertain": False,
        },
        {"name": "+sum.png", "label": "Computers", "confidence": 0.41, "uncertain": True},
        {"name": "@x.png", "problem": ("file_not_image", {})},
        {"name": "-1.png", "problem": ("file_too_large", {"limit": 10})},
        {"name": "é.png", "label": "Baby Care", "confidence": 0.5, "uncertain": False},
    ]
    path = batch.write_csv(rows, "fr", tmp_path)
    assert path.name == "classifications.csv"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert read[0] == ["Fichier", "Catégorie", "Confiance", "Incertain", "Non classé car"]
    assert read[1] == ["'=cmd|' /C calc'!A0.png", "Watches", "0.8384", "false", ""]
    assert read[2] == ["'+sum.png", "Computers", "0.4100", "true", ""]
    assert read[3] == ["'@x.png", "", "", "", t("file_not_image", "fr")]
    assert read[4] == ["'-1.png", "", "", "", "plus de 10 Mo"]
    assert read[5][0] == "é.png"
    assert not any(cell.startswith(batch.FORMULA_START) for row in read for cell in row)


def test_the_table_is_in_the_pages_language():
    rows = [{"name": "a.png", "label": "Watches", "confidence": 0.838, "uncertain": True}]
    assert batch.table_rows(rows, "fr") == [["a.png", "Montres", "83,8\u202f%", "oui", ""]]
    assert batch.table_rows(rows, "en") == [["a.png", "Watches", "83.8%", "yes", ""]]


def test_a_slot_error_is_a_sentence():
    item = Item("x.png", data=b"x")
    batch.record(item, {"error": {"code": "too_many_pixels", "message": "…"}})
    assert item.problem == ("err_image_too_large", {})


def test_an_unreachable_backend_is_said_for_every_photo(tmp_path):
    settings = load_settings({"API_URL": "http://127.0.0.1:9", "API_TIMEOUT_S": "2"})
    paths = [write(tmp_path / "a.png", photo())]
    state, *_ = Frontend(settings).classify_batch(paths, "en")
    assert state["rows"][0]["problem"][0] == "err_unreachable"
