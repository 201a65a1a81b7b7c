"""Response models (they document the HTTP contract in the OpenAPI schema)."""

from typing import Any, Literal

from flipkart_contract.text import DESCRIPTION_MAX_CHARS, TITLE_MAX_CHARS
from pydantic import BaseModel, Field

from flipkart_api.settings import Settings


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ModelRef(BaseModel):
    run_id: str
    architecture: str


class Probability(BaseModel):
    label: str
    probability: float


class Latency(BaseModel):
    decode: float
    preprocess: float
    inference: float
    total: float


class ListingRef(BaseModel):
    """The listing (image + text fusion) whose text model scored the text."""

    listing_id: str
    image_run_id: str
    text_run_id: str


class ByInput(BaseModel):
    """Each input's own answer, sorted by probability (cut to `top_k`); null: not computed."""

    image: list[Probability] | None = Field(None, description="the image model alone")
    text: list[Probability] | None = Field(None, description="the text model alone")
    fused: list[Probability] | None = Field(None, description="image and text fused")


InputName = Literal["image", "title", "description"]


class Prediction(BaseModel):
    """What the model answered for one image and/or listing text: as /v1/predict returns it, and
    as the store keeps it (flipkart_api.routers.feedback.StoredPrediction).

    `label`, `confidence`, `probabilities` are the best available answer: fused when image and
    text were both used, the image model's for a photo alone, the text model's for text alone.
    `model` is the image model, or the text model for a text-only answer.
    """

    model: ModelRef
    label: str
    confidence: float
    uncertain: bool
    probabilities: list[Probability]
    latency_ms: Latency
    inputs_used: list[InputName] = Field(default_factory=lambda: ["image"])
    by_input: ByInput = Field(default_factory=ByInput)
    listing: ListingRef | None = Field(None, description="the listing used (null: no text used)")
    text_note: str | None = Field(
        None, description="why text that was sent was not used (the answer is the image's)"
    )
    title: str | None = Field(None, description="the title as the model read it (cleaned)")
    description: str | None = Field(None, description="the description as the model read it")


class PredictResponse(Prediction):
    id: str | None = None
    # HMAC of `id`: send it as X-Feedback-Token to give feedback or read the prediction back.
    feedback_token: str | None = None
    cached: bool = False


class BatchResponse(BaseModel):
    results: list[PredictResponse | ErrorBody]


class ModelItem(BaseModel):
    run_id: str
    architecture: str
    framework: str
    training_mode: str
    precision: str = "fp32"  # of the ONNX graph: fp32, fp16 or int8 (the card's)
    is_production: bool
    card: dict[str, Any]  # the card (contract schema, version 2)


class ListingItem(BaseModel):
    """The listing registry.json names; `loaded` false: text is not served, `reason` says why."""

    listing_id: str
    loaded: bool
    reason: str | None = None
    image_run_id: str | None = None
    text_run_id: str | None = None
    card: dict[str, Any] | None = None  # the listing card (contract schema, version 2)
    text_card: dict[str, Any] | None = None  # the text model's card


class ModelList(BaseModel):
    production: str | None
    models: list[ModelItem]
    listing: ListingItem | None = None  # null: registry.json names no listing
    problems: dict[str, str] = Field(
        default_factory=dict, description="run_id or listing_id → why it is not loaded"
    )


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: str | None = None
    reason: str | None = None
    listing: str | None = None  # the listing loaded (text features available)
    listing_problem: str | None = None  # why the listing registry.json names is not loaded


class ExplainResponse(BaseModel):
    """An occlusion heatmap of one class on what the model sees (flipkart_api.explain)."""

    model: ModelRef
    label: str = Field(description="the class explained (`label=`, else the predicted one)")
    predicted: str = Field(description="the model's top class on the whole image")
    probability: float = Field(description="the explained class's probability, whole image")
    grid: int = Field(description="patches per side")
    image_size: list[int] = Field(description="[height, width] of what the model sees")
    occlusion_colour: list[int] = Field(description="RGB a hidden patch is painted with")
    drops: list[list[float]] = Field(
        description="grid × grid, rows top to bottom: the class's probability lost when that "
        "patch is hidden (negative: hiding it helps the class)"
    )
    max_drop: float
    min_drop: float
    images_run: int = Field(description="images through the model: grid² + 1")
    overlay_png: str = Field(description="base64 PNG: the drops over what the model sees")
    latency_ms: Latency


class RunItem(BaseModel):
    """A kept run of the image labs (`runs/<framework>/<run_id>/`)."""

    run_id: str
    framework: str
    architecture: str
    training_mode: str
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    epochs_run: int | None = None
    tags: dict[str, int] = Field(description="scalar tag → number of points")


class RunList(BaseModel):
    runs: list[RunItem]


