"""The app's layout: the header and one builder per tab.

Each builder lays its components out inside the current `gr.Blocks`, wires their events to the
handlers, and returns the tab as a dataclass of its components. `relabel(lang, values)` gives
every text of the tab in another language as named updates ({component: new value or
gr.update}), re-rendered from the answers stored in the tab's states, so switching language
calls no backend. Gradio's own `gr.I18n` is not used: it follows the browser's locale, not a
selector, and translates fixed strings only, while most of what the tabs show is rendered.
"""

from dataclasses import dataclass, fields
from typing import Any, TypeVar

import gradio as gr
from gradio.blocks import Block

from flipkart_ui import batch, comparison, insights, views
from flipkart_ui.config import Settings
from flipkart_ui.handlers import Frontend
from flipkart_ui.i18n import category, decimal, t

# run, framework, training, accuracy, macro-F1, latency, measured on, parameters, production
LEADERBOARD_WIDTHS = ["19%", "9%", "9%", "9%", "8%", "10%", "16%", "10%", "10%"]
LANGUAGE_CHOICES = [("English", "en"), ("Français", "fr")]
EMPTY_ANSWER = {"response": None, "message": None}
# A handler's `progress=PROGRESS` default marks it as tracking progress: Gradio passes each
# call its own tracker in its place.
PROGRESS = gr.Progress()
# After a classification: scroll to the result when its top is out of sight and it is stacked
# below the form (a phone); on a desktop it is beside the form, and nothing moves whatever the
# page's scroll (the layout decides, not where the page happens to stand).
SCROLL_TO_RESULT = """() => {
  const result = document.querySelector("#result");
  if (!result) return;
  const top = result.getBoundingClientRect().top;
  const button = document.querySelector("#classify");
  const stacked = !button || top >= button.getBoundingClientRect().bottom - 1;
  if (stacked && (top < 0 || top > window.innerHeight * 0.5)) {
    result.scrollIntoView({block: "start"});
  }
}"""

Updates = dict[Block, Any]
Values = dict[Block, Any]  # the value of each component of `relabel_inputs()`
P = TypeVar("P", bound="Part")


@dataclass
class Part:
    """The header or a tab, as the assembler sees it: a dataclass of its components."""

    def blocks(self) -> list[Block]:
        """Every component `relabel` may update (the states and timers excluded)."""
        found = []
        for f in fields(self):
            value = getattr(self, f.name)
            found += value if isinstance(value, list) else [value]
        skipped = gr.State | gr.Timer | gr.Column  # no text; a column's visibility is its own
        return [b for b in found if isinstance(b, Block) and not isinstance(b, skipped)]

    def relabel_inputs(self) -> list[Block]:
        """The components whose values `relabel` reads."""
        return []

    def relabel(self, lang: str, values: Values) -> Updates:
        raise NotImplementedError


def _from_locals(cls: type[P], scope: dict[str, Any]) -> P:
    """The part `cls` from the builder's local variables named like its fields."""
    return cls(**{f.name: scope[f.name] for f in fields(cls)})


def _backend_call(settings: Settings) -> dict[str, Any]:
    """Calls to the backend share one queue: at most `settings.concurrency` at once."""
    return {"concurrency_limit": settings.concurrency, "concurrency_id": "backend"}


def category_choices(labels: list[str], lang: str) -> list[tuple[str, str]]:
    """(shown name, class name) pairs: the value stays the dataset's class name."""
    return [(category(label, lang), label) for label in labels]


# ---- header ------------------------------------------------------------------------------


@dataclass
class Header(Part):
    settings: Settings
    title: gr.Markdown
    subtitle: gr.Markdown
    lang: gr.Radio

    def relabel(self, lang: str, values: Values) -> Updates:
        return {
            self.title: t("title", lang),
            self.subtitle: t("subtitle", lang),
            self.lang: gr.update(label=t("language", lang)),
        }


def build_header(settings: Settings) -> Header:
    lang0 = settings.language
    with gr.Row():
        with gr.Column(scale=5):
            title = gr.Markdown(t("title", lang0))
            subtitle = gr.Markdown(t("subtitle", lang0))
        with gr.Column(scale=1, min_width=180):
            lang = gr.Radio(
                LANGUAGE_CHOICES, value=lang0, label=t("language", lang0), elem_id="language"
            )
    return _from_locals(Header, locals())


# ---- Classification ----------------------------------------------------------------------


