"""Response models (they document the HTTP contract in the OpenAPI schema)."""

from typing import Any

from pydantic import BaseModel


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


class PredictResponse(BaseModel):
    id: str | None = None
    # HMAC of `id`: send it as X-Feedback-Token to give feedback or read the prediction back.
    feedback_token: str | None = None
    cached: bool = False
    model: ModelRef
    label: str
    confidence: float
    uncertain: bool
    probabilities: list[Probability]
    latency_ms: Latency


class BatchResponse(BaseModel):
    results: list[PredictResponse | ErrorBody]


class ModelItem(BaseModel):
    run_id: str
    architecture: str
    framework: str
    training_mode: str
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


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 404, 413, 415, 422, 429, 503)
}

IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {"image": {"type": "string", "format": "byte"}},
                            "required": ["image"],
                        },
                        {
                            "type": "object",
                            "properties": {"url": {"type": "string", "format": "uri"}},
                            "required": ["url"],
                        },
                    ]
                }
            },
        },
    }
}

BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {
                                "images": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "byte"},
                                }
                            },
                            "required": ["images"],
                        },
                        {
                            "type": "object",
                            "properties": {"urls": {"type": "array", "items": {"type": "string"}}},
                            "required": ["urls"],
                        },
                    ]
                }
            },
        },
    }
}