class RunCurves(BaseModel):
    run_id: str
    framework: str
    curves: dict[str, list[tuple[int, float]]] = Field(
        description="tag → [[step, value], ...] sorted by step (`train/loss`, `val/accuracy`, …)"
    )


class TestPrediction(BaseModel):
    image: str = Field(description="file name; its thumbnail: GET /v1/thumbnails/{image}")
    label: str
    predicted: str
    confidence: float


class TestPredictions(BaseModel):
    """The model's predictions on the test split, as served (`tools.test_cells`)."""

    run_id: str
    split: str
    classes: list[str]
    confusion_matrix: list[list[int]] = Field(description="rows: true class; columns: predicted")
    matches_card: bool = Field(description="the same matrix as the card's (lab) figures")
    predictions: list[TestPrediction]
    created_at: str


class NormalizeResponse(BaseModel):
    image: str  # base64 PNG of what the model sees


ERROR_DESCRIPTIONS = {
    400: "Malformed request: empty body, invalid JSON, base64 or multipart, empty image, "
    "text that is not valid UTF-8",
    401: "Missing or invalid API key",
    403: "Admin routes are disabled: no API key is configured",
    404: "Unknown model, prediction or resource",
    409: "Conflict with the current state",
    413: "Too large: body, image, pixel count, number of images, or text (`text_too_long`)",
    415: "Unsupported content type",
    422: "Invalid request: missing or wrong field, not an image, unusable URL, top_k out of "
    "range, ambiguous model name, a label the model does not have, blank text without an "
    "image, titles or descriptions not one per image, text sent alone to a model without a "
    "text model",
    429: "Too many requests from this client (see Retry-After)",
    503: "Not available: no model ready, no text model loaded (text alone), the prediction "
    "store disabled or unreachable, or too busy (`server_busy`, see Retry-After)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status it can answer with the error body."""
    return {code: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


# What the image routes can answer besides 200 (`rate limited`: the routes that run a model).
IMAGE_ERRORS = (400, 404, 413, 415, 422, 503)
PRODUCTION_IMAGE_ERRORS = (400, 413, 415, 422, 503)  # no `model` parameter: no 404
RATE_LIMITED = (429,)

MODEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"  # a run_id or an architecture (flipkart_contract)

# The request bodies say what the server takes: each alternative excludes the others (a field
# of the other alternative may only be absent or null), an image is never empty, and a batch
# holds 1 to `max_batch_images` strings or files. A batch slot is judged on its own: a string
# that is not base64, or a file that is not an image, gets its error in its slot of a 200.
_BASE64_IMAGE = {
    "type": "string",
    "format": "byte",
    "minLength": 1,
    "description": "The image file as base64 (a `data:image/...;base64,` prefix is accepted).",
}
_IMAGE_URL = {
    "type": "string",
    "format": "uri",
    "minLength": 1,
    "description": "An http(s) URL of the image, fetched by the server.",
}
_IMAGE_FILE = {"type": "string", "format": "binary", "minLength": 1}
_ABSENT = {"type": "null"}


def _form(part: str, schema: dict) -> dict:
    """A multipart/form-data body with one required part, `part`."""
    return {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {part: schema}, "required": [part]}
        }
    }


def _one_of(**alternatives: dict) -> dict:
    """Exactly one of the named fields; each of the others absent or null."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    name: schema if name == chosen else _ABSENT
                    for name, schema in alternatives.items()
                },
                "required": [chosen],
            }
            for chosen in alternatives
        ]
    }


IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **_form("file", _IMAGE_FILE),
            "application/json": {"schema": _one_of(image=_BASE64_IMAGE, url=_IMAGE_URL)},
            "image/*": {"schema": _IMAGE_FILE},
            "application/octet-stream": {"schema": _IMAGE_FILE},
        },
    }
}

# The listing text beside an image, or instead of it. Blank text is absent; longer than the
# request limits is refused (413 `text_too_long`); what the text model reads is cleaned and cut
# shorter (flipkart_contract.text). `create_app` states the configured limits.
TEXT_LIMITS = {
    "title": Settings.model_fields["max_title_chars"].default,
    "description": Settings.model_fields["max_description_chars"].default,
}
_TEXT_CUT = {"title": TITLE_MAX_CHARS, "description": DESCRIPTION_MAX_CHARS}


def text_limits(settings: Settings) -> dict[str, int]:
    return {"title": settings.max_title_chars, "description": settings.max_description_chars}


def _text(field: str, limit: int, nullable: bool) -> dict:
    return {
        "type": ["string", "null"] if nullable else "string",
        "maxLength": limit,
        "description": f"The product's {field} (optional). Cleaned and cut to "
        f"{_TEXT_CUT[field]} characters for the text model; over {limit} characters: 413.",
    }


def _slot_text(field: str, limit: int, nullable: bool) -> dict:
    """A batch item's text: over the limit fails its own slot (413 `text_too_long` in
    `results`), not the request, so the request schema does not bound its length."""
    return {
        "type": ["string", "null"] if nullable else "string",
        "description": f"The product's {field} (optional). Cleaned and cut to "
        f"{_TEXT_CUT[field]} characters for the text model; over {limit} characters: its "
        "slot answers 413 `text_too_long`.",
    }


def _texts(field: str, limit: int, max_images: int, nullable: bool) -> dict:
    """A batch's `titles` or `descriptions`: one per image, in order."""
    return {
        "type": ["array", "null"] if nullable else "array",
        "maxItems": max_images,
        "items": _slot_text(field, limit, nullable),
        "description": f"One {field} per image, in the order of the images (empty or null: "
        "none); without images, one slot per item, classified by its text alone.",
    }