@dataclass
class ClassificationTab(Part):
    ui: Frontend
    tab: gr.Tab
    prediction_state: gr.State
    models_state: gr.State
    model: gr.Dropdown
    compare_model: gr.Dropdown
    models_note: gr.Markdown
    compare_state: gr.State
    model_comparison: gr.Markdown
    sample: gr.Dropdown
    sample_gallery: gr.Gallery
    upload: gr.UploadButton
    url: gr.Textbox
    title: gr.Textbox
    description: gr.Textbox
    classify_button: gr.Button
    clear_button: gr.Button
    shown_image: gr.Image
    transformed: gr.Image
    explain_box: gr.Column
    explain_button: gr.Button
    explain_hint: gr.Markdown
    explanation: gr.Image
    explain_status: gr.Markdown
    explain_state: gr.State
    status: gr.Markdown
    label: gr.Markdown
    details: gr.Markdown
    comparison: gr.Markdown
    probabilities: gr.Plot
    feedback_box: gr.Column
    feedback_title: gr.Markdown
    correct: gr.Button
    right_label: gr.Dropdown
    send_correction: gr.Button
    feedback_state: gr.State
    feedback_status: gr.Markdown

    def relabel_inputs(self) -> list[Block]:
        return [
            self.prediction_state,
            self.feedback_state,
            self.explain_state,
            self.models_state,
            self.model,
            self.compare_model,
            self.compare_state,
        ]

    def relabel(self, lang: str, values: Values) -> Updates:
        status, label, chart, details, by_input = views.render_prediction(
            values[self.prediction_state], lang, self.ui.categories
        )
        models = values[self.models_state]
        pickers = comparison.pickers(models, values[self.model], values[self.compare_model], lang)
        return {
            self.tab: gr.update(label=t("tab_classify", lang)),
            **dict(zip([self.model, self.compare_model, self.models_note], pickers, strict=True)),
            self.model_comparison: comparison.render(values[self.compare_state], models, lang),
            self.sample: gr.update(label=t("sample", lang)),
            self.sample_gallery: gr.update(label=t("sample_gallery", lang)),
            self.upload: gr.update(label=t("upload", lang)),
            self.url: gr.update(label=t("url", lang)),
            self.title: gr.update(label=t("title_field", lang), info=t("title_info", lang)),
            self.description: gr.update(label=t("description_field", lang)),
            self.classify_button: gr.update(value=t("classify", lang)),
            self.clear_button: gr.update(value=t("clear", lang)),
            self.shown_image: gr.update(label=t("image", lang)),
            self.transformed: gr.update(label=t("transformed", lang)),
            self.explain_button: gr.update(value=t("explain", lang)),
            self.explain_hint: t("explain_hint", lang),
            self.explanation: gr.update(label=t("explanation", lang)),
            self.explain_status: views.render_explanation(values[self.explain_state], lang),
            self.status: status,
            self.label: label,
            self.probabilities: chart,
            self.details: details,
            self.comparison: by_input,
            self.feedback_title: f"**{t('feedback_title', lang)}**",
            self.correct: gr.update(value=t("feedback_correct", lang)),
            self.right_label: gr.update(
                label=t("feedback_label", lang), choices=category_choices(self.ui.categories, lang)
            ),
            self.send_correction: gr.update(value=t("feedback_send", lang)),
            self.feedback_status: views.render_message(values[self.feedback_state], lang),
        }

    def prediction_outputs(self) -> list[Block]:
        """What `Frontend.classify` returns, in its order."""
        return [
            self.shown_image,
            self.transformed,
            self.prediction_state,
            self.status,
            self.label,
            self.probabilities,
            self.details,
            self.comparison,
        ]


