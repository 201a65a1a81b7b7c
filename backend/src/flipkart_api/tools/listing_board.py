"""The leaderboard's second table: a listing classified by its photo, its text, or both.

One row per input type: each text model (`artifacts/text/*/card.json`) read by the title alone
and by the title and description, and each listing (`artifacts/listing/*/card.json`): its image
model alone and the fusion with each text input, on the same products. Figures come from the
cards (fitted on val, test reported); the time added to a photo's request is the text model's
scoring time (card) or the listing's measured fusion overhead. `make leaderboard` writes it to
`artifacts/leaderboard_listing.csv` and under the image table in `leaderboard.md` and README.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from flipkart_contract import load_registry
from flipkart_contract.schema import (
    ListingCard,
    SplitMetrics,
    TextCard,
    describe_error,
    load_listing_card,
    load_text_card,
)

from flipkart_api.tools.leaderboard import bootstrap_fields, fmt


@dataclass
class ListingRow:
    input: str  # image | title | title+description
    source: str  # `text <run_id>`, `listing <listing_id>`
    model: str  # what answers: the image run, the text run, or both
    val_accuracy: float | None
    val_macro_f1: float | None
    test_accuracy: float | None
    test_macro_f1: float | None
    test_accuracy_ci95_low: float | None
    test_accuracy_ci95_high: float | None
    added_ms: float | None  # beyond the photo's own prediction
    in_production: bool
    status: str


def _figures(val: SplitMetrics | None, test: SplitMetrics | None) -> dict:
    ci = bootstrap_fields(test.confusion_matrix if test else None)
    return {
        "val_accuracy": val.accuracy if val else None,
        "val_macro_f1": val.macro_f1 if val else None,
        "test_accuracy": test.accuracy if test else None,
        "test_macro_f1": test.macro_f1 if test else None,
        "test_accuracy_ci95_low": ci.get("test_accuracy_ci95_low"),
        "test_accuracy_ci95_high": ci.get("test_accuracy_ci95_high"),
    }


def text_rows(card: TextCard, present: bool, production_text: str | None) -> list[ListingRow]:
    status = "exported" if present else "model.json not present (card figures)"
    return [
        ListingRow(
            input=kind,
            source=f"text `{card.run_id}`",
            model=f"{card.architecture} (text alone)",
            **_figures(card.metrics.val.get(kind), test),
            added_ms=card.latency_ms.ms_per_text.get(kind),
            in_production=card.run_id == production_text,
            status=status,
        )
        for kind, test in card.metrics.test.items()
    ]


def listing_rows(card: ListingCard, in_production: bool) -> list[ListingRow]:
    rows = []
    for key, test in card.metrics["test"].items():
        kind, _, text_input = key.partition(":")
        if kind == "text":
            continue  # the text model's own rows say it
        rows.append(
            ListingRow(
                input="image" if kind == "image" else f"image + {text_input}",
                source=f"listing `{card.listing_id}`",
                model=card.image.run_id
                if kind == "image"
                else f"{card.image.run_id} + {card.text.run_id}",
                **_figures(card.metrics.get("val", {}).get(key), test),
                added_ms=None if kind == "image" else card.fusion_overhead_ms,
                in_production=in_production,
                status="fitted",
            )
        )
    return rows


def read_cards(parent: Path, load: Callable[[Path], Any], problems: list[str]) -> list[tuple]:
    """(folder, card) of every `<parent>/*/card.json` that loads; the others go to `problems`."""
    found = []
    for folder in sorted(parent.glob("*/")):
        try:
            found.append((folder, load(folder / "card.json")))
        except (FileNotFoundError, ValueError) as exc:
            problems.append(f"{folder.name}: {describe_error(exc)}")
    return found


def build_listing_rows(artifacts: Path) -> tuple[list[ListingRow], list[str]]:
    """All rows, best test accuracy first within each input, and the problems met."""
    try:
        registry = load_registry(artifacts / "registry.json")
        production_listing = registry.listing
    except (FileNotFoundError, ValueError):
        production_listing = None
    rows: list[ListingRow] = []
    problems: list[str] = []
    production_text = None
    for _, card in read_cards(artifacts / "listing", load_listing_card, problems):
        if card.listing_id == production_listing:
            production_text = card.text.run_id
        rows.extend(listing_rows(card, card.listing_id == production_listing))
    for folder, card in read_cards(artifacts / "text", load_text_card, problems):
        rows.extend(text_rows(card, (folder / card.model.file).is_file(), production_text))
    order = {"image": 0, "title": 1, "image + title": 2, "title+description": 3}
    rows.sort(key=lambda r: (order.get(r.input, 4), -(r.test_accuracy or 0.0)))
    return rows, problems


def listing_csv(rows: list[ListingRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(ListingRow.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return out.getvalue()


def listing_markdown(rows: list[ListingRow]) -> str:
    if not rows:
        return ""
    lines = [
        "\n### A listing: photo, text, or both\n",
        "| input | model | val acc. | val macro-F1 | test acc. (95 % CI) | test macro-F1 "
        "| ms added to a request | from | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ci = (
            f" ({r.test_accuracy_ci95_low:.2f}–{r.test_accuracy_ci95_high:.2f})"
            if r.test_accuracy_ci95_low is not None
            else ""
        )
        lines.append(
            f"| {r.input} | {r.model}{' **in production**' if r.in_production else ''} "
            f"| {fmt(r.val_accuracy)} | {fmt(r.val_macro_f1)} | {fmt(r.test_accuracy)}{ci} "
            f"| {fmt(r.test_macro_f1)} | {fmt(r.added_ms, 2)} | {r.source} | {r.status} |"
        )
    lines.append(
        "\nThe same validation and test products in every row. Text models: TF-IDF + logistic "
        "regression (`flipkart-torch train-text`), each product read by its title and by its "
        "title and description; listings: the image model's probabilities and the text "
        "model's fused with weights fitted on validation (`flipkart-torch fit-listing`). "
        "ms added: the text model's median scoring time per listing, or the fusion's "
        "(scoring + pooling), measured when the card was written.\n"
    )
    return "\n".join(lines) + "\n"
