"""Batch classification: the files a user sends (photos, or .zip archives of photos) read and
checked safely, sent to `POST /v1/predict/batch` in requests the backend accepts, and the
answers as a table and a CSV file.

Nothing from an archive is ever written to disk: entries are read into memory, capped, by
name only for display. An archive is refused as a whole when it is not a zip, lists over
`Limits.zip_entries` entries, or expands an entry over `Limits.zip_ratio` times (a zip bomb);
an entry with an unsafe name (absolute, `..`), a symbolic link, an encrypted entry and a zip
inside the zip are not opened and get their own row saying so, as does a file that is not an
image, too large, or over the pixel limit. The whole batch is refused over `Limits.photos`
files or `Limits.total_bytes`."""

import csv
import io
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import gradio as gr
import pandas as pd
from flipkart_contract import DEFAULT_MAX_PIXELS
from PIL import Image

from flipkart_ui import views
from flipkart_ui.api_client import ApiClient, ApiError, ImageInput
from flipkart_ui.i18n import ERROR_CODES, category, percent, t

MIB = 1024 * 1024
# The backend's documented default (`MAX_BATCH_IMAGES`), used when its OpenAPI schema does not
# state the limit; its whole-request body limit (`MAX_BATCH_BYTES`, 64 MiB) less the envelope.
BACKEND_BATCH_IMAGES = 32
REQUEST_BYTES = 60 * MIB
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
CSV_NAME = "classifications.csv"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Message = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Limits:
    photos: int = 64
    photo_bytes: int = 10 * MIB
    total_bytes: int = 64 * MIB
    pixels: int = DEFAULT_MAX_PIXELS  # the backend's decoding limit (the contract's)
    zip_entries: int = 1_000
    zip_ratio: float = 100.0


LIMITS = Limits()


class BatchRefused(Exception):
    """The whole batch is refused: `message` says why (an i18n key and its values)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.message: Message = (key, values)


@dataclass
class Item:
    """One row of the results: a file, its bytes when it can be sent, the backend's `answer`
    once classified, and `problem` (an i18n message) when it was not sent or failed."""

    name: str
    data: bytes | None = None
    problem: Message | None = None
    answer: dict[str, Any] | None = None

    def row(self) -> dict[str, Any]:
        """What the state keeps (no bytes)."""
        answer = self.answer or {}
        kept = {k: answer.get(k) for k in ("label", "confidence", "uncertain")}
        return {"name": self.name, "problem": self.problem, **kept}


# ---- reading the files -------------------------------------------------------------------


def read_files(paths: list[str], limits: Limits = LIMITS) -> list[Item]:
    """One item per file, and per entry of each zip; refuses the batch (BatchRefused) when it
    breaks a limit of the whole batch or of an archive."""
    if not paths:
        raise BatchRefused("err_batch_empty")
    items: list[Item] = []
    for path in paths:
        found = zip_items(Path(path), limits) if is_zip(path) else [file_item(Path(path), limits)]
        for item in found:
            items.append(item)
            check_totals(items, limits)
    return items


def check_totals(items: list[Item], limits: Limits) -> None:
    if len(items) > limits.photos:
        raise BatchRefused("err_batch_too_many", limit=limits.photos)
    if sum(len(item.data or b"") for item in items) > limits.total_bytes:
        raise BatchRefused("err_batch_total", limit=limits.total_bytes // MIB)


def is_zip(path: str | Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(4) in ZIP_MAGIC
    except OSError:
        return False


def file_item(path: Path, limits: Limits) -> Item:
    try:
        if path.stat().st_size > limits.photo_bytes:
            return Item(path.name, problem=too_large(limits))
        return photo_item(path.name, path.read_bytes(), limits)
    except OSError:
        return Item(path.name, problem=("file_unreadable", {}))


def photo_item(name: str, data: bytes, limits: Limits) -> Item:
    """The file as a photo to send, or why it is not one."""
    if len(data) > limits.photo_bytes:
        return Item(name, problem=too_large(limits))
    if data[:4] in ZIP_MAGIC:
        return Item(name, problem=("file_nested_zip", {}))
    pixels = image_pixels(data)
    if pixels is None:
        return Item(name, problem=("file_not_image", {}))
    if pixels > limits.pixels:
        return Item(name, problem=("file_too_many_pixels", {"limit": limits.pixels // 1_000_000}))
    return Item(name, data=data)


def too_large(limits: Limits) -> Message:
    return ("file_too_large", {"limit": limits.photo_bytes // MIB})


def image_pixels(data: bytes) -> int | None:
    """Width × height from the image's header (nothing decoded); None: not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            image.verify()
    except Image.DecompressionBombError:  # over twice Pillow's own limit: far over ours
        return sys.maxsize
    except Exception:  # Pillow's plugins raise many kinds on garbage
        return None
    return width * height