def build_classification_tab(ui: Frontend, lang: gr.Radio, demo: gr.Blocks) -> ClassificationTab:
    lang0 = ui.settings.language
    with gr.Tab(t("tab_classify", lang0), id="classify") as tab:
        prediction_state = gr.State(dict(EMPTY_ANSWER))
        models_state = gr.State(dict(EMPTY_ANSWER))
        compare_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                # filled from GET /v1/models once the page opens (demo.load); one above the
                # other, each name whole (side by side, the run's date was cut off)
                model = gr.Dropdown([], label=t("model", lang0), elem_id="model")
                compare_model = gr.Dropdown(
                    [], label=t("compare_with", lang0), elem_id="compare-model"
                )
                models_note = gr.Markdown(elem_id="models-note")
                sample = gr.Dropdown(
                    [(s.title, s.image) for s in ui.samples],
                    value=None,
                    label=t("sample", lang0),
                    elem_id="sample",
                )
                # the same samples as thumbnails: a click classifies it as the dropdown does
                sample_gallery = gr.Gallery(
                    [(str(s.path), s.title) for s in ui.samples],
                    label=t("sample_gallery", lang0),
                    columns=7,
                    height=190,  # two rows of the 14 samples, no blank space below
                    object_fit="cover",
                    buttons=[],
                    allow_preview=False,
                    interactive=False,
                    elem_id="sample-gallery",
                )
                # A button, not gr.Image: gr.Image refuses a non-image in the browser with an
                # English toast before any handler runs; this one passes every file to
                # classify(), which checks it and says why in the page's language.
                upload = gr.UploadButton(
                    t("upload", lang0), type="filepath", file_types=None, elem_id="upload"
                )
                url = gr.Textbox(label=t("url", lang0), placeholder="https://…", elem_id="url")
                title = gr.Textbox(
                    label=t("title_field", lang0), info=t("title_info", lang0), elem_id="title"
                )
                description = gr.Textbox(
                    label=t("description_field", lang0),
                    lines=3,
                    max_lines=8,
                    elem_id="description",
                )
                with gr.Row(equal_height=True):
                    classify_button = gr.Button(
                        t("classify", lang0), variant="primary", elem_id="classify", scale=3
                    )
                    clear_button = gr.Button(t("clear", lang0), elem_id="clear", scale=1)
                with gr.Row():
                    shown_image = gr.Image(label=t("image", lang0), interactive=False, height=220)
                    transformed = gr.Image(
                        label=t("transformed", lang0),
                        interactive=False,
                        height=220,
                        elem_id="transformed",
                    )
                # shown once a photo is classified (not for text alone)
                with gr.Column(visible=False, elem_id="explain-box") as explain_box:
                    explain_button = gr.Button(t("explain", lang0), elem_id="explain")
                    explain_hint = gr.Markdown(t("explain_hint", lang0), elem_id="explain-hint")
                    explanation = gr.Image(
                        label=t("explanation", lang0),
                        interactive=False,
                        height=260,
                        format="png",  # lossless: the patches' edges and colours stay exact
                        visible=False,
                        elem_id="explanation",
                    )
                    explain_status = gr.Markdown(elem_id="explain-status")
                explain_state = gr.State(None)
            with gr.Column(scale=1, elem_id="result"):
                status = gr.Markdown(elem_id="classify-status")
                label = gr.Markdown(elem_id="prediction")
                details = gr.Markdown(elem_id="prediction-details")
                model_comparison = gr.Markdown(elem_id="model-comparison")
                comparison = gr.Markdown(elem_id="by-input")
                probabilities = gr.Plot(elem_id="probabilities", show_label=False)
                # shown once there is a prediction to judge
                with gr.Column(visible=False, elem_id="feedback") as feedback_box:
                    feedback_title = gr.Markdown(f"**{t('feedback_title', lang0)}**")
                    with gr.Row(equal_height=True, elem_classes="feedback-row"):
                        correct = gr.Button(t("feedback_correct", lang0), scale=1)
                        right_label = gr.Dropdown(
                            category_choices(ui.categories, lang0),
                            label=t("feedback_label", lang0),
                            value=None,
                            scale=2,
                        )
                        send_correction = gr.Button(t("feedback_send", lang0), scale=1)
                    feedback_status = gr.Markdown(elem_id="feedback-status")
                feedback_state = gr.State(None)
    part = _from_locals(ClassificationTab, locals())
    _wire_classification(part, lang)
    _wire_models_choice(part, lang, demo)
    return part


