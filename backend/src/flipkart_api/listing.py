"""The production listing: an image model and a text model fused (`listing/<listing_id>/card.json`).

Loaded with the model set when `registry.json` names a listing. Its card and the text model's card
are read by `flipkart_contract`; the text model (`text/<run_id>/model.json`) must have the sha256
that both cards give, and the listing's image part must be a loaded model whose ONNX file has the
sha256 the fusion was fitted on. Anything else: the listing is not loaded, with the reason, and the
service answers from the image alone (text features unavailable, saying why).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from flipkart_contract import sha256_bytes
from flipkart_contract.schema import (
    ListingCard,
    TextCard,
    describe_error,
    load_listing_card,
    load_text_card,
)
from flipkart_contract.text import FusionWeights, TextInput, TextModel, TextModelError

if TYPE_CHECKING:  # catalog.py imports this module
    from flipkart_api.catalog import LoadedModel


class ListingLoadError(Exception):
    pass


Card = TypeVar("Card", ListingCard, TextCard)


@dataclass
class LoadedListing:
    card: ListingCard
    text_card: TextCard
    text_model: TextModel
    image: LoadedModel  # the listing's image part, one of the loaded models
    card_json: dict[str, Any]
    text_card_json: dict[str, Any]

    @property
    def listing_id(self) -> str:
        return self.card.listing_id

    @property
    def text_run_id(self) -> str:
        return self.text_card.run_id

    def weights(self, kind: TextInput) -> FusionWeights | None:
        """The fusion weights of a text input (None when the card has none for it)."""
        found = self.card.fusion.weights.get(kind)
        if found is None:
            return None
        return FusionWeights(found.image, found.text, found.text_temperature)

    def ref(self) -> dict[str, str]:
        """`ListingRef` of the HTTP answers."""
        return {
            "listing_id": self.listing_id,
            "image_run_id": self.image.run_id,
            "text_run_id": self.text_run_id,
        }

    def text_model_ref(self) -> dict[str, str]:
        """`ModelRef` of a text-only answer: the text model."""
        return {"run_id": self.text_run_id, "architecture": self.text_card.architecture}

    def describe(self) -> dict[str, Any]:
        """`listing` of `GET /v1/models` when it is loaded."""
        return {
            **self.ref(),
            "loaded": True,
            "reason": None,
            "card": self.card_json,
            "text_card": self.text_card_json,
        }


def _checked_file_name(name: str, folder: Path) -> Path:
    if Path(name).name != name or name in ("", ".", ".."):
        raise ListingLoadError(f"file name {name!r} in {folder} is not a plain file name")
    return folder / name


def read_card(folder: Path, load: Callable[[Path], Card], what: str, card_id: str) -> Card:
    """`folder/card.json` read by the contract's `load`; its `card_id` field names `folder`."""
    path = folder / "card.json"
    try:
        card = load(path)
    except FileNotFoundError as exc:
        raise ListingLoadError(f"{what} card not found: {path}") from exc
    except ValueError as exc:  # bad JSON, or a card that fails the contract's validation
        raise ListingLoadError(f"{what} card {path} is invalid: {describe_error(exc)}") from exc
    found = getattr(card, card_id)
    if found != folder.name:
        raise ListingLoadError(f"{what} card {path} is for {found}, not {folder.name}")
    return card


def read_text_model(folder: Path, listing: ListingCard) -> tuple[TextCard, TextModel]:
    """The text card and its model, the model file's sha256 checked against both cards."""
    text_card = read_card(folder, load_text_card, "text", "run_id")
    model_path = _checked_file_name(text_card.model.file, folder)
    try:
        data = model_path.read_bytes()
    except OSError as exc:
        raise ListingLoadError(f"text model file unreadable: {model_path}: {exc}") from exc
    actual = sha256_bytes(data)
    for who, expected in (("text card", text_card.model.sha256), ("listing", listing.text.sha256)):
        if actual != expected:
            raise ListingLoadError(
                f"sha256 mismatch for {model_path}: {who} says {expected[:12]}…, "
                f"file is {actual[:12]}…"
            )
    try:
        model = TextModel.from_dict(json.loads(data))
    except (
        ValueError,
        TypeError,
        AttributeError,
    ) as exc:  # bad JSON, not an object, TextModelError
        raise ListingLoadError(f"text model {model_path} is invalid: {exc}") from exc
    return text_card, model


def load_listing(root: Path, listing_id: str, models: dict[str, LoadedModel]) -> LoadedListing:
    card = read_card(root / "listing" / listing_id, load_listing_card, "listing", "listing_id")
    image = models.get(card.image.run_id)
    if image is None:
        raise ListingLoadError(
            f"listing {listing_id}: its image part {card.image.run_id} is not a loaded model"
        )
    if image.card.onnx.sha256 != card.image.sha256:
        raise ListingLoadError(
            f"listing {listing_id}: image part {card.image.run_id} has sha256 "
            f"{image.card.onnx.sha256[:12]}…, the fusion was fitted on {card.image.sha256[:12]}…"
        )
    text_card, text_model = read_text_model(root / "text" / card.text.run_id, card)
    for who, classes in (("image part", image.classes), ("text model", text_model.classes)):
        if list(classes) != list(card.classes):
            raise ListingLoadError(
                f"listing {listing_id}: the {who}'s classes differ from its card's"
            )
    try:  # smoke run: a text model that cannot score one text is not servable
        probe = text_model.logits(["smoke test"])
    except (TextModelError, ValueError, IndexError) as exc:
        raise ListingLoadError(f"text model {text_card.run_id} cannot score a text: {exc}") from exc
    if probe.shape != (1, len(card.classes)) or not np.isfinite(probe).all():
        raise ListingLoadError(f"text model {text_card.run_id} gives logits of shape {probe.shape}")
    return LoadedListing(
        card=card,
        text_card=text_card,
        text_model=text_model,
        image=image,
        card_json=card.model_dump(mode="json", exclude_none=True),
        text_card_json=text_card.model_dump(mode="json", exclude_none=True),
    )
