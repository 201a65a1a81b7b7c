"""The Batch tab in a real browser (Debian's Chromium) against the real backend, nothing faked,
configured to take 4 images per batch request (`FLIPKART_MAX_BATCH_IMAGES=4`, which the app
reads from the backend's OpenAPI schema): photos and a zip (with a note and a path-traversal
entry) give one row per file, each classified row equal to the backend's own answer, sent in
requests of 4, and `classifications.csv` whose rows are the table's; a zip bomb and a broken
zip are refused with a sentence and the tab keeps working; at phone width the controls fit.
Screenshots `batch_*.png` in $SCREENSHOT_DIR."""

import csv
import io
import zipfile
from pathlib import Path

import httpx
import pytest
from flipkart_contract.testing import image_bytes
from flipkart_ui.assets import load_samples
from flipkart_ui.i18n import percent, t
from real_backend import missing
from test_browser_customer import PHONE
from ui_harness import chromium_missing, open_page, shoot, wait_for_count

if why := chromium_missing() or missing():
    pytest.skip(why, allow_module_level=True)

import test_browser_compare as compare

expect = pytest.importorskip("playwright.sync_api").expect

# The real backend serving two models, 4 images per batch request, and the app on it:
# test_browser_compare's fixtures (module-scoped: this module gets its own backend).
backend, app_url, PER_REQUEST = compare.backend, compare.app_url, compare.PER_REQUEST
TIMEOUT_MS, DESKTOP = compare.TIMEOUT_MS, compare.DESKTOP


@pytest.fixture()
def page(browser, app_url):
    expect.set_options(timeout=TIMEOUT_MS)
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS)
    page.get_by_role("tab", name="Batch").click()
    yield page
    assert "Traceback" not in page.content()
    page.context.close()


def photos(folder: Path, count: int, first: int = 0) -> list[Path]:
    paths = []
    for index in range(first, first + count):
        path = folder / f"photo_{index}.png"
        path.write_bytes(image_bytes((40 + index, 30), color=(20 * index, 90, 250 - 20 * index)))
        paths.append(path)
    return paths


def zipped(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def send(page, paths: list[Path]) -> None:
    """Choose the files (replacing any chosen before), wait until the tab lists them, classify."""
    files = page.locator("#batch-files")
    clear = files.get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
    expect(files.get_by_role("button", name="Remove this file")).to_have_count(0)
    expect(files.locator("input[type=file]")).to_have_count(1)
    files.locator("input[type=file]").set_input_files([str(p) for p in paths])
    for path in paths:  # its name's stem and suffix are two elements: the cell's name is whole
        expect(files.get_by_role("cell", name=path.name, exact=True)).to_be_visible()
    page.locator("#batch-run").click()


def table(page) -> list[list[str]]:
    """The results table's cells, row by row (Gradio names each cell `cell-<row>-<column>`)."""
    return page.locator("#batch-table").evaluate(
        """el => { const rows = {};
          el.querySelectorAll('[data-testid^="cell-"]').forEach((c) => {
            const [, r, k] = c.dataset.testid.split("-").map(Number);
            if (Number.isInteger(r) && r >= 0) (rows[r] ||= [])[k] = c.innerText.trim(); });
          return Object.keys(rows).sort((a, b) => a - b).map((r) => rows[r]); }"""
    )


def own_answer(backend, data: bytes, model: str | None = None) -> dict:
    params = {"model": model} if model else {}
    files = {"file": ("x", data)}
    return httpx.post(f"{backend.url}/v1/predict", files=files, params=params, timeout=60).json()


def test_photos_and_a_zip_give_the_table_and_the_csv(page, backend, tmp_path):
    loose = photos(tmp_path, 3)
    (tmp_path / "inner").mkdir()
    inner = {p.name: p.read_bytes() for p in photos(tmp_path / "inner", 3, first=3)}
    archive = zipped(
        tmp_path / "more.zip", {**inner, "notes.txt": b"not a photo", "../evil.png": b"x"}
    )
    send(page, [*loose, archive])
    summary = page.locator("#batch-summary")
    expect(summary).to_contain_text("Files classified: 6 of 8 (2 not). Requests sent: 2, at most 4")
    rows = table(page)
    names = [p.name for p in loose] + [f"more.zip/{name}" for name in inner]
    assert [row[0] for row in rows] == [*names, "more.zip/notes.txt", "more.zip/../evil.png"]
    sent = [p.read_bytes() for p in loose] + list(inner.values())
    for row, data in zip(rows, sent, strict=False):
        answer = own_answer(backend, data)
        assert row[1:4] == [
            answer["label"],
            percent(answer["confidence"], "en"),
            "yes" if answer["uncertain"] else "",
        ]
        assert row[4] == ""
    assert rows[6][4] == t("file_not_image", "en") and rows[7][4] == t("file_unsafe_name", "en")
    with page.expect_download() as download:
        page.locator("#batch-download").click()
    assert download.value.suggested_filename == "classifications.csv"
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    saved = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert saved[0] == ["File", "Category", "Confidence", "Uncertain", "Not classified because"]
    assert len(saved) == len(rows) + 1
    for shown, line in zip(rows, saved[1:], strict=True):
        assert [line[0], line[1], line[4]] == [shown[0], shown[1], shown[4]]
        if line[2]:
            assert percent(float(line[2]), "en") == shown[2]
            assert line[3] == ("true" if shown[3] else "false")
    shoot(page, "batch_desktop_en")


def test_the_chosen_model_classifies_the_batch(page, backend, tmp_path):
    """The Batch tab's model: the Classification tab's list, production by default; the model
    chosen classifies every photo (sent as `model=`: each row is that model's own answer)."""
    production, shown = compare.production_of(backend), compare.names(backend, "en")
    expect(page.locator("#batch-model input")).to_have_value(shown[production])
    page.locator("#batch-model input").click()
    options = page.get_by_role("option")
    expect(options).to_have_count(len(shown))
    texts = [text.replace("✓", "").strip() for text in options.all_inner_texts()]
    assert texts == list(shown.values())  # production first (and ticked)
    options.filter(has_text=shown[compare.SECOND_MODEL]).click()
    expect(page.locator("#batch-model input")).to_have_value(shown[compare.SECOND_MODEL])
    before = compare.predictions_by(backend, compare.SECOND_MODEL)
    sent = photos(tmp_path, 5, first=20)
    send(page, sent)
    expect(page.locator("#batch-summary")).to_contain_text("Files classified: 5 of 5 (0 not).")
    rows = table(page)

    def cells(model: str) -> list[list[str]]:
        answers = [own_answer(backend, path.read_bytes(), model) for path in sent]
        return [[a["label"], percent(a["confidence"], "en")] for a in answers]

    assert [row[1:3] for row in rows] == cells(compare.SECOND_MODEL)
    assert cells(compare.SECOND_MODEL) != cells(production)  # the two models told apart
    wait_for_count(lambda: compare.predictions_by(backend, compare.SECOND_MODEL), before + 5)
    shoot(page, "batch_second_model_en")


def test_the_model_list_in_french(browser, app_url, backend):
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS, "fr")
    try:
        page.get_by_role("tab", name="Par lot").click()
        shown = compare.names(backend, "fr")
        expect(page.locator("#batch-model input")).to_have_value(
            shown[compare.production_of(backend)]
        )
        expect(page.locator("#batch-model")).to_contain_text("Modèle")
    finally:
        page.context.close()