def _wire_classification(part: ClassificationTab, lang: gr.Radio) -> None:
    ui, backend = part.ui, _backend_call(part.ui.settings)
    outputs = part.prediction_outputs()

    def classify(
        sample_value,
        upload_value,
        url_value,
        title_value,
        description_value,
        lang_value,
        model_value,
        progress=PROGRESS,
    ):
        return ui.classify(
            sample_value,
            upload_value,
            url_value,
            lang_value,
            progress,
            title_value,
            description_value,
            model=model_value,
        )

    # Choosing one image source clears the other two, so that "Classify" reruns what is shown.
    # A sample brings its listing's title and description; another source drops them.
    def classify_sample(sample_value, lang_value, model_value, progress=PROGRESS):
        title, description = ui.sample_text(sample_value)
        result = ui.classify(
            sample_value, None, None, lang_value, progress, title, description, model=model_value
        )
        return (None, "", title, description, *result)

    # A thumbnail is the dropdown's sample: it shows there, and is classified the same way.
    def classify_thumbnail(lang_value, model_value, evt: gr.SelectData, progress=PROGRESS):
        chosen = ui.sample_at(evt.index)
        if chosen is None:
            return (gr.update(),) * (5 + len(outputs))
        return (chosen, *classify_sample(chosen, lang_value, model_value, progress))

    # An upload or a URL keeps the typed title and description, unless they are a sample's.
    def classify_typed(upload: bool):
        """The handler of the upload (upload=True) or of the URL field."""

        def handler(
            value,
            sample_value,
            title_value,
            description_value,
            lang_value,
            model_value,
            progress=PROGRESS,
        ):
            source = (value, None) if upload else (None, value)
            text = ("", "") if sample_value else (title_value, description_value)
            result = ui.classify(None, *source, lang_value, progress, *text, model=model_value)
            if not upload:
                return (None, None, *text, *result)  # sample, upload
            refused = (result[2].get("message") or ("",))[0] == "err_not_an_image"
            removed = None if refused else gr.update()  # a refused file is removed
            return (removed, None, "", *text, *result)  # upload, sample, URL

        return handler

    def clear(lang_value):
        inputs = (None, None, "", "", "")  # sample, upload, URL, title, description
        empty = dict(EMPTY_ANSWER)
        return (*inputs, None, None, empty, *views.render_prediction(empty, lang_value))

    sample, upload, url, model = part.sample, part.upload, part.url, part.model
    text = [part.title, part.description]
    # No Gradio image check on the way in (it fails before the handler, leaving red "Error"
    # badges and no message): the upload's raw value goes to classify(), which checks the file.
    raw = {"preprocess": False}
    events = [
        sample.input(
            classify_sample, [sample, lang, model], [upload, url, *text, *outputs], **backend
        ),
        part.sample_gallery.select(
            classify_thumbnail, [lang, model], [sample, upload, url, *text, *outputs], **backend
        ),
        upload.upload(
            classify_typed(upload=True),
            [upload, sample, *text, lang, model],
            [upload, sample, url, *text, *outputs],
            **backend,
            **raw,
        ),
        url.submit(
            classify_typed(upload=False),
            [url, sample, *text, lang, model],
            [sample, upload, *text, *outputs],
            **backend,
        ),
    ]
    inputs = [sample, upload, url, *text, lang, model]
    events.append(part.classify_button.click(classify, inputs, outputs, **backend, **raw))
    events.append(part.title.submit(classify, inputs, outputs, **backend, **raw))
    compared = _wire_comparison(part, lang)
    for event in events:  # on a phone the result is below the form: bring it into view
        event.then(None, js=SCROLL_TO_RESULT)
        event.then(**compared)  # the second model's answer, when one is chosen
    cleared = part.clear_button.click(clear, [lang], [sample, upload, url, *text, *outputs])
    cleared.then(**compared)

    # A new prediction (or failure) makes the previous feedback message stale; the feedback
    # controls show only while there is a prediction to judge.
    feedback = [part.feedback_state, part.feedback_status, part.feedback_box, part.right_label]

    def reset_feedback(state):
        return None, "", gr.update(visible=bool((state or {}).get("response"))), None

    part.prediction_state.change(reset_feedback, [part.prediction_state], feedback)

    # A new answer makes the last explanation stale; Explain shows only for a classified photo.
    explained = [part.explanation, part.explain_state, part.explain_status]

    def reset_explanation(state):
        photo = bool((state or {}).get("response") and (state or {}).get("source"))
        return gr.update(visible=photo), gr.update(value=None, visible=False), None, ""

    part.prediction_state.change(
        reset_explanation, [part.prediction_state], [part.explain_box, *explained]
    )

    def explain(state, lang_value, progress=PROGRESS):
        overlay, explain_state, sentence = ui.explain(state, lang_value, progress)
        return gr.update(value=overlay, visible=overlay is not None), explain_state, sentence

    part.explain_button.click(explain, [part.prediction_state, lang], explained, **backend)
    sent = [part.feedback_state, part.feedback_status]
    part.correct.click(
        ui.confirm_feedback, [part.prediction_state, lang], sent, concurrency_id="backend"
    )
    part.send_correction.click(
        ui.send_feedback,
        [part.prediction_state, part.right_label, lang],
        sent,
        concurrency_id="backend",
    )


