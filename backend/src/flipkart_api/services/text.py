"""How a request's listing text is used: scored by the listing's text model and fused with the
image model's probabilities, or not used, saying why.

The listing applies to the model it was fitted with: the request's model (the `model` parameter,
else production) must be the listing's image part. Text sent to another model, or while no
listing is loaded, is not used: an image is answered from the image alone with a `text_note`; a
request with text only is refused (422 `model_without_text`, 503 `text_model_unavailable`).

`uncertain` for an answer that used text: the `FLIPKART_UNCERTAIN_THRESHOLD` setting when set,
else the listing card's `uncertain_below` for that answer (`text:<input>` or `fused:<input>`:
the lowest confidence at which validation answers reach 95 % precision), else 0.5. The image
model's calibrated threshold belongs to the image's probabilities, not to the fused ones.
"""

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from flipkart_contract.text import (
    FusionWeights,
    TextInput,
    fuse,
    listing_text,
    text_input_kind,
    text_probabilities,
)

from flipkart_api.catalog import LoadedModel, ModelSet
from flipkart_api.errors import ApiError
from flipkart_api.inputs import Source
from flipkart_api.listing import LoadedListing
from flipkart_api.settings import Settings

TEXT_UNCERTAIN_THRESHOLD = 0.5


@dataclass(frozen=True)
class TextPlan:
    """A request's cleaned text and what is done with it."""

    title: str
    description: str
    kind: TextInput
    listing: LoadedListing | None = None  # set: the text is scored (and fused with an image)
    weights: FusionWeights | None = None
    note: str | None = None  # not used: why
    refusal: ApiError | None = None  # what a text-only request is answered when not used

    @property
    def inputs(self) -> list[str]:
        return [name for name in ("title", "description") if getattr(self, name)]

    def document(self) -> str:
        return listing_text(self.title, self.description)

    def cache_key(self) -> str:
        """The stored row's `text_key`: the listing applied (none: '') and the text."""
        listing_id = self.listing.listing_id if self.listing is not None else ""
        payload = json.dumps([listing_id, self.title, self.description], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def text_logits(self) -> np.ndarray:
        """The text model's logits of this text, in class order (float64 [classes])."""
        return self.listing.text_model.logits([self.document()])[0]

    def probabilities(self, text_logits: np.ndarray) -> np.ndarray:
        return text_probabilities(text_logits, self.weights)

    def fused(self, image_probabilities: np.ndarray, text_logits: np.ndarray) -> np.ndarray:
        return fuse(image_probabilities[None, :], text_logits[None, :], self.weights)[0]


def plan_text(source: Source, model: LoadedModel, models: ModelSet) -> TextPlan | None:
    """What to do with the request's text (None: it has none)."""
    kind = text_input_kind(source.title, source.description)
    if kind is None:
        return None
    text = {"title": source.title, "description": source.description, "kind": kind}
    listing = models.listing
    if listing is None:
        why = models.listing_problem or "registry.json names no listing (image + text fusion)"
        message = f"No text model is loaded: {why}"
        return TextPlan(
            **text,
            note=f"Text not used. {message}",
            refusal=ApiError(503, "text_model_unavailable", message),
        )
    if model.run_id != listing.image.run_id:
        message = (
            f"Model {model.run_id} has no text model: listing {listing.listing_id} fuses text "
            f"with {listing.image.run_id} (send model={listing.image.run_id}, or no model when "
            "it is production)."
        )
        return TextPlan(
            **text,
            note=f"Text not used. {message}",
            refusal=ApiError(422, "model_without_text", message),
        )
    weights = listing.weights(kind)
    if weights is None:
        message = f"Listing {listing.listing_id} has no fusion weights for a {kind} text."
        return TextPlan(
            **text,
            note=f"Text not used. {message}",
            refusal=ApiError(503, "text_model_unavailable", message),
        )
    return TextPlan(**text, listing=listing, weights=weights)


def text_uncertain_below(
    settings: Settings, listing: LoadedListing | None, answer: str, kind: str | None
) -> float:
    """The setting when given, else the listing's threshold for this answer (`text` or `fused`
    of a text input, derived on validation for 95 % precision), else 0.5."""
    if settings.uncertain_threshold is not None:
        return settings.uncertain_threshold
    found = listing.card.uncertain_below if listing is not None else None
    if found and kind is not None and f"{answer}:{kind}" in found:
        return found[f"{answer}:{kind}"]
    return TEXT_UNCERTAIN_THRESHOLD
