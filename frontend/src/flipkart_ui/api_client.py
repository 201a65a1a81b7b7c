"""HTTP client of the serving API (the contract in the backend's README); no backend import."""

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

ErrorKind = Literal["unreachable", "timeout", "not_deployed", "rejected", "server", "bad_response"]


class ApiError(Exception):
    """Why a call to the backend failed, in a form the UI can translate.

    kind: unreachable (nothing answers), timeout (too slow), not_deployed (404 on a route
    that later issues add), rejected (4xx: the request was wrong, `message` says why),
    server (5xx), bad_response (200 but not the JSON the contract promises).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str = "",
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class ImageInput:
    """One image to send: exactly one of raw bytes (with a file name) or an http(s) URL."""

    data: bytes | None = None
    filename: str = "image.jpg"
    url: str | None = None

    @classmethod
    def from_path(cls, path: str | Path) -> "ImageInput":
        path = Path(path)
        return cls(data=path.read_bytes(), filename=path.name)

    @classmethod
    def from_source(cls, source: dict[str, str] | None) -> "ImageInput | None":
        """The image a stored prediction was made from ({"url"} or {"path"}; None: none)."""
        if not source:
            return None
        return cls.from_url(source["url"]) if source.get("url") else cls.from_path(source["path"])

    @classmethod
    def from_url(cls, url: str) -> "ImageInput":
        url = url.strip()
        if not url.startswith(("http://", "https://")):
            raise ValueError("the image URL must start with http:// or https://")
        return cls(url=url)


def text_fields(title: str | None, description: str | None) -> dict[str, str]:
    """The text fields to send: each one that is not blank (blank text is absent)."""
    fields = {"title": title, "description": description}
    return {name: value for name, value in fields.items() if value and value.strip()}


def _error_from_response(response: httpx.Response, optional: bool) -> ApiError:
    code, message = None, ""
    try:
        body = response.json()
        error = body.get("error", {}) if isinstance(body, dict) else {}
        code = error.get("code")
        message = str(error.get("message") or "")
        if not message and isinstance(body, dict):
            message = str(body.get("reason") or body.get("detail") or "")
    except ValueError:
        message = response.text[:200]
    status = response.status_code
    if status == 404 and optional and code in (None, "not_found"):
        return ApiError("not_deployed", message, status, code)
    kind: ErrorKind = "server" if status >= 500 else "rejected"
    return ApiError(kind, message, status, code)


class ApiClient:
    def __init__(self, base_url: str, timeout_s: float = 30.0, api_key: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_s)
        self._api_key = api_key  # the backend's admin key: sent with /v1/stats only

    def close(self) -> None:
        self._client.close()

    def _request(
        self, method: str, path: str, *, optional: bool = False, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ApiError("timeout", str(exc) or type(exc).__name__) from exc
        except httpx.TransportError as exc:
            raise ApiError("unreachable", str(exc) or type(exc).__name__) from exc
        if response.status_code >= 400:
            raise _error_from_response(response, optional)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError("bad_response", "the answer is not JSON", response.status_code) from exc
        if not isinstance(body, dict):
            raise ApiError("bad_response", "the answer is not a JSON object", response.status_code)
        return body

    @staticmethod
    def _image_kwargs(image: ImageInput, text: dict[str, str] | None = None) -> dict[str, Any]:
        """The request body: multipart for bytes, JSON for a URL; `text` beside the image."""
        text = text or {}
        if image.url is not None:
            return {"json": {"url": image.url, **text}}
        if image.data is None:
            raise ValueError("an ImageInput needs bytes or a URL")
        files = {"file": (image.filename, image.data, "application/octet-stream")}
        return {"files": files, "data": text} if text else {"files": files}

    def predict(
        self,
        image: ImageInput | None,
        top_k: int | None = None,
        model: str | None = None,
        *,
        title: str = "",
        description: str = "",
    ) -> dict[str, Any]:
        """The answer: label, confidence, uncertain, probabilities, latency_ms, the stored `id`
        and `model` = {run_id, architecture}. `model` picks one by run_id (default: production).

        `title` and `description` (blank: not sent) go with the image, or alone when `image`
        is None; the answer then also says `inputs_used`, `by_input` {image, text, fused},
        `listing` and `text_note` (why the text was not used)."""
        params = {k: v for k, v in {"top_k": top_k, "model": model}.items() if v is not None}
        text = text_fields(title, description)
        if image is None and not text:
            raise ValueError("nothing to classify: no image and no text")
        body = self._image_kwargs(image, text) if image is not None else {"json": text}
        answer = self._json("POST", "/v1/predict", params=params, **body)
        for key in ("label", "confidence", "probabilities"):
            if key not in answer:
                raise ApiError("bad_response", f"the prediction has no {key!r}")
        return answer

    def predict_batch(self, images: list[ImageInput], model: str | None = None) -> list[dict]:
        """One result per image, in order: a prediction, or `{"error": {code, message}}` for an
        image that failed alone (`POST /v1/predict/batch`, multipart `files`)."""
        files = [("files", (i.filename, i.data, "application/octet-stream")) for i in images]
        params = {"model": model} if model else {}
        results = self._json("POST", "/v1/predict/batch", params=params, files=files).get("results")
        if not isinstance(results, list) or len(results) != len(images):
            raise ApiError("bad_response", "the batch answer has not one result per image")
        if not all(isinstance(result, dict) for result in results):
            raise ApiError("bad_response", "a batch result is not a JSON object")
        return results

    def batch_limit(self) -> int | None:
        """The most images `POST /v1/predict/batch` takes at once, as the backend's OpenAPI
        schema states it (its configured `MAX_BATCH_IMAGES`); None when it does not say."""
        try:
            schema = self._json("GET", "/openapi.json")
            body = schema["paths"]["/v1/predict/batch"]["post"]["requestBody"]["content"]
            limit = body["multipart/form-data"]["schema"]["properties"]["files"]["maxItems"]
        except (ApiError, KeyError, TypeError):
            return None
        return limit if isinstance(limit, int) and limit > 0 else None

    def preprocess(self, image: ImageInput, model: str | None = None) -> bytes:
        params = {"model": model} if model else {}
        response = self._request(
            "POST", "/v1/preprocess", params=params, **self._image_kwargs(image)
        )
        if not response.headers.get("content-type", "").startswith("image/"):
            raise ApiError("bad_response", "the preview is not an image", response.status_code)
        return response.content

    def explain(
        self,
        image: ImageInput,
        label: str | None = None,
        grid: int | None = None,
        model: str | None = None,
    ) -> dict[str, Any]:
        """The occlusion heatmap of `label` (default: the predicted class) on `image`: the answer
        of `POST /v1/explain` ({label, predicted, probability, grid, drops, max_drop, min_drop,
        images_run, latency_ms, ...}) with `overlay_png` decoded to PNG bytes."""
        query = {"label": label, "grid": grid, "model": model}
        params = {k: v for k, v in query.items() if v is not None}
        answer = self._json("POST", "/v1/explain", params=params, **self._image_kwargs(image))
        try:
            answer["overlay_png"] = base64.b64decode(str(answer["overlay_png"]), validate=True)
        except (KeyError, binascii.Error, ValueError) as exc:
            raise ApiError("bad_response", "the explanation has no readable 'overlay_png'") from exc
        if not answer["overlay_png"] or "label" not in answer:
            raise ApiError("bad_response", "the explanation has no overlay or no label")
        return answer

    def models(self) -> dict[str, Any]:
        """{production, models: [{run_id, architecture, framework, training_mode, is_production,
        card}]}; each card is a `flipkart_contract.ModelCard` (charts.model_entries parses it)."""
        body = self._json("GET", "/v1/models")
        models = body.get("models")
        if not isinstance(models, list):
            raise ApiError("bad_response", "the model list has no 'models' array")
        if not all(isinstance(item, dict) and item.get("run_id") for item in models):
            raise ApiError("bad_response", "a model in the list has no 'run_id'")
        return body

    def stats(self, window_hours: float | None = None) -> dict[str, Any]:
        """Private on the backend by default: 401/403 (`rejected`) without the admin key."""
        params = {"window_hours": window_hours} if window_hours else {}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return self._json("GET", "/v1/stats", optional=True, params=params, headers=headers)

    def feedback(self, prediction_id: Any, label: str, token: str | None = None) -> dict[str, Any]:
        """`token`: the prediction's `feedback_token`, which the backend requires."""
        payload = {"prediction_id": prediction_id, "label": label}
        headers = {"X-Feedback-Token": token} if token else {}
        return self._json("POST", "/v1/feedback", json=payload, headers=headers, optional=True)

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def ready(self) -> dict[str, Any]:
        """`/ready` answers 503 with a reason while no model is loaded: data, not an error."""
        try:
            return self._json("GET", "/ready")
        except ApiError as exc:
            if exc.status == 503:
                return {"status": "not_ready", "reason": exc.message}
            raise

    # ---- Models and Monitoring extras (flipkart_ui.insights) ----------------------------

    def runs(self) -> list[dict[str, Any]]:
        """The kept runs of both labs: [{run_id, framework, architecture, training_mode, ...}]."""
        runs = self._json("GET", "/v1/runs", optional=True).get("runs")
        if not isinstance(runs, list):
            raise ApiError("bad_response", "the run list has no 'runs' array")
        return [run for run in runs if isinstance(run, dict) and run.get("run_id")]

    def curves(self, run_id: str, tags: list[str]) -> dict[str, list[list[float]]]:
        """{tag: [[step, value], ...]} of one run."""
        body = self._json("GET", f"/v1/runs/{run_id}/curves", params={"tag": tags}, optional=True)
        curves = body.get("curves")
        return curves if isinstance(curves, dict) else {}

    def test_predictions(self, model: str) -> dict[str, Any]:
        """Which test images fell in each confusion-matrix cell of `model`."""
        body = self._json("GET", f"/v1/models/{model}/test-predictions", optional=True)
        if not isinstance(body.get("predictions"), list):
            raise ApiError("bad_response", "the test predictions have no 'predictions' array")
        return body

    def thumbnail(self, image: str) -> bytes:
        return self._request("GET", f"/v1/thumbnails/{image}", optional=True).content

    def stats_series(self, window_hours: float, bucket_minutes: int) -> dict[str, Any]:
        """Requests over time (private like /v1/stats: the admin key is sent)."""
        params = {"window_hours": window_hours, "bucket_minutes": bucket_minutes}
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return self._json("GET", "/v1/stats/series", optional=True, params=params, headers=headers)