def _wire_comparison(part: ClassificationTab, lang: gr.Radio) -> dict[str, Any]:
    """The event that asks the "compare with" model (after each classification, and when that
    model is chosen); returns its arguments for `.then(**...)` after the classifications."""
    ui = part.ui

    def compare(prediction, other, models, lang_value, progress=PROGRESS):
        if (prediction or {}).get("response") and other:
            progress(0.5, desc=t("sending", lang_value))
        state = comparison.compare(ui.client, ui.settings, prediction, other)
        return state, comparison.render(state, models, lang_value)

    event = {
        "fn": compare,
        "inputs": [part.prediction_state, part.compare_model, part.models_state, lang],
        "outputs": [part.compare_state, part.model_comparison],
        **_backend_call(ui.settings),
    }
    part.compare_model.input(**event)
    return event


def _wire_models_choice(part: ClassificationTab, lang: gr.Radio, demo: gr.Blocks) -> None:
    """The model dropdowns, filled from GET /v1/models when the page opens; choosing the first
    model takes it out of the second's choices."""
    pickers = [part.model, part.compare_model, part.models_note]

    def load(lang_value):
        state = part.ui.model_list()
        return (state, *comparison.pickers(state, None, None, lang_value))

    demo.load(load, [lang], [part.models_state, *pickers], **_backend_call(part.ui.settings))
    part.model.input(
        comparison.pickers, [part.models_state, part.model, part.compare_model, lang], pickers
    )


# ---- Batch ---------------------------------------------------------------------------------


@dataclass
class BatchTab(Part):
    ui: Frontend
    tab: gr.Tab
    intro: gr.Markdown
    models_state: gr.State  # the Classification tab's: GET /v1/models, read when the page opens
    model: gr.Dropdown
    files: gr.File
    run: gr.Button
    summary: gr.Markdown
    table: gr.Dataframe
    download: gr.DownloadButton
    state: gr.State

    def relabel_inputs(self) -> list[Block]:
        return [self.state, self.models_state, self.model]

    def relabel(self, lang: str, values: Values) -> Updates:
        summary, table, download = batch.render(values[self.state], lang)
        return {
            self.tab: gr.update(label=t("tab_batch", lang)),
            self.intro: batch_intro(lang),
            self.model: batch_model_picker(values[self.models_state], values[self.model], lang),
            self.files: gr.update(label=t("batch_files", lang)),
            self.run: gr.update(value=t("batch_run", lang)),
            self.summary: summary,
            self.table: table,
            self.download: download,
        }


def batch_intro(lang: str) -> str:
    limits = batch.LIMITS
    return t(
        "batch_intro",
        lang,
        photos=limits.photos,
        photo_mb=limits.photo_bytes // batch.MIB,
        megapixels=limits.pixels // 1_000_000,
        total_mb=limits.total_bytes // batch.MIB,
        entries=decimal(limits.zip_entries, lang, 0),
    )


def batch_model_picker(models_state: dict[str, Any] | None, model: str | None, lang: str) -> Any:
    """The Batch tab's model dropdown: the Classification tab's model list, production first
    and chosen by default; hidden without a list (the backend's production model answers)."""
    return comparison.pickers(models_state, model, None, lang)[0]


def build_batch_tab(ui: Frontend, lang: gr.Radio, models_state: gr.State) -> BatchTab:
    lang0 = ui.settings.language
    with gr.Tab(t("tab_batch", lang0), id="batch") as tab:
        state = gr.State(None)
        intro = gr.Markdown(batch_intro(lang0), elem_id="batch-intro")
        model = gr.Dropdown([], label=t("model", lang0), visible=False, elem_id="batch-model")
        # any file: the app checks each one and says why one is not classified
        files = gr.File(
            label=t("batch_files", lang0),
            file_count="multiple",
            type="filepath",
            elem_id="batch-files",
        )
        run = gr.Button(t("batch_run", lang0), variant="primary", elem_id="batch-run")
        summary = gr.Markdown(elem_id="batch-summary")
        download = gr.DownloadButton(
            t("batch_download", lang0), visible=False, elem_id="batch-download"
        )
        table = gr.Dataframe(
            headers=batch.header(lang0),
            interactive=False,
            wrap=True,
            show_label=False,
            elem_id="batch-table",
        )
    part = _from_locals(BatchTab, locals())

    def classify(files_value, lang_value, model_value, progress=PROGRESS):
        return ui.classify_batch(files_value, lang_value, progress, model=model_value)

    outputs = [state, summary, table, download]
    run.click(classify, [files, lang, model], outputs, **_backend_call(ui.settings))
    models_state.change(batch_model_picker, [models_state, model, lang], [model])
    return part


