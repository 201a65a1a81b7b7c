"""Response models (they document the HTTP contract in the OpenAPI schema)."""

from typing import Any

from pydantic import BaseModel

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


class Prediction(BaseModel):
    """What the model answered for one image: as /v1/predict returns it, and as the store keeps it
    (flipkart_api.routers.feedback.StoredPrediction)."""

    model: ModelRef
    label: str
    confidence: float
    uncertain: bool
    probabilities: list[Probability]
    latency_ms: Latency


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


class ModelList(BaseModel):
    production: str | None
    models: list[ModelItem]


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    model: str | None = None
    reason: str | None = None


class NormalizeResponse(BaseModel):
    image: str  # base64 PNG of what the model sees


ERROR_DESCRIPTIONS = {
    400: "Malformed request: empty body, invalid JSON, base64 or multipart, empty image",
    401: "Missing or invalid API key",
    403: "Admin routes are disabled: no API key is configured",
    404: "Unknown model, prediction or resource",
    409: "Conflict with the current state",
    413: "Too large: body, image, pixel count or number of images",
    415: "Unsupported content type",
    422: "Invalid request: missing or wrong field, not an image, unusable URL, top_k out of "
    "range, ambiguous model name",
    429: "Too many requests from this client (see Retry-After)",
    503: "Not available: no model ready, or the prediction store disabled or unreachable",
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


def batch_body(max_images: int) -> dict:
    """The batch route's request body for a limit of `max_images` images."""

    def slots(items: dict) -> dict:
        return {"type": "array", "minItems": 1, "maxItems": max_images, "items": items}

    return {
        "requestBody": {
            "required": True,
            "content": {
                **_form("files", slots({"type": "string", "format": "binary"})),
                "application/json": {
                    "schema": _one_of(
                        images=slots({"type": "string", "description": "base64 image"}),
                        urls=slots({"type": "string", "description": "http(s) image URL"}),
                    )
                },
            },
        }
    }


# `create_app` replaces it with the configured limit (see flipkart_api.app.document_limits).
BATCH_BODY = batch_body(Settings.model_fields["max_batch_images"].default)
