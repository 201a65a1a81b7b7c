"""What the app does when a user acts: classify, send feedback, fetch models and statistics,
draw the dashboard. Each handler returns the stored answer and its rendering (views.py); the
tabs (tabs.py) wire them to components."""

import io
import threading
from typing import Any

import gradio as gr
import plotly.graph_objects as go
from PIL import Image

from flipkart_ui import batch, charts, views
from flipkart_ui.api_client import ApiClient, ApiError, ImageInput, text_fields
from flipkart_ui.assets import Sample, load_dashboard, load_samples
from flipkart_ui.config import Settings
from flipkart_ui.i18n import t

STATS_WINDOWS_H = (1, 24, 168)


class Frontend:
    """Everything the event handlers need: settings, the backend client and the assets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = ApiClient(settings.api_url, settings.api_timeout_s, settings.api_key)
        self.dashboard = load_dashboard(settings.assets_dir)
        self.samples = load_samples(settings.assets_dir)
        self.samples_by_image = {s.image: s for s in self.samples}
        labels = self.dashboard["label"] if self.dashboard is not None else []
        self.categories = sorted({*labels, *(s.label for s in self.samples)})
        self._dashboard_cache: dict[tuple, tuple[Any, ...]] = {}
        self._dashboard_whole: dict[str, list[go.Figure]] = {}  # per language
        self._dashboard_lock = threading.Lock()

    # ---- Classification ----------------------------------------------------------------

    def _choose_input(
        self, sample: str | None, upload: str | None, url: str | None
    ) -> tuple[ImageInput | None, str | None, Sample | None]:
        """The image to classify (None: none chosen), what to display for it, and the sample
        when it is one."""
        if upload:
            if not is_image_file(upload):
                raise NotAnImageError(upload)
            return ImageInput.from_path(upload), upload, None
        if url and url.strip():
            return ImageInput.from_url(url), None, None
        if sample:
            chosen = self.samples_by_image.get(sample)
            if chosen is None:
                raise KeyError(sample)
            return ImageInput.from_path(chosen.path), str(chosen.path), chosen
        return None, None, None

    def classify(
        self,
        sample: str | None,
        upload: str | dict[str, Any] | None,
        url: str | None,
        lang: str,
        progress: gr.Progress | None = None,
        title: str | None = None,
        description: str | None = None,
        model: str | None = None,
    ) -> tuple[Any, ...]:
        """Outputs: shown image, transformed image, state, then `views.render_prediction`'s.
        `model`: a run_id (None: the production model).

        A photo (sample, upload or URL) and/or the listing's `title` and `description`: text
        alone is classified by the backend's text model. `upload` is a path, or the upload
        component's raw value ({"path": ...}): the events skip Gradio's own image check, whose
        error would stop here with no message."""
        text = text_fields(title, description)
        state: dict[str, Any] = {"response": None, "message": None, "model": model, "text": text}
        preview: Image.Image | None = None
        try:
            image, shown, chosen = self._choose_input(sample, uploaded_path(upload), url)
            if image is None and not text:
                raise LookupError("nothing to classify")
        except (LookupError, ValueError, OSError) as exc:
            state["message"] = input_problem(exc, sample)
            return (None, None, state, *views.render_prediction(state, lang, self.categories))
        if progress is not None:
            progress(0.1, desc=t("sending", lang))
        try:
            state["response"] = self.client.predict(image, model=model, **text)
        except ApiError as exc:
            state["message"] = views.error_message(exc, self.settings, "/v1/predict")
            return (shown, None, state, *views.render_prediction(state, lang, self.categories))
        state["true_label"] = chosen.label if chosen else None
        if image is not None:  # what Explain sends again (a text-only answer has no photo)
            state["source"] = {"url": image.url} if image.url else {"path": shown}
            if progress is not None:
                progress(0.6, desc=t("previewing", lang))
            try:
                preview = decode_preview(self.client.preprocess(image, model=model))
            except ApiError as exc:
                reason = views.render_message(
                    views.error_message(exc, self.settings, "/v1/preprocess"), lang
                )
                state["preview_message"] = ("preview_missing", {"reason": reason.strip("*❌ ")})
        return (shown, preview, state, *views.render_prediction(state, lang, self.categories))

    def explain(
        self, prediction: dict[str, Any] | None, lang: str, progress: gr.Progress | None = None
    ) -> tuple[Any, ...]:
        """Outputs: the overlay (None: none), the explanation's state, its sentence.

        Explains the shown answer's category on the photo that was classified; nothing for a
        text-only answer or before any answer."""
        state: dict[str, Any] = {"response": None, "message": None}
        response = (prediction or {}).get("response")
        source = (prediction or {}).get("source")
        if not response or not source:
            return None, state, ""
        if progress is not None:
            progress(0.1, desc=t("explaining", lang))
        try:
            image = ImageInput.from_source(source)
            answer = self.client.explain(
                image, label=str(response["label"]), model=prediction.get("model")
            )
            overlay = decode_preview(answer.pop("overlay_png"))
        except ApiError as exc:
            state["message"] = views.error_message(exc, self.settings, "/v1/explain")
            return None, state, views.render_explanation(state, lang)
        except (OSError, ValueError) as exc:  # the upload's file is gone, or the URL is bad
            state["message"] = input_problem(exc, None)
            return None, state, views.render_explanation(state, lang)
        state["response"] = answer
        return overlay, state, views.render_explanation(state, lang)

    def sample_text(self, sample: str | None) -> tuple[str, str]:
        """The title and description of a sample's listing ("" for an unknown sample)."""
        chosen = self.samples_by_image.get(sample or "")
        return (chosen.listing_title, chosen.description) if chosen else ("", "")

    def sample_at(self, index: int | None) -> str | None:
        """The image of the sample shown at `index` in the thumbnails (None: out of range)."""
        if index is None or not 0 <= index < len(self.samples):
            return None
        return self.samples[index].image

    def send_feedback(self, state: dict[str, Any], label: str | None, lang: str) -> tuple[Any, ...]:
        response = (state or {}).get("response")
        if response is None:
            message: views.Message = ("feedback_no_prediction", {})
        elif not label:
            message = ("feedback_pick_label", {})
        elif response.get("id") is None:
            message = ("feedback_no_id", {})
        else:
            try:
                self.client.feedback(response["id"], label, response.get("feedback_token"))
                message = ("feedback_thanks", {})
            except ApiError as exc:
                message = views.error_message(exc, self.settings, "/v1/feedback")
        return message, views.render_message(message, lang)

    def confirm_feedback(self, state: dict[str, Any], lang: str) -> tuple[Any, ...]:
        response = (state or {}).get("response") or {}
        return self.send_feedback(state, response.get("label"), lang)

    # ---- Batch ---------------------------------------------------------------------------

    def classify_batch(
        self,
        files: list[str] | None,
        lang: str,
        progress: gr.Progress | None = None,
        model: str | None = None,
    ) -> tuple[Any, ...]:
        """Outputs: the batch's state, then `batch.render`'s (summary, table, CSV file).
        `model`: the run that answers (sent as `model=`); None: the backend's production."""
        state: dict[str, Any] = {"rows": [], "message": None, "requests": 0, "per_request": 0}
        try:
            items = batch.read_files([uploaded_path(f) for f in files or [] if uploaded_path(f)])
        except batch.BatchRefused as exc:
            state["message"] = exc.message
            return (state, *batch.render(state, lang))
        per_request = self.client.batch_limit() or batch.BACKEND_BATCH_IMAGES

        def explain(exc: ApiError) -> views.Message:
            return views.error_message(exc, self.settings, "/v1/predict/batch")

        def on_request(done: int, total: int) -> None:
            if progress is not None:
                progress(done / total, desc=t("batch_sending", lang, done=done + 1, total=total))

        state["requests"] = batch.classify(
            self.client, items, model or None, per_request, explain, on_request
        )
        state.update(rows=[item.row() for item in items], per_request=per_request)
        return (state, *batch.render(state, lang))

    # ---- Models and Monitoring -----------------------------------------------------------

    def model_list(self) -> dict[str, Any]:
        """`GET /v1/models` as a state: {"response": the answer or None, "message"}."""
        state: dict[str, Any] = {"response": None, "message": None}
        try:
            state["response"] = self.client.models()
        except ApiError as exc:
            state["message"] = views.error_message(exc, self.settings, "/v1/models")
        return state

    def fetch_models(self, lang: str) -> tuple[Any, ...]:
        state = self.model_list()
        if state["response"] is None:
            return (state, *views.render_models(state, lang))
        try:  # /v1/models has no promotion date; /v1/stats has it when deployed and public
            promotion = self.client.stats().get("since_promotion") or {}
            if promotion.get("promoted_at") and promotion.get("production") == (
                state["response"].get("production")
            ):
                state["response"]["production_since"] = promotion["promoted_at"]
        except ApiError:
            pass
        return (state, *views.render_models(state, lang))

    def fetch_stats(self, lang: str) -> tuple[Any, ...]:
        state: dict[str, Any] = {"response": None, "message": None}
        try:
            # one call per window: the API gives totals over a window ending now
            state["windows"] = {h: self.client.stats(window_hours=h) for h in STATS_WINDOWS_H}
            state["response"] = state["windows"][24]
            state["fetched_at"] = views.now_utc()
        except ApiError as exc:
            state["message"] = views.error_message(exc, self.settings, "/v1/stats")
        return (state, *views.render_stats(state, lang, self.categories))

    # ---- Dashboard ---------------------------------------------------------------------

    def dashboard_view(self, categories: list[str] | None, lang: str) -> tuple[Any, ...]:
        summary, figures, gallery = self.dashboard_parts(categories, lang)
        return (summary, *figures, gallery)

    def dashboard_parts(self, categories: list[str] | None, lang: str) -> tuple[Any, ...]:
        """The dataset never changes while the app runs: each selection is drawn once, cut from
        the whole dataset's charts, themselves built once per language."""
        key = (None if categories is None else tuple(sorted(categories)), lang)
        with self._dashboard_lock:
            cached = self._dashboard_cache.get(key)
            whole = self._dashboard_whole.get(lang)
        if cached is None:
            if whole is None and self.dashboard is not None:
                labels = sorted(self.dashboard["label"].unique())
                whole = charts.dataset_figures(self.dashboard, lang, labels)
            cached = views.render_dashboard(
                self.dashboard, self.samples, categories, lang, self.settings, whole
            )
            with self._dashboard_lock:
                if len(self._dashboard_cache) >= 256:
                    self._dashboard_cache.clear()
                self._dashboard_cache[key] = cached
                if whole is not None:
                    self._dashboard_whole[lang] = whole
        return cached


class NotAnImageError(ValueError):
    """An uploaded file that is not an image (checked here before it is sent)."""


def input_problem(exc: Exception, sample: str | None) -> views.Message:
    """What to tell a user whose input cannot be sent (`Frontend._choose_input`'s errors)."""
    if isinstance(exc, KeyError):
        return ("err_unknown_sample", {"name": str(sample)})
    if isinstance(exc, LookupError):
        return ("no_image", {})
    if isinstance(exc, NotAnImageError):
        return ("err_not_an_image", {})
    if isinstance(exc, OSError):
        return ("err_file", {"reason": exc.strerror or type(exc).__name__})
    return ("err_bad_url", {})


def uploaded_path(value: str | dict[str, Any] | None) -> str | None:
    """The file path of an upload component's value, raw ({"path": ...}) or preprocessed."""
    if isinstance(value, dict):
        return value.get("path") or None
    return value or None


def is_image_file(path: str) -> bool:
    """Whether Pillow recognises the file as an image (header and structure, not decoding)."""
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False
    except Exception:  # Pillow's plugins raise many kinds on garbage; none is worth a crash
        return False
    return True


def decode_preview(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ApiError("bad_response", "the preview is not a readable image") from exc