# ---- Dashboard ---------------------------------------------------------------------------


@dataclass
class DashboardTab(Part):
    ui: Frontend
    tab: gr.Tab
    summary: gr.Markdown
    category_filter: gr.CheckboxGroup
    plots: list[gr.Plot]  # one per chart of charts.DATASET_CHARTS, in its order
    gallery: gr.Gallery

    def relabel_inputs(self) -> list[Block]:
        return [self.category_filter]

    def relabel(self, lang: str, values: Values) -> Updates:
        summary, figures, _ = self.ui.dashboard_parts(values[self.category_filter], lang)
        return {
            self.tab: gr.update(label=t("tab_dashboard", lang)),
            self.summary: summary,
            self.category_filter: gr.update(
                label=t("category_filter", lang), choices=category_choices(self.ui.categories, lang)
            ),
            **dict(zip(self.plots, figures, strict=True)),
            self.gallery: gr.update(label=t("gallery", lang)),
        }


def build_dashboard_tab(ui: Frontend, lang: gr.Radio, demo: gr.Blocks) -> DashboardTab:
    lang0 = ui.settings.language
    with gr.Tab(t("tab_dashboard", lang0), id="dashboard") as tab:
        summary = gr.Markdown(elem_id="dashboard-summary")
        category_filter = gr.CheckboxGroup(
            category_choices(ui.categories, lang0),
            value=ui.categories,
            label=t("category_filter", lang0),
            elem_id="category-filter",
        )
        plots = []
        for row in (["counts", "resolution"], ["aspect", "size"], ["price"]):
            with gr.Row():
                plots += [gr.Plot(elem_id=f"chart-{name}", show_label=False) for name in row]
        gallery = gr.Gallery(label=t("gallery", lang0), columns=7, height="auto", elem_id="gallery")
    outputs = [summary, *plots, gallery]  # what Frontend.dashboard_view returns
    category_filter.change(ui.dashboard_view, [category_filter, lang], outputs)
    demo.load(ui.dashboard_view, [category_filter, lang], outputs)
    return _from_locals(DashboardTab, locals())


# ---- Models ------------------------------------------------------------------------------


@dataclass
class ModelsTab(Part):
    ui: Frontend
    tab: gr.Tab
    state: gr.State
    refresh: gr.Button
    status: gr.Markdown
    production: gr.Markdown
    board: gr.Dataframe
    plots: list[gr.Plot]  # accuracy vs latency, F1 per class, confusion matrix
    curves_title: gr.Markdown
    curves_state: gr.State
    curve_metric: gr.Dropdown
    curves_status: gr.Markdown
    curves_plot: gr.Plot
    cells_title: gr.Markdown
    cells_state: gr.State
    cell_state: gr.State
    cells_hint: gr.Markdown
    cells_table: gr.Dataframe
    cell_caption: gr.Markdown
    cell_gallery: gr.Gallery

    def relabel_inputs(self) -> list[Block]:
        return [self.state, self.curves_state, self.curve_metric, self.cells_state, self.cell_state]

    def relabel(self, lang: str, values: Values) -> Updates:
        status, production, board, *figures = views.render_models(values[self.state], lang)
        curves, cells = values[self.curves_state], values[self.cells_state]
        return {
            self.tab: gr.update(label=t("tab_models", lang)),
            self.refresh: gr.update(value=t("refresh", lang)),
            self.status: status,
            self.production: production,
            self.board: gr.update(value=board, label=t("leaderboard", lang)),
            **dict(zip(self.plots, figures, strict=True)),
            self.curves_title: t("curves_title", lang),
            self.curve_metric: gr.update(
                label=t("curve_metric", lang), choices=insights.curve_choices(lang)
            ),
            self.curves_status: insights.curves_status(curves, lang),
            self.curves_plot: insights.curves_chart(curves, values[self.curve_metric], lang),
            self.cells_title: t("cells_title", lang),
            self.cells_hint: insights.cells_hint(cells, lang),
            self.cells_table: insights.cells_table(cells, lang),
            self.cell_caption: insights.cell_caption(cells, values[self.cell_state], lang),
            self.cell_gallery: gr.update(label=t("cell_gallery", lang)),
        }


