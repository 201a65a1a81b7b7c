"""The Gradio Blocks app: four tabs wired to the backend client and the views."""

import io
import threading
from typing import Any

import gradio as gr
from PIL import Image

from flipkart_ui import views
from flipkart_ui.api_client import ApiClient, ApiError, ImageInput
from flipkart_ui.assets import Sample, load_dashboard, load_samples
from flipkart_ui.config import Settings
from flipkart_ui.i18n import t

STATS_WINDOWS_H = (1, 24, 168)
LANGUAGE_CHOICES = [("English", "en"), ("Français", "fr")]
THEME = gr.themes.Soft(
    # System fonts only: the app must not reach out to a font CDN (offline tests, privacy).
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)


class Frontend:
    """Everything the event handlers need: settings, the backend client and the assets."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = ApiClient(settings.api_url, settings.api_timeout_s)
        self.dashboard = load_dashboard(settings.assets_dir)
        self.samples = load_samples(settings.assets_dir)
        self.samples_by_image = {s.image: s for s in self.samples}
        labels = self.dashboard["label"] if self.dashboard is not None else []
        self.categories = sorted({*labels, *(s.label for s in self.samples)})
        self._dashboard_cache: dict[tuple, tuple[Any, ...]] = {}
        self._dashboard_lock = threading.Lock()

    # ---- Classification ----------------------------------------------------------------

    def _choose_input(
        self, sample: str | None, upload: str | None, url: str | None
    ) -> tuple[ImageInput, str | None, Sample | None]:
        """The image to classify, what to display for it, and the sample when it is one."""
        if upload:
            return ImageInput.from_path(upload), upload, None
        if url and url.strip():
            return ImageInput.from_url(url), None, None
        if sample:
            chosen = self.samples_by_image.get(sample)
            if chosen is None:
                raise KeyError(sample)
            return ImageInput.from_path(chosen.path), str(chosen.path), chosen
        raise LookupError("nothing to classify")

    def classify(
        self,
        sample: str | None,
        upload: str | None,
        url: str | None,
        lang: str,
        progress: gr.Progress | None = None,
    ) -> tuple[Any, ...]:
        """Outputs: shown image, transformed image, state, status, label, chart, details."""
        state: dict[str, Any] = {"response": None, "message": None}
        shown: str | None = None
        preview: Image.Image | None = None
        try:
            image, shown, chosen = self._choose_input(sample, upload, url)
        except LookupError as exc:
            key = "err_unknown_sample" if isinstance(exc, KeyError) else "no_image"
            state["message"] = (key, {"name": str(sample)})
            return (None, None, state, *views.render_prediction(state, lang, self.categories))
        except ValueError:
            state["message"] = ("err_bad_url", {})
            return (None, None, state, *views.render_prediction(state, lang, self.categories))
        except OSError as exc:
            state["message"] = ("err_file", {"reason": exc.strerror or type(exc).__name__})
            return (None, None, state, *views.render_prediction(state, lang, self.categories))
        if progress is not None:
            progress(0.1, desc=t("sending", lang))
        try:
            state["response"] = self.client.predict(image)
        except ApiError as exc:
            state["message"] = views.error_message(exc, self.settings, "/v1/predict")
            return (shown, None, state, *views.render_prediction(state, lang, self.categories))
        state["true_label"] = chosen.label if chosen else None
        if progress is not None:
            progress(0.6, desc=t("previewing", lang))
        try:
            preview = decode_preview(self.client.preprocess(image))
        except ApiError as exc:
            reason = views.render_message(
                views.error_message(exc, self.settings, "/v1/preprocess"), lang
            )
            state["preview_message"] = ("preview_missing", {"reason": reason.strip("*❌ ")})
        return (shown, preview, state, *views.render_prediction(state, lang, self.categories))

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
                self.client.feedback(response["id"], label)
                message = ("feedback_thanks", {})
            except ApiError as exc:
                message = views.error_message(exc, self.settings, "/v1/feedback")
        return message, views.render_message(message, lang)

    def confirm_feedback(self, state: dict[str, Any], lang: str) -> tuple[Any, ...]:
        response = (state or {}).get("response") or {}
        return self.send_feedback(state, response.get("label"), lang)

    # ---- Models and Monitoring -----------------------------------------------------------

    def fetch_models(self, lang: str) -> tuple[Any, ...]:
        state: dict[str, Any] = {"response": None, "message": None}
        try:
            state["response"] = self.client.models()
        except ApiError as exc:
            state["message"] = views.error_message(exc, self.settings, "/v1/models")
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
        """The dataset never changes while the app runs: each selection is drawn once."""
        key = (None if categories is None else tuple(sorted(categories)), lang)
        with self._dashboard_lock:
            cached = self._dashboard_cache.get(key)
        if cached is None:
            cached = views.render_dashboard(
                self.dashboard, self.samples, categories, lang, self.settings
            )
            with self._dashboard_lock:
                if len(self._dashboard_cache) >= 256:
                    self._dashboard_cache.clear()
                self._dashboard_cache[key] = cached
        return cached


def decode_preview(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ApiError("bad_response", "the preview is not a readable image") from exc


def build_app(settings: Settings) -> gr.Blocks:
    ui = Frontend(settings)
    lang0 = settings.language

    def sample_choices() -> list[tuple[str, str]]:
        return [(s.title, s.image) for s in ui.samples]

    with gr.Blocks(title="Flipkart", analytics_enabled=False) as demo:
        with gr.Row():
            with gr.Column(scale=5):
                title = gr.Markdown(t("title", lang0))
                subtitle = gr.Markdown(t("subtitle", lang0, api_url=settings.api_url))
            with gr.Column(scale=1, min_width=180):
                lang = gr.Radio(
                    LANGUAGE_CHOICES, value=lang0, label=t("language", lang0), elem_id="language"
                )

        with gr.Tabs():
            with gr.Tab(t("tab_classify", lang0), id="classify") as tab_classify:
                prediction_state = gr.State({"response": None, "message": None})
                with gr.Row():
                    with gr.Column(scale=1):
                        sample = gr.Dropdown(
                            sample_choices(),
                            value=None,
                            label=t("sample", lang0),
                            elem_id="sample",
                        )
                        upload = gr.Image(
                            type="filepath",
                            sources=["upload", "clipboard"],
                            label=t("upload", lang0),
                            elem_id="upload",
                            height=220,
                        )
                        url = gr.Textbox(
                            label=t("url", lang0), placeholder="https://…", elem_id="url"
                        )
                        classify_button = gr.Button(
                            t("classify", lang0), variant="primary", elem_id="classify"
                        )
                        with gr.Row():
                            shown_image = gr.Image(
                                label=t("image", lang0), interactive=False, height=220
                            )
                            transformed = gr.Image(
                                label=t("transformed", lang0),
                                interactive=False,
                                height=220,
                                elem_id="transformed",
                            )
                    with gr.Column(scale=1):
                        status = gr.Markdown(elem_id="classify-status")
                        label = gr.Label(
                            num_top_classes=3, label=t("prediction", lang0), elem_id="prediction"
                        )
                        details = gr.Markdown(elem_id="prediction-details")
                        probabilities = gr.Plot(elem_id="probabilities", show_label=False)
                        feedback_title = gr.Markdown(f"**{t('feedback_title', lang0)}**")
                        with gr.Row():
                            correct = gr.Button(t("feedback_correct", lang0), size="sm")
                            right_label = gr.Dropdown(
                                ui.categories, label=t("feedback_label", lang0), value=None
                            )
                            send_correction = gr.Button(t("feedback_send", lang0), size="sm")
                        feedback_state = gr.State(None)
                        feedback_status = gr.Markdown(elem_id="feedback-status")

            with gr.Tab(t("tab_dashboard", lang0), id="dashboard") as tab_dashboard:
                dashboard_summary = gr.Markdown(elem_id="dashboard-summary")
                category_filter = gr.CheckboxGroup(
                    ui.categories,
                    value=ui.categories,
                    label=t("category_filter", lang0),
                    elem_id="category-filter",
                )
                with gr.Row():
                    counts_plot = gr.Plot(elem_id="chart-counts", show_label=False)
                    resolution_plot = gr.Plot(elem_id="chart-resolution", show_label=False)
                with gr.Row():
                    aspect_plot = gr.Plot(elem_id="chart-aspect", show_label=False)
                    size_plot = gr.Plot(elem_id="chart-size", show_label=False)
                price_plot = gr.Plot(elem_id="chart-price", show_label=False)
                gallery = gr.Gallery(
                    label=t("gallery", lang0), columns=7, height="auto", elem_id="gallery"
                )

            with gr.Tab(t("tab_models", lang0), id="models") as tab_models:
                models_state = gr.State({"response": None, "message": None})
                refresh_models = gr.Button(t("refresh", lang0), size="sm")
                models_status = gr.Markdown(elem_id="models-status")
                production = gr.Markdown(elem_id="production")
                board = gr.Dataframe(label=t("leaderboard", lang0), interactive=False, wrap=True)
                with gr.Row():
                    acc_latency_plot = gr.Plot(show_label=False)
                    f1_plot = gr.Plot(show_label=False)
                confusion_plot = gr.Plot(show_label=False)

            with gr.Tab(t("tab_monitoring", lang0), id="monitoring") as tab_monitoring:
                stats_state = gr.State({"response": None, "message": None})
                monitoring_intro = gr.Markdown(
                    t("monitoring_intro", lang0, seconds=f"{settings.monitoring_refresh_s:g}")
                )
                refresh_stats = gr.Button(t("refresh", lang0), size="sm")
                stats_status = gr.Markdown(elem_id="stats-status")
                kpis = gr.Markdown(elem_id="kpis")
                with gr.Row():
                    timeline_plot = gr.Plot(show_label=False)
                    latency_plot = gr.Plot(show_label=False)
                quality_plot = gr.Plot(show_label=False)
                timer = gr.Timer(settings.monitoring_refresh_s)

        # ---- events ----
        prediction_outputs = [
            shown_image,
            transformed,
            prediction_state,
            status,
            label,
            probabilities,
            details,
        ]
        classify_kwargs = {
            "outputs": prediction_outputs,
            "concurrency_limit": settings.concurrency,
            "concurrency_id": "backend",
        }

        def classify(sample_value, upload_value, url_value, lang_value, progress=gr.Progress()):  # noqa: B008
            return ui.classify(sample_value, upload_value, url_value, lang_value, progress)

        # Choosing one source clears the other two, so that "Classify" reruns what is shown.
        def classify_sample(sample_value, lang_value, progress=gr.Progress()):  # noqa: B008
            return (None, "", *ui.classify(sample_value, None, None, lang_value, progress))

        def classify_upload(upload_value, lang_value, progress=gr.Progress()):  # noqa: B008
            return (None, "", *ui.classify(None, upload_value, None, lang_value, progress))

        def classify_url(url_value, lang_value, progress=gr.Progress()):  # noqa: B008
            return (None, None, *ui.classify(None, None, url_value, lang_value, progress))

        clear = {"concurrency_limit": settings.concurrency, "concurrency_id": "backend"}
        sample.input(classify_sample, [sample, lang], [upload, url, *prediction_outputs], **clear)
        upload.upload(classify_upload, [upload, lang], [sample, url, *prediction_outputs], **clear)
        url.submit(classify_url, [url, lang], [sample, upload, *prediction_outputs], **clear)
        classify_button.click(classify, [sample, upload, url, lang], **classify_kwargs)

        # A new prediction (or failure) makes the previous feedback message stale.
        prediction_state.change(lambda: (None, ""), None, [feedback_state, feedback_status])

        correct.click(
            ui.confirm_feedback,
            [prediction_state, lang],
            [feedback_state, feedback_status],
            concurrency_id="backend",
        )
        send_correction.click(
            ui.send_feedback,
            [prediction_state, right_label, lang],
            [feedback_state, feedback_status],
            concurrency_id="backend",
        )

        dashboard_outputs = [
            dashboard_summary,
            counts_plot,
            resolution_plot,
            aspect_plot,
            size_plot,
            price_plot,
            gallery,
        ]
        category_filter.change(ui.dashboard_view, [category_filter, lang], dashboard_outputs)

        models_outputs = [
            models_state,
            models_status,
            production,
            board,
            acc_latency_plot,
            f1_plot,
            confusion_plot,
        ]
        stats_outputs = [stats_state, stats_status, kpis, timeline_plot, latency_plot, quality_plot]
        backend_kwargs = {"concurrency_limit": settings.concurrency, "concurrency_id": "backend"}
        refresh_models.click(ui.fetch_models, [lang], models_outputs, **backend_kwargs)
        refresh_stats.click(ui.fetch_stats, [lang], stats_outputs, **backend_kwargs)
        timer.tick(ui.fetch_stats, [lang], stats_outputs, show_progress="hidden", **backend_kwargs)

        demo.load(ui.dashboard_view, [category_filter, lang], dashboard_outputs)
        demo.load(ui.fetch_models, [lang], models_outputs, **backend_kwargs)
        demo.load(ui.fetch_stats, [lang], stats_outputs, **backend_kwargs)

        # ---- language: re-label every component and re-render from the stored answers ----
        def relabel(lang_value, categories, prediction, feedback, models, stats):
            def tr(key: str, **values: Any) -> str:
                return t(key, lang_value, **values)

            summary, figures, _ = ui.dashboard_parts(categories, lang_value)
            pred_status, pred_label, pred_chart, pred_details = views.render_prediction(
                prediction, lang_value, ui.categories
            )
            models_view = views.render_models(models, lang_value)
            seconds = f"{settings.monitoring_refresh_s:g}"
            return (
                tr("title"),
                tr("subtitle", api_url=settings.api_url),
                gr.update(label=tr("language")),
                gr.update(label=tr("tab_classify")),
                gr.update(label=tr("tab_dashboard")),
                gr.update(label=tr("tab_models")),
                gr.update(label=tr("tab_monitoring")),
                gr.update(label=tr("sample")),
                gr.update(label=tr("upload")),
                gr.update(label=tr("url")),
                gr.update(value=tr("classify")),
                gr.update(label=tr("image")),
                gr.update(label=tr("transformed")),
                pred_status,
                gr.update(value=pred_label, label=tr("prediction")),
                pred_chart,
                pred_details,
                f"**{tr('feedback_title')}**",
                gr.update(value=tr("feedback_correct")),
                gr.update(label=tr("feedback_label")),
                gr.update(value=tr("feedback_send")),
                views.render_message(feedback, lang_value),
                summary,
                gr.update(label=tr("category_filter")),
                *figures,
                gr.update(label=tr("gallery")),
                gr.update(value=tr("refresh")),
                models_view[0],
                models_view[1],
                gr.update(value=models_view[2], label=tr("leaderboard")),
                *models_view[3:],
                tr("monitoring_intro", seconds=seconds),
                gr.update(value=tr("refresh")),
                *views.render_stats(stats, lang_value, ui.categories),
            )

        lang.change(
            relabel,
            [lang, category_filter, prediction_state, feedback_state, models_state, stats_state],
            [
                title,
                subtitle,
                lang,
                tab_classify,
                tab_dashboard,
                tab_models,
                tab_monitoring,
                sample,
                upload,
                url,
                classify_button,
                shown_image,
                transformed,
                status,
                label,
                probabilities,
                details,
                feedback_title,
                correct,
                right_label,
                send_correction,
                feedback_status,
                dashboard_summary,
                category_filter,
                counts_plot,
                resolution_plot,
                aspect_plot,
                size_plot,
                price_plot,
                gallery,
                refresh_models,
                *models_outputs[1:],
                monitoring_intro,
                refresh_stats,
                *stats_outputs[1:],
            ],
        )
    return demo


def launch(settings: Settings, **kwargs: Any) -> gr.Blocks:
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=settings.concurrency)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        allowed_paths=[str(settings.assets_dir)],
        theme=THEME,
        footer_links=[],
        ssr_mode=False,
        **kwargs,
    )
    return demo