# ---- zip archives --------------------------------------------------------------------------


def zip_items(path: Path, limits: Limits) -> Iterator[Item]:
    """The archive's entries one by one, so that `read_files` stops reading at the first that
    breaks a limit of the batch (never more than the limits in memory)."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if len(entries) > limits.zip_entries:
                raise BatchRefused(
                    "err_batch_zip_entries", name=path.name, limit=limits.zip_entries
                )
            for entry in shown(entries):
                yield entry_item(archive, entry, path.name, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise BatchRefused("err_batch_bad_zip", name=path.name) from exc


def shown(entries: list[zipfile.ZipInfo]) -> Iterator[zipfile.ZipInfo]:
    """The entries that are files (no folders, no macOS resource forks)."""
    for entry in entries:
        if not entry.is_dir() and not entry.filename.startswith("__MACOSX/"):
            yield entry


def entry_item(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, zip_name: str, limits: Limits):
    name = f"{zip_name}/{entry.filename}"
    if problem := entry_problem(entry):
        return Item(name, problem=(problem, {}))
    if entry.file_size > limits.zip_ratio * max(entry.compress_size, 1):
        raise BatchRefused("err_batch_zip_bomb", name=zip_name, ratio=f"{limits.zip_ratio:g}")
    if entry.file_size > limits.photo_bytes:
        return Item(name, problem=too_large(limits))
    try:
        with archive.open(entry) as file:  # the declared size may lie: read one byte more
            data = file.read(limits.photo_bytes + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        return Item(name, problem=("file_unreadable", {}))
    if len(data) > limits.zip_ratio * max(entry.compress_size, 1):
        raise BatchRefused("err_batch_zip_bomb", name=zip_name, ratio=f"{limits.zip_ratio:g}")
    return photo_item(name, data, limits)


def entry_problem(entry: zipfile.ZipInfo) -> str | None:
    """Why an entry is not opened (an i18n key), or None."""
    if not safe_name(entry.filename):
        return "file_unsafe_name"
    if stat.S_ISLNK(entry.external_attr >> 16):
        return "file_symlink"
    if entry.flag_bits & 0x1:
        return "file_encrypted"
    if entry.filename.lower().endswith(".zip"):
        return "file_nested_zip"
    return None


def safe_name(name: str) -> bool:
    """No absolute path, drive letter or `..`: a name that stays inside the archive's folder."""
    posix = PurePosixPath(name.replace("\\", "/"))
    drive = len(posix.parts) > 0 and posix.parts[0].endswith(":")
    return not posix.is_absolute() and not drive and ".." not in posix.parts and "\0" not in name


# ---- classifying -----------------------------------------------------------------------------


def chunks(items: list[Item], max_images: int, max_bytes: int = REQUEST_BYTES) -> list[list[Item]]:
    """The sendable items in order, cut into requests of at most `max_images` images and
    `max_bytes` bytes (an image alone is never over: `Limits.photo_bytes` is smaller)."""
    groups: list[list[Item]] = []
    size = 0
    for item in (item for item in items if item.data is not None):
        if not groups or len(groups[-1]) >= max_images or size + len(item.data) > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += len(item.data)
    return groups