def build_models_tab(ui: Frontend, lang: gr.Radio, demo: gr.Blocks) -> ModelsTab:
    lang0 = ui.settings.language
    with gr.Tab(t("tab_models", lang0), id="models") as tab:
        state = gr.State(dict(EMPTY_ANSWER))
        refresh = gr.Button(t("refresh", lang0), size="sm")
        status = gr.Markdown(elem_id="models-status")
        production = gr.Markdown(elem_id="production")
        board = gr.Dataframe(
            label=t("leaderboard", lang0),
            interactive=False,
            wrap=True,
            elem_id="leaderboard",
            column_widths=LEADERBOARD_WIDTHS,
        )
        with gr.Row():
            plots = [
                gr.Plot(show_label=False, elem_id="chart-acc-latency"),
                gr.Plot(show_label=False, elem_id="chart-f1"),
            ]
        plots.append(gr.Plot(show_label=False, elem_id="chart-confusion"))
        cells_title = gr.Markdown(t("cells_title", lang0))
        cells_state = gr.State(dict(EMPTY_ANSWER))
        cell_state = gr.State(None)
        cells_hint = gr.Markdown(elem_id="cells-hint")
        cells_table = gr.Dataframe(interactive=False, wrap=True, elem_id="cells", show_label=False)
        cell_caption = gr.Markdown(elem_id="cell-caption")
        cell_gallery = gr.Gallery(
            label=t("cell_gallery", lang0), columns=6, height="auto", elem_id="cell-gallery"
        )
        curves_title = gr.Markdown(t("curves_title", lang0))
        curves_state = gr.State(dict(EMPTY_ANSWER))
        curve_metric = gr.Dropdown(
            insights.curve_choices(lang0),
            value=insights.CURVE_TAGS[0],
            label=t("curve_metric", lang0),
            elem_id="curve-metric",
        )
        curves_status = gr.Markdown(elem_id="curves-status")
        curves_plot = gr.Plot(show_label=False, elem_id="chart-curves")
    part = _from_locals(ModelsTab, locals())
    _wire_models(part, lang, demo)
    return part


def _wire_models(part: ModelsTab, lang: gr.Radio, demo: gr.Blocks) -> None:
    ui, backend = part.ui, _backend_call(part.ui.settings)
    outputs = [part.state, part.status, part.production, part.board, *part.plots]

    def extras(lang_value: str, metric: str, models_state: dict):
        """The curves and the production model's confusion cells (after fetch_models)."""
        curves = insights.fetch_curves(ui.client, ui.settings)
        production = ((models_state or {}).get("response") or {}).get("production")
        cells = insights.fetch_cells(ui.client, ui.settings, production)
        return (
            curves,
            insights.curves_status(curves, lang_value),
            insights.curves_chart(curves, metric, lang_value),
            cells,
            None,
            insights.cells_hint(cells, lang_value),
            insights.cells_table(cells, lang_value),
            "",
            [],
        )

    extra_outputs = [
        part.curves_state,
        part.curves_status,
        part.curves_plot,
        part.cells_state,
        part.cell_state,
        part.cells_hint,
        part.cells_table,
        part.cell_caption,
        part.cell_gallery,
    ]
    extra_inputs = [lang, part.curve_metric, part.state]
    for trigger in (part.refresh.click, demo.load):
        trigger(ui.fetch_models, [lang], outputs, **backend).then(
            extras, extra_inputs, extra_outputs, **backend
        )
    part.curve_metric.change(
        insights.curves_chart,
        [part.curves_state, part.curve_metric, lang],
        [part.curves_plot],
        show_progress="hidden",
    )

    def show_cell(cells: dict, lang_value: str, evt: gr.SelectData):
        row, column = evt.index
        column -= 1  # the first column names the true category
        cell = [row, column] if column >= 0 else None
        return (
            cell,
            insights.cell_caption(cells, cell, lang_value),
            insights.cell_gallery(ui.client, cells, cell, lang_value),
        )

    part.cells_table.select(
        show_cell,
        [part.cells_state, lang],
        [part.cell_state, part.cell_caption, part.cell_gallery],
        **backend,
    )


