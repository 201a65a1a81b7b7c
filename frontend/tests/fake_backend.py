"""A small but real HTTP server that follows the backend contract, for the frontend's tests.

It runs uvicorn on 127.0.0.1 (random port) in a thread. `behaviour` switches it to answering
errors or answering slowly; `calls` records what the client sent.
"""

import asyncio
import base64
import hashlib
import io
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from flipkart_contract.run_id import parse_run_id
from flipkart_contract.testing import FLIPKART_CLASSES, card_dict, image_bytes
from PIL import Image

TEXT_FIELDS = ("title", "description")
RUN_IDS = ["20261123-101500_efficientnet_lite0_finetune", "20261123-111500_efficientnet_b0_freeze"]


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def card(run_id: str, framework: str, accuracy: float, latency: float) -> dict[str, Any]:
    """A valid schema-2 card (the contract's fixture) with this run's figures."""
    _, architecture, training_mode = parse_run_id(run_id)
    return card_dict(
        f"onnx of {run_id}".encode(),
        run_id,
        architecture=architecture,
        framework=framework,
        training_mode=training_mode,
        accuracy=accuracy,
        latency_ms={
            "batch_1": latency,
            "batch_16_per_image": latency / 3,
            "threads": 1,
            "hardware": "test",
        },
        parameters=3_380_000,
    )


def model_item(card: dict[str, Any], production: str | None) -> dict[str, Any]:
    """One item of GET /v1/models for a card."""
    return {
        "run_id": card["run_id"],
        "architecture": card["architecture"],
        "framework": card["framework"],
        "training_mode": card["training_mode"],
        "is_production": card["run_id"] == production,
        "card": card,
    }


def models_answer(production: str | None = RUN_IDS[0]) -> dict[str, Any]:
    """The answer of GET /v1/models: the two models of RUN_IDS, the first in production."""
    cards = [
        card(RUN_IDS[0], "pytorch", 0.86, 2.9),
        card(RUN_IDS[1], "tensorflow", 0.79, 6.1),
    ]
    return {"production": production, "models": [model_item(c, production) for c in cards]}


ADMIN_KEY = "fake-admin-key"


def feedback_token(prediction_id: str) -> str:
    """The fake's token of a prediction (the real one is an HMAC with a server secret)."""
    return hashlib.sha256(b"fake-secret:" + prediction_id.encode()).hexdigest()


def fake_prediction(data: bytes, model: str | None = None) -> dict[str, Any]:
    """Deterministic answer from the image bytes (tests read it back from `calls`); another
    model than the production one (`model`, a run_id) answers from other digits."""
    run_id = model or RUN_IDS[0]
    digest = hashlib.sha256(data + (b"" if run_id == RUN_IDS[0] else run_id.encode())).digest()
    classes = FLIPKART_CLASSES
    top = digest[0] % len(classes)
    confidence = 0.35 + (digest[1] % 60) / 100  # 0.35 .. 0.94
    rest = (1 - confidence) / (len(classes) - 1)
    probabilities = [
        {"label": c, "probability": confidence if i == top else rest} for i, c in enumerate(classes)
    ]
    probabilities.sort(key=lambda p: -p["probability"])
    prediction_id = digest[2:8].hex()
    return {
        "id": prediction_id,
        "feedback_token": feedback_token(prediction_id),
        "cached": False,
        "model": {"run_id": run_id, "architecture": parse_run_id(run_id)[1]},
        "label": classes[top],
        "confidence": confidence,
        "uncertain": confidence < 0.5,
        "probabilities": probabilities,
        "latency_ms": {"decode": 1.0, "preprocess": 0.5, "inference": 3.0, "total": 4.5},
    }


BATCH_LIMIT = 4  # images per /v1/predict/batch request, stated in the OpenAPI schema


def batch_body(limit: int) -> dict[str, Any]:
    """The batch route's request body as the real backend states it (`maxItems`)."""
    files = {"type": "array", "maxItems": limit, "items": {"type": "string", "format": "binary"}}
    schema = {"type": "object", "properties": {"files": files}}
    return {"requestBody": {"content": {"multipart/form-data": {"schema": schema}}}}


