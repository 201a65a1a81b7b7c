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
from flipkart_ui.i18n import t

# A message to show, kept untranslated: (key in i18n.TEXTS, values) or None.
Message = tuple[str, dict[str, Any]] | None


def error_message(exc: ApiError, settings: Settings, feature: str) -> Message:
    detail = exc.message or (f"HTTP {exc.status}" if exc.status else exc.kind)
    if exc.code and exc.message:
        detail = f"{exc.message} [{exc.code}]"
    values = {
        "api_url": settings.api_url,
        "timeout": f"{settings.api_timeout_s:g}",
        "feature": feature,
        "message": detail,
    }
    if exc.kind == "server" and exc.status == 503:  # up, but no model loaded (or no database)
        return ("err_not_ready", values)
    if feature == "/v1/stats" and exc.status in (401, 403):  # private statistics
        return ("err_stats_private", values)
    return (f"err_{exc.kind}", values)


def render_message(message: Message, lang: str) -> str:
    if message is None:
        return ""
    key, values = message
    text = t(key, lang, **values)
    return f"**❌ {text}**" if key.startswith("err_") else text


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


# ---- Classification --------------------------------------------------------------------


def render_prediction(
    state: dict[str, Any], lang: str, labels: list[str] | None = None
) -> tuple[str, Any, go.Figure, str]:
    """(status, gr.Label value, probability chart, details) for the last classification."""
    response = state.get("response")
    status = render_message(state.get("message"), lang)
    if response is None:
        return status, None, charts.probability_chart([], lang), ""
    probabilities = response.get("probabilities") or []
    label_value = {str(p["label"]): float(p["probability"]) for p in probabilities}
    model = response.get("model") or {}
    latency = (response.get("latency_ms") or {}).get("total")
    lines = [
        t(
            "result_line",
            lang,
            label=response["label"],
            confidence=_percent(float(response["confidence"])),
            architecture=model.get("architecture") or model.get("run_id") or "?",
            latency="—" if latency is None else f"{float(latency):.1f}",
        )
    ]
    if response.get("cached"):
        lines[0] += " " + t("cached", lang)
    if response.get("uncertain"):
        lines.append(t("uncertain", lang))
    if state.get("true_label"):
        lines.append(t("true_category", lang, label=state["true_label"]))
    preview = render_message(state.get("preview_message"), lang)
    if preview:
        lines.append(preview)
    chart = charts.probability_chart(probabilities, lang, labels)
    return status, label_value, chart, "\n\n".join(lines)


# ---- Dashboard -------------------------------------------------------------------------


def render_dashboard(
    frame: pd.DataFrame | None,
    samples: list[Sample],
    categories: list[str] | None,
    lang: str,
    settings: Settings,
) -> tuple[str, list[go.Figure], list[tuple[str, str]]]:
    """(summary, the five charts, gallery items) for the chosen categories."""
    gallery = [
        (str(s.path), s.title) for s in samples if categories is None or s.label in categories
    ]
    if frame is None:
        path = settings.assets_dir / "dataset_dashboard.csv"
        summary = render_message(("dashboard_missing", {"path": str(path)}), lang)
        return summary, [charts.empty_figure(t("no_data", lang), lang) for _ in range(5)], gallery
    all_labels = sorted(frame["label"].unique())
    shown = charts.filter_categories(frame, categories)
    figures = [build(shown, lang, all_labels) for build in charts.DATASET_CHARTS]
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
        empty_table = charts.leaderboard_display(charts.leaderboard({}), lang)
        return (
            status,
            "",
            empty_table,
            charts.empty_figure(t("chart_acc_latency", lang), lang),
            charts.empty_figure(t("chart_f1", lang), lang),
            charts.confusion_chart(None, lang),
        )
    table = charts.leaderboard(models)
    entry = charts.production_entry(models)
    if entry is None:
        production = t("production_unknown", lang)
    else:
        since = charts.production_since(models, entry) or t("since_unknown", lang)
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
            (t("kpi_confidence", lang), _percent(quality["kpi_confidence"])),
            (t("kpi_uncertain", lang), _percent(quality["kpi_uncertain"])),
            (t("kpi_feedback", lang), _percent(quality["kpi_feedback"])),
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