# ---- Monitoring --------------------------------------------------------------------------


@dataclass
class MonitoringTab(Part):
    ui: Frontend
    tab: gr.Tab
    state: gr.State
    intro: gr.Markdown
    refresh: gr.Button
    health: gr.Markdown
    status: gr.Markdown
    kpis: gr.Markdown
    series_state: gr.State
    series_plots: list[gr.Plot]  # requests per hour, latency per hour, label mix
    plots: list[gr.Plot]  # timeline, latency percentiles, quality indicators
    timer: gr.Timer

    def relabel_inputs(self) -> list[Block]:
        return [self.state, self.series_state]

    def relabel(self, lang: str, values: Values) -> Updates:
        status, kpis, *figures = views.render_stats(values[self.state], lang, self.ui.categories)
        series = values[self.series_state]
        training = insights.training_shares(self.ui.dashboard)
        seconds = f"{self.ui.settings.monitoring_refresh_s:g}"
        return {
            self.tab: gr.update(label=t("tab_monitoring", lang)),
            self.intro: t("monitoring_intro", lang, seconds=seconds),
            self.refresh: gr.update(value=t("refresh", lang)),
            self.health: insights.health_line(series, lang),
            self.status: status,
            self.kpis: kpis,
            **dict(
                zip(
                    self.series_plots,
                    insights.series_figures(series, training, lang),
                    strict=True,
                )
            ),
            **dict(zip(self.plots, figures, strict=True)),
        }


def build_monitoring_tab(ui: Frontend, lang: gr.Radio, demo: gr.Blocks) -> MonitoringTab:
    settings = ui.settings
    lang0 = settings.language
    with gr.Tab(t("tab_monitoring", lang0), id="monitoring") as tab:
        state = gr.State(dict(EMPTY_ANSWER))
        seconds = f"{settings.monitoring_refresh_s:g}"
        intro = gr.Markdown(t("monitoring_intro", lang0, seconds=seconds))
        refresh = gr.Button(t("refresh", lang0), size="sm")
        health = gr.Markdown(elem_id="health")
        status = gr.Markdown(elem_id="stats-status")
        kpis = gr.Markdown(elem_id="kpis")
        series_state = gr.State(dict(EMPTY_ANSWER))
        series_plots = [gr.Plot(show_label=False, elem_id="chart-requests")]
        with gr.Row():
            series_plots += [
                gr.Plot(show_label=False, elem_id="chart-latency-series"),
                gr.Plot(show_label=False, elem_id="chart-label-mix"),
            ]
        with gr.Row():
            plots = [
                gr.Plot(show_label=False, elem_id="chart-timeline"),
                gr.Plot(show_label=False, elem_id="chart-latency"),
            ]
        plots.append(gr.Plot(show_label=False, elem_id="chart-quality"))
        timer = gr.Timer(settings.monitoring_refresh_s)
    outputs = [state, status, kpis, *plots]  # Frontend.fetch_stats's order
    training = insights.training_shares(ui.dashboard)

    def series(lang_value: str):
        fetched = insights.fetch_series(ui.client, settings)
        return (
            fetched,
            insights.health_line(fetched, lang_value),
            *insights.series_figures(fetched, training, lang_value),
        )

    series_outputs = [series_state, health, *series_plots]
    backend = _backend_call(settings)
    for trigger, quiet in ((refresh.click, False), (timer.tick, True), (demo.load, False)):
        hidden = {"show_progress": "hidden"} if quiet else {}
        trigger(ui.fetch_stats, [lang], outputs, **hidden, **backend).then(
            series, [lang], series_outputs, **hidden, **backend
        )
    return _from_locals(MonitoringTab, locals())


# ---- language ----------------------------------------------------------------------------


def relabel_all(parts: list[Part], lang: str, values: Values) -> Updates:
    updates: Updates = {}
    for part in parts:
        updates |= part.relabel(lang, values)
    return updates


def wire_language(lang: gr.Radio, parts: list[Part]) -> None:
    """One event re-labels every part and re-renders it from its stored answers."""
    inputs = {lang, *(block for part in parts for block in part.relabel_inputs())}
    outputs = [block for part in parts for block in part.blocks()]
    lang.change(
        lambda values: relabel_all(parts, values[lang], values),
        inputs,  # a set: Gradio passes one {component: value} dict
        outputs,
        show_progress="hidden",
    )