def bomb(path: Path) -> Path:
    return zipped(path, {"zeros.png": bytes(4 * 1024 * 1024)})


def test_a_bad_zip_says_why_and_the_tab_keeps_working(page, tmp_path):
    summary = page.locator("#batch-summary")
    send(page, [bomb(tmp_path / "bomb.zip")])
    expect(summary).to_contain_text("bomb.zip expands a file over 100 times")
    expect(page.locator("#batch-download")).to_be_hidden()
    assert table(page) in ([], [["", "", "", "", ""]])
    shoot(page, "batch_zip_bomb_en")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00broken" * 40)
    send(page, [broken])
    expect(summary).to_contain_text("broken.zip is not a readable .zip archive.")
    send(page, photos(tmp_path, 2))
    expect(summary).to_contain_text("Files classified: 2 of 2 (0 not). Requests sent: 1,")
    assert [row[0] for row in table(page)] == ["photo_0.png", "photo_1.png"]
    expect(page.locator("#batch-download")).to_be_visible()


def test_in_french(browser, app_url, tmp_path):
    page = open_page(browser, app_url, DESKTOP, TIMEOUT_MS, "fr")
    try:
        page.get_by_role("tab", name="Par lot").click()
        send(page, [bomb(tmp_path / "bombe.zip")])
        expect(page.locator("#batch-summary")).to_contain_text("ce pourrait être une bombe zip")
        send(page, [*photos(tmp_path, 1), zipped(tmp_path / "a.zip", {"b.txt": b"texte"})])
        expect(page.locator("#batch-summary")).to_contain_text("Fichiers classés : 1 sur 2")
        assert table(page)[1][4] == t("file_not_image", "fr")
        expect(page.locator("#batch-download")).to_have_text("Télécharger classifications.csv")
        shoot(page, "batch_desktop_fr")
    finally:
        page.context.close()


def test_the_batch_tab_fits_a_phone(browser, app_url, assets_dir, tmp_path):
    page = open_page(browser, app_url, PHONE, TIMEOUT_MS)
    try:
        tab = page.get_by_role("tab", name="Batch")
        expect(tab).to_be_visible()
        tab.click()
        samples = [Path(s.path) for s in load_samples(assets_dir)[:3]]
        send(page, samples)
        expect(page.locator("#batch-summary")).to_contain_text("Files classified: 3 of 3")
        controls = ("#batch-model", "#batch-files", "#batch-run", "#batch-download")
        for selector in (*controls, "#batch-summary"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], selector
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shoot(page, "batch_phone_en")
    finally:
        page.context.close()