def batch_result(data: bytes, model: str | None) -> dict[str, Any]:
    """One slot of a batch answer: a prediction, or the error of an image the fake cannot read."""
    try:
        Image.open(io.BytesIO(data)).verify()
    except Exception:
        return {"error": {"code": "invalid_image", "message": "not an image"}}
    return fake_prediction(data, model)


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | error (500 everywhere but /health) | slow (sleep `delay` first)
    delay_s: float = 0.0
    # False: not deployed (404); "private": admin disabled (403); "admin": needs ADMIN_KEY (401)
    stats: bool | str = False
    feedback: bool = False
    # POST /v1/explain: "ok", or the error it answers: "server_busy" (503), "rate_limited" (429)
    explain: str = "ok"
    calls: list[dict[str, Any]] = field(default_factory=list)


def create_app(behaviour: Behaviour) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def misbehave(request: Request, call_next):
        if behaviour.mode == "slow":
            await asyncio.sleep(behaviour.delay_s)
        if behaviour.mode == "error" and request.url.path != "/health":
            return error(500, "internal_error", "the model crashed")
        return await call_next(request)

    async def read_image(request: Request) -> bytes | JSONResponse | None:
        """The image's bytes (None: text alone), recorded in `calls` with the text fields."""
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            form = await request.form()
            text = {k: v for k in TEXT_FIELDS if isinstance(v := form.get(k), str) and v}
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                if text:
                    behaviour.calls.append({"path": request.url.path, "source": "text", **text})
                    return None
                return error(422, "missing_file", "send the image in the multipart field 'file'")
            data = await upload.read()
            source = "file"
        else:
            body = await request.json()
            text = {k: v for k in TEXT_FIELDS if isinstance(v := body.get(k), str) and v}
            if "url" in body:
                behaviour.calls.append({"path": request.url.path, "source": "url", **text})
                return error(422, "url_fetch_failed", f"cannot download {body['url']}")
            if text and not body.get("image"):
                behaviour.calls.append({"path": request.url.path, "source": "text", **text})
                return None
            return error(422, "missing_image", "send a file, an image or a url")
        try:
            Image.open(io.BytesIO(data)).verify()
        except Exception:
            return error(422, "invalid_image", "the file is not an image this service can read")
        call = {"path": request.url.path, "source": source, "bytes": len(data), **text}
        behaviour.calls.append(call)
        return data

    @app.post("/v1/predict")
    async def predict(request: Request):
        data = await read_image(request)
        if isinstance(data, JSONResponse):
            return data
        call = behaviour.calls[-1]
        text = {k: call[k] for k in TEXT_FIELDS if k in call}
        if data is None:  # the fake has no text model, like a backend without a listing
            return error(503, "text_model_unavailable", "No text model is loaded.")
        answer = fake_prediction(data, request.query_params.get("model"))
        if text:
            answer.update(
                text_note="Text not used. No text model is loaded.",
                inputs_used=["image"],
                by_input={"image": answer["probabilities"], "text": None, "fused": None},
            )
        call.update(answer=answer, query=dict(request.query_params))
        return answer

    @app.post("/v1/predict/batch", openapi_extra=batch_body(BATCH_LIMIT))
    async def predict_batch(request: Request):
        form = await request.form()
        files = [f for f in form.getlist("files") if not isinstance(f, str)]
        if len(files) > BATCH_LIMIT:
            return error(413, "too_many_images", f"{len(files)} images; the limit is {BATCH_LIMIT}")
        query = request.query_params
        results = [batch_result(await upload.read(), query.get("model")) for upload in files]
        names = [f.filename for f in files]
        behaviour.calls.append({"path": request.url.path, "names": names, "query": {**query}})
        return {"results": results}

    @app.post("/v1/preprocess")
    async def preprocess(request: Request):
        data = await read_image(request)
        if isinstance(data, JSONResponse):
            return data
        if data is None:
            return error(422, "missing_image", "send a file, an image or a url")
        return Response(image_bytes((16, 16), color=(255, 255, 255)), media_type="image/png")

    @app.post("/v1/explain")
    async def explain(request: Request, label: str | None = None, grid: int = 4):
        if label is not None and label not in FLIPKART_CLASSES:  # checked before the image
            return error(422, "unknown_label", f"unknown label {label!r}")
        if behaviour.explain == "server_busy":
            return error(503, "server_busy", "another explanation is running")
        if behaviour.explain == "rate_limited":
            return error(429, "rate_limited", "too many requests")
        data = await read_image(request)
        if isinstance(data, JSONResponse):
            return data
        if data is None:
            return error(422, "missing_image", "send a file, an image or a url")
        behaviour.calls[-1].update(query=dict(request.query_params))
        predicted = fake_prediction(data)["label"]
        drops = [[0.0] * grid for _ in range(grid)]
        drops[0][0] = 0.25
        return {
            "model": {"run_id": RUN_IDS[0], "architecture": "efficientnet_lite0"},
            "label": label or predicted,
            "predicted": predicted,
            "probability": 0.7,
            "grid": grid,
            "image_size": [16, 16],
            "occlusion_colour": [0, 0, 0],
            "drops": drops,
            "max_drop": 0.25,
            "min_drop": 0.0,
            "images_run": grid * grid + 1,
            "overlay_png": base64.b64encode(image_bytes((16, 16), color=(254, 232, 56))).decode(),
            "latency_ms": {"decode": 1.0, "preprocess": 0.5, "inference": 640.0, "total": 642.5},
        }

    @app.get("/v1/models")
    async def models():
        return models_answer()

    @app.get("/v1/stats")
    async def stats(request: Request, window_hours: float = 24.0):
        if not behaviour.stats:
            return error(404, "not_found", "Not Found")
        if behaviour.stats == "private":
            return error(403, "admin_disabled", "set API_KEYS to read the statistics")
        if behaviour.stats == "admin":  # private, and ADMIN_KEY is the admin key
            scheme, _, key = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key:
                return error(401, "missing_api_key", "This route needs an API key.")
            if key != ADMIN_KEY:
                return error(401, "invalid_api_key", "The API key is not valid.")
        scale = 1 if window_hours <= 1 else (2 if window_hours <= 24 else 3)
        by_label = {"Watches": 3 * scale, "Computers": 2 * scale}
        return {
            "database": "sqlite",
            "window": {
                "from": "2026-11-22T11:00:00Z",
                "to": "2026-11-23T11:00:00Z",
                "hours": window_hours,
            },
            "predictions": sum(by_label.values()),
            "by_label": by_label,
            "by_model": {RUN_IDS[0]: sum(by_label.values())},
            "uncertain_share": 0.25,
            "latency_ms": {"count": 10, "p50": 4.0, "p95": 9.5, "p99": 12.0, "mean": 5.0},
            "last_n": {"n": 100, "count": 10, "mean_confidence": 0.81, "uncertain_share": 0.2},
            "feedback": {"count": 4, "correct": 3, "accuracy": 0.75},
            "since_promotion": {
                "production": RUN_IDS[0],
                "promoted_at": "2026-11-23T09:30:00Z",
                "new_distinct_images": 9,
            },
        }

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        if not behaviour.feedback:
            return error(404, "not_found", "Not Found")
        body = await request.json()
        if not str(body.get("prediction_id", "")).isalnum():
            return error(404, "unknown_prediction", "no stored prediction has this id")
        token = request.headers.get("x-feedback-token")
        if not token:
            return error(401, "missing_feedback_token", "send the prediction's X-Feedback-Token")
        if token != feedback_token(str(body["prediction_id"])):
            return error(403, "invalid_feedback_token", "not this prediction's token")
        if body.get("label") not in FLIPKART_CLASSES:
            return error(422, "unknown_label", f"unknown label {body.get('label')!r}")
        behaviour.calls.append({"path": "/v1/feedback", **body, "token": token})
        return {"prediction_id": body["prediction_id"], "label": body["label"]}

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/ready")
    async def ready():
        return JSONResponse({"status": "not_ready", "reason": "no model loaded"}, status_code=503)

    return app


class FakeBackend:
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(create_app(self.behaviour), log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeBackend":
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake backend did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def free_port() -> int:
    """A port where nothing listens (bound then released): a backend that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