def classify(
    client: ApiClient,
    items: list[Item],
    model: str | None,
    max_images: int,
    explain: Callable[[ApiError], Message],
    on_request: Callable[[int, int], None] | None = None,
) -> int:
    """Sends the items' photos, request by request; fills each item's answer or problem (a
    failed request: `explain(error)` for each of its items). Returns the number of requests.
    `on_request(done, total)` before each one (progress)."""
    groups = chunks(items, max_images)
    for index, group in enumerate(groups):
        if on_request is not None:
            on_request(index, len(groups))
        images = [ImageInput(data=item.data, filename=Path(item.name).name) for item in group]
        try:
            results = client.predict_batch(images, model=model)
        except ApiError as exc:
            for item in group:
                item.problem = explain(exc)
            continue
        for item, result in zip(group, results, strict=True):
            record(item, result)
    return len(groups)


def record(item: Item, result: dict[str, Any]) -> None:
    """One slot's answer, or its error code as a sentence."""
    if isinstance(result.get("error"), dict):
        item.problem = (ERROR_CODES.get(str(result["error"].get("code")), "err_rejected"), {})
    else:
        item.answer = result


# ---- the table and the CSV file -----------------------------------------------------------

COLUMNS = ("col_file", "col_category", "col_confidence", "col_uncertain", "col_error")


def header(lang: str) -> list[str]:
    return [t(key, lang) for key in COLUMNS]


def table_rows(rows: list[dict[str, Any]], lang: str) -> list[list[str]]:
    """The results as shown: category and confidence in the page's language."""
    return [
        [
            row["name"],
            category(row["label"], lang) if row.get("label") else "",
            percent(row["confidence"], lang) if row.get("confidence") is not None else "",
            t("yes", lang) if row.get("uncertain") else "",
            why(row, lang),
        ]
        for row in rows
    ]


def why(row: dict[str, Any], lang: str) -> str:
    """Why the row has no answer, as a sentence ("" when classified)."""
    if not row.get("problem"):
        return ""
    key, values = row["problem"]
    return t(key, lang, **values)


def escape_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection): a leading = + - @, tab
    or carriage return gets a quote before it."""
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_rows(rows: list[dict[str, Any]], lang: str) -> list[list[str]]:
    """The table's rows with the dataset's class names and confidences as numbers (0.8384)."""
    shown = table_rows(rows, "en")
    for cells, row in zip(shown, rows, strict=True):
        cells[2] = f"{row['confidence']:.4f}" if row.get("confidence") is not None else ""
        cells[3] = "true" if row.get("uncertain") else ("false" if row.get("label") else "")
        cells[4] = why(row, lang)
    return shown


def write_csv(rows: list[dict[str, Any]], lang: str, folder: Path | None = None) -> Path:
    """`classifications.csv` (UTF-8 with a BOM, for Excel) in a new folder of its own."""
    folder = Path(tempfile.mkdtemp(prefix="batch-", dir=folder))
    path = folder / CSV_NAME
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header(lang))
        writer.writerows([escape_cell(cell) for cell in cells] for cells in csv_rows(rows, lang))
    return path


def render(state: dict[str, Any] | None, lang: str) -> tuple[str, pd.DataFrame, Any]:
    """(summary, results table, the CSV download's update) of the last batch."""
    state = state or {}
    rows = state.get("rows") or []
    table = pd.DataFrame(table_rows(rows, lang), columns=header(lang))
    label = t("batch_download", lang)
    download = gr.update(label=label, value=None, visible=False)
    if state.get("message"):
        return views.render_message(state["message"], lang), table, download
    if not rows:
        return "", table, download
    classified = sum(1 for row in rows if row.get("label"))
    summary = t(
        "batch_summary",
        lang,
        classified=classified,
        files=len(rows),
        failed=len(rows) - classified,
        requests=state.get("requests", 0),
        per_request=state.get("per_request", 0),
    )
    return summary, table, gr.update(label=label, value=str(write_csv(rows, lang)), visible=True)
