"""What each tab shows, computed from the last backend answer and the language.

Fetching (app.py) and rendering (here) are apart so that switching language re-renders
everything from stored answers without calling the backend again.
"""

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from flipkart_ui import charts
from flipkart_ui.api_client import ApiError
from flipkart_ui.assets import Sample
from flipkart_ui.config import Settings
from flipkart_ui.i18n import ERROR_CODES, category, date_time, decimal, percent, t

# A message to show, kept untranslated: (key in i18n.TEXTS, values) or None.
Message = tuple[str, dict[str, Any]] | None


def error_message(exc: ApiError, settings: Settings, feature: str) -> Message:
    """What to tell the user, in their language: a backend error code we know becomes its own
    sentence; anything else a sentence per kind of failure. The backend's message (English,
    technical) and its code are never shown."""
    values = {"timeout": f"{settings.api_timeout_s:g}", "feature": feature}
    if feature == "/v1/stats" and exc.status in (401, 403):  # private statistics: say how
        return ("err_stats_private", values)
    if feature == "/v1/explain" and exc.code == "unknown_label":
        return ("err_explain_label", values)
    if exc.code in ERROR_CODES:
        return (ERROR_CODES[exc.code], values)
    if exc.kind == "rejected" and exc.status in (401, 403):
        return ("err_access", values)
    if exc.kind == "rejected" and exc.status == 429:
        return ("err_rate_limited", values)
    if exc.kind == "server" and exc.status == 503:  # up, but no model loaded (or no database)
        return ("err_not_ready", values)
    return (f"err_{exc.kind}", values)


def render_message(message: Message, lang: str) -> str:
    if message is None:
        return ""
    key, values = message
    text = t(key, lang, **values)
    return f"**❌ {text}**" if key.startswith("err_") else text


# ---- Classification --------------------------------------------------------------------


def render_prediction(
    state: dict[str, Any], lang: str, labels: list[str] | None = None
) -> tuple[str, str, go.Figure, str, str]:
    """(status, headline, probability chart, details, comparison) for the last classification.

    The predicted category is named once, in the headline; the chart gives every category's
    probability; the comparison, when text was sent, each input's own answer. Without an
    answer (none yet, or the last attempt failed) all are empty."""
    response = state.get("response")
    status = render_message(state.get("message"), lang)
    if response is None:
        return status, "", charts.probability_chart([], lang), "", ""
    probabilities = response.get("probabilities") or []
    model = response.get("model") or {}
    latency = (response.get("latency_ms") or {}).get("total")
    lines = [
        t(
            "result_line",
            lang,
            confidence=percent(float(response["confidence"]), lang),
            architecture=model.get("architecture") or model.get("run_id") or "?",
            latency="—" if latency is None else decimal(float(latency), lang),
        )
    ]
    if response.get("uncertain"):
        lines.append(t("uncertain", lang))
    if state.get("true_label"):
        lines.append(t("true_category", lang, label=category(state["true_label"], lang)))
    preview = render_message(state.get("preview_message"), lang)
    if preview:
        lines.append(preview)
    headline = t("headline", lang, label=category(str(response["label"]), lang))
    chart = charts.probability_chart(probabilities, lang, labels)
    return status, headline, chart, "\n\n".join(lines), render_comparison(response, lang)


# Below this largest drop (probability lost by hiding one patch) the heat map says nothing.
FLAT_DROP = 0.01


def render_explanation(state: dict[str, Any] | None, lang: str) -> str:
    """The sentence under the explanation's overlay: what the colours mean and what it cost, or
    why there is none (an error); empty before any explanation."""
    state = state or {}
    answer = state.get("response")
    if answer is None:
        return render_message(state.get("message"), lang)
    latency = (answer.get("latency_ms") or {}).get("total")
    max_drop = float(answer.get("max_drop") or 0.0)
    values = {
        "label": category(str(answer["label"]), lang),
        "drop": percent(max_drop, lang),
        "images": answer.get("images_run") or "—",
        "latency": "—" if latency is None else decimal(float(latency), lang, 0),
    }
    return t("explain_caption" if max_drop >= FLAT_DROP else "explain_flat", lang, **values)


# Each input's own answer in `by_input`, in the comparison's order, with its row's name.
BY_INPUT_ROWS = (("image", "input_photo"), ("text", "input_text"), ("fused", "input_both"))


def answered_by(response: dict[str, Any]) -> str | None:
    """Which of `by_input` the answer is: fused when computed, else the image's, else the text's."""
    by_input = response.get("by_input") or {}
    return next((name for name in ("fused", "image", "text") if by_input.get(name)), None)


def render_comparison(response: dict[str, Any], lang: str) -> str:
    """Photo only, text only, and both: each one's category and confidence, which inputs the
    model read, and why sent text was not used. Empty for a photo sent without text (a backend
    without listings answers no `by_input`: the comparison is empty too)."""
    by_input = response.get("by_input") or {}
    note = response.get("text_note")
    if not (by_input.get("text") or note):
        return ""
    answer = answered_by(response)
    rows = []
    for name, row_key in BY_INPUT_ROWS:
        ranked = by_input.get(name)
        if ranked:
            best = max(ranked, key=lambda p: p["probability"])
            cells = [category(str(best["label"]), lang), percent(float(best["probability"]), lang)]
            if name == answer:
                cells = [f"**{cell}**" for cell in cells]
        else:
            cells = [f"*{t(missing_reason(name, response), lang)}*", "—"]
        row = t(row_key, lang) + (f" — **{t('the_answer', lang)}**" if name == answer else "")
        rows.append(f"| {row} | {' | '.join(cells)} |")
    header = [t("col_input", lang), t("col_category", lang), t("col_confidence", lang)]
    parts = [
        f"**{t('comparison_title', lang)}**",
        f"| {' | '.join(header)} |\n|---|---|---|\n" + "\n".join(rows),
    ]
    if used := [t(f"input_{name}", lang) for name in response.get("inputs_used") or []]:
        parts.append(t("inputs_used", lang, inputs=", ".join(used)))
    if note:  # the backend's note is English and technical: the page says it in its language
        parts.append(t("text_not_used", lang))
    return "\n\n".join(parts)