def _text_present(fields: list[str], array: bool) -> list[dict]:
    """anyOf: one of `fields` present and not empty (what a request without an image needs)."""
    not_empty = {"type": "array", "minItems": 1} if array else {"type": "string", "minLength": 1}
    return [{"required": [name], "properties": {name: not_empty}} for name in fields]


def _listing_form(images: str, image_schema: dict, text_fields: dict[str, dict]) -> dict:
    """A multipart body: the image part(s) and/or the text fields."""
    present = _text_present(list(text_fields), array=images != "file")
    return {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {images: image_schema, **text_fields},
                "anyOf": [{"required": [images]}, *present],
            }
        }
    }


def _with_text(alternatives: dict, text_fields: dict[str, dict], array: bool) -> dict:
    """`alternatives` (a `_one_of`) with the text fields beside each, and one more alternative:
    the text alone (each image field absent or null)."""
    image_fields = list(alternatives["oneOf"][0]["properties"])
    with_text = [
        {**alternative, "properties": {**alternative["properties"], **text_fields}}
        for alternative in alternatives["oneOf"]
    ]
    text_only = {
        "type": "object",
        "properties": {**dict.fromkeys(image_fields, _ABSENT), **text_fields},
        "anyOf": _text_present(list(text_fields), array=array),
    }
    return {"oneOf": [*with_text, text_only]}


def predict_body(limits: dict[str, int] = TEXT_LIMITS) -> dict:
    """`/v1/predict`'s request body: an image and/or its listing text."""
    return {
        "requestBody": {
            "required": True,
            "description": "An image and/or its listing text. Multipart: `file` and the text "
            "fields `title`, `description`; JSON: `image` (base64) or `url`, with `title`, "
            "`description`; a raw image body has no text. Text alone is classified by the "
            "listing's text model.",
            "content": {
                **_listing_form(
                    "file",
                    _IMAGE_FILE,
                    {name: _text(name, limit, nullable=False) for name, limit in limits.items()},
                ),
                "application/json": {
                    "schema": _with_text(
                        _one_of(image=_BASE64_IMAGE, url=_IMAGE_URL),
                        {name: _text(name, limit, nullable=True) for name, limit in limits.items()},
                        array=False,
                    )
                },
                "image/*": {"schema": _IMAGE_FILE},
                "application/octet-stream": {"schema": _IMAGE_FILE},
            },
        }
    }


def batch_body(max_images: int, limits: dict[str, int] = TEXT_LIMITS) -> dict:
    """The batch route's request body for a limit of `max_images` images."""

    def slots(items: dict) -> dict:
        return {"type": "array", "minItems": 1, "maxItems": max_images, "items": items}

    def texts(nullable: bool) -> dict[str, dict]:
        return {
            name + "s": _texts(name, limit, max_images, nullable) for name, limit in limits.items()
        }

    return {
        "requestBody": {
            "required": True,
            "description": "Images with optional listing texts, one per image in order "
            "(multipart: `files`, `titles`, `descriptions` repeated; JSON: `images` or `urls`, "
            "`titles`, `descriptions`), or texts alone (one slot per item). Titles or "
            "descriptions not one per image: 422 `text_count_mismatch`.",
            "content": {
                **_listing_form(
                    "files", slots({"type": "string", "format": "binary"}), texts(False)
                ),
                "application/json": {
                    "schema": _with_text(
                        _one_of(
                            images=slots({"type": "string", "description": "base64 image"}),
                            urls=slots({"type": "string", "description": "http(s) image URL"}),
                        ),
                        texts(True),
                        array=True,
                    )
                },
            },
        }
    }


# `create_app` replaces them with the configured limits (see flipkart_api.app.document_limits).
PREDICT_BODY = predict_body()
BATCH_BODY = batch_body(Settings.model_fields["max_batch_images"].default)