def missing_reason(name: str, response: dict[str, Any]) -> str:
    """Why the comparison has no answer for `name` (image, text or fused): no photo was sent,
    or the text was not used (a comparison is shown only when text was sent)."""
    photo = bool((response.get("by_input") or {}).get("image"))
    return "missing_photo" if name == "image" or not photo else "missing_text_unused"


# ---- Dashboard -------------------------------------------------------------------------


def render_dashboard(
    frame: pd.DataFrame | None,
    samples: list[Sample],
    categories: list[str] | None,
    lang: str,
    settings: Settings,
    whole: list[go.Figure] | None = None,
) -> tuple[str, list[go.Figure], list[tuple[str, str]]]:
    """(summary, the five charts, gallery items) for the chosen categories; the charts are cut
    from `whole` (`charts.dataset_figures` of `frame` in `lang`) when given."""
    gallery = [
        (str(s.path), s.title) for s in samples if categories is None or s.label in categories
    ]
    if frame is None:
        path = settings.assets_dir / "dataset_dashboard.csv"
        summary = render_message(("dashboard_missing", {"path": str(path)}), lang)
        return summary, [charts.empty_figure(t("no_data", lang), lang) for _ in range(5)], gallery
    all_labels = sorted(frame["label"].unique())
    shown = charts.filter_categories(frame, categories)
    whole = whole or charts.dataset_figures(frame, lang, all_labels)
    figures = [charts.keep_categories(fig, categories, lang) for fig in whole]
    summary = t(
        "dashboard_intro", lang, images=len(frame), categories=len(all_labels), shown=len(shown)
    )
    return summary, figures, gallery


# ---- Models ----------------------------------------------------------------------------


def render_models(
    state: dict[str, Any], lang: str
) -> tuple[str, str, pd.DataFrame, go.Figure, go.Figure, go.Figure]:
    """(status, production line, leaderboard table, accuracy/latency, F1, confusion)."""
    models = state.get("response")
    status = render_message(state.get("message"), lang)
    if models is None:
        empty_table = charts.leaderboard_display(charts.leaderboard({}, lang), lang)
        return (
            status,
            "",
            empty_table,
            charts.empty_figure(t("chart_acc_latency", lang), lang),
            charts.empty_figure(t("chart_f1", lang), lang),
            charts.confusion_chart(None, lang),
        )
    table = charts.leaderboard(models, lang)
    entry = charts.production_entry(models)
    if entry is None:
        production = t("production_unknown", lang)
    else:
        since = charts.production_since(models, entry)
        since = date_time(since, lang) if since else t("since_unknown", lang)
        production = t(
            "production_line",
            lang,
            architecture=entry.architecture,
            run_id=entry.run_id,
            framework=entry.framework or "?",
            since=since,
        )
    if not status:
        status = t("models_loaded", lang, count=len(table))
        if unreadable := charts.unreadable_cards(models):
            run_ids = ", ".join(f"`{run_id}`" for run_id in unreadable)
            status += " " + t("cards_unavailable", lang, run_ids=run_ids)
    return (
        status,
        production,
        charts.leaderboard_display(table, lang),
        charts.accuracy_latency_chart(table, lang),
        charts.per_class_f1_chart(models, lang),
        charts.confusion_chart(entry, lang),
    )


# ---- Monitoring ------------------------------------------------------------------------


def render_stats(
    state: dict[str, Any], lang: str, labels: list[str] | None = None
) -> tuple[str, str, go.Figure, go.Figure, go.Figure]:
    """(status, key figures, timeline, latency percentiles, quality indicators)."""
    stats = state.get("response") or {}
    status = render_message(state.get("message"), lang)
    if not status and state.get("fetched_at"):
        status = t("stats_loaded", lang, time=state["fetched_at"])
    kpis = ""
    if stats:
        quality = charts.quality_indicators(stats)
        total = stats.get("predictions")
        new_images = (stats.get("since_promotion") or {}).get("new_distinct_images")
        rows = [
            (t("kpi_total", lang), "—" if total is None else str(total)),
            (t("kpi_confidence", lang), percent(quality["kpi_confidence"], lang)),
            (t("kpi_uncertain", lang), percent(quality["kpi_uncertain"], lang)),
            (t("kpi_feedback", lang), percent(quality["kpi_feedback"], lang)),
            (t("kpi_new_images", lang), "—" if new_images is None else str(new_images)),
        ]
        kpis = "| | |\n|---|---|\n" + "\n".join(f"| {name} | **{value}** |" for name, value in rows)
    return (
        status,
        kpis,
        charts.timeline_chart(state.get("windows") or {}, lang, labels),
        charts.latency_chart(stats, lang),
        charts.quality_chart(stats, lang),
    )


def now_utc() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")
