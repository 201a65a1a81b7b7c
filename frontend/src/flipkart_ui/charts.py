"""Plotly figures and the aggregates behind them. Pure functions: data in, figure out."""

from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from flipkart_contract import ModelCard

from flipkart_ui.i18n import t
from flipkart_ui.palette import OKABE_ITO, SEQUENTIAL, category_colors

LAYOUT = {"template": "plotly_white", "margin": {"l": 50, "r": 20, "t": 50, "b": 50}}


def empty_figure(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=t("no_data", lang), showarrow=False, font={"size": 16})
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return fig


# ---- dataset (Dashboard tab) -------------------------------------------------------------


def filter_categories(frame: pd.DataFrame, categories: list[str] | None) -> pd.DataFrame:
    if categories is None:
        return frame
    return frame[frame["label"].isin(categories)]


def category_counts(frame: pd.DataFrame) -> pd.DataFrame:
    counts = frame.groupby("label").size().rename("count").reset_index()
    return counts.sort_values("label", ignore_index=True)


def counts_chart(frame: pd.DataFrame, lang: str, all_labels: list[str]) -> go.Figure:
    title = t("chart_counts", lang)
    if frame.empty:
        return empty_figure(title, lang)
    counts = category_counts(frame)
    fig = px.bar(
        counts,
        x="label",
        y="count",
        color="label",
        color_discrete_map=category_colors(all_labels),
        category_orders={"label": all_labels},
        text="count",
        labels={"label": t("axis_category", lang), "count": t("axis_images", lang)},
    )
    fig.update_layout(title=title, showlegend=False, **LAYOUT)
    return fig


def resolution_chart(frame: pd.DataFrame, lang: str, all_labels: list[str]) -> go.Figure:
    title = t("chart_resolution", lang)
    if frame.empty:
        return empty_figure(title, lang)
    fig = px.scatter(
        frame,
        x="original_width",
        y="original_height",
        color="label",
        color_discrete_map=category_colors(all_labels),
        category_orders={"label": all_labels},
        hover_name="product_name",
        hover_data={"brand": True, "original_bytes": True},
        labels={
            "original_width": t("axis_width", lang),
            "original_height": t("axis_height", lang),
            "label": t("axis_category", lang),
        },
        opacity=0.7,
    )
    fig.update_layout(title=title, **LAYOUT)
    return fig


def _histogram(
    frame: pd.DataFrame, column: pd.Series, title: str, x_label: str, lang: str, labels: list[str]
) -> go.Figure:
    if frame.empty:
        return empty_figure(title, lang)
    data = pd.DataFrame({"value": column, "label": frame["label"]})
    fig = px.histogram(
        data,
        x="value",
        color="label",
        color_discrete_map=category_colors(labels),
        category_orders={"label": labels},
        nbins=30,
        labels={"value": x_label, "label": t("axis_category", lang)},
    )
    fig.update_layout(title=title, barmode="stack", yaxis_title=t("axis_images", lang), **LAYOUT)
    return fig


def aspect_ratio_chart(frame: pd.DataFrame, lang: str, all_labels: list[str]) -> go.Figure:
    title, axis = t("chart_aspect", lang), t("axis_ratio", lang)
    return _histogram(frame, frame["aspect_ratio"], title, axis, lang, all_labels)


def file_size_chart(frame: pd.DataFrame, lang: str, all_labels: list[str]) -> go.Figure:
    title, axis = t("chart_size", lang), t("axis_kb", lang)
    return _histogram(frame, frame["original_bytes"] / 1024, title, axis, lang, all_labels)


def price_chart(frame: pd.DataFrame, lang: str, all_labels: list[str]) -> go.Figure:
    title = t("chart_price", lang)
    priced = frame.dropna(subset=["price"])
    if priced.empty:
        return empty_figure(title, lang)
    fig = px.box(
        priced,
        x="label",
        y="price",
        color="label",
        color_discrete_map=category_colors(all_labels),
        category_orders={"label": all_labels},
        hover_name="product_name",
        log_y=True,
        labels={"label": t("axis_category", lang), "price": t("axis_price", lang)},
    )
    fig.update_layout(title=title, showlegend=False, **LAYOUT)
    return fig


DATASET_CHARTS = (counts_chart, resolution_chart, aspect_ratio_chart, file_size_chart, price_chart)


# ---- one prediction (Classification tab) ---------------------------------------------------


def probability_chart(
    probabilities: list[dict[str, Any]], lang: str, all_labels: list[str] | None = None
) -> go.Figure:
    title = t("probabilities_plot", lang)
    if not probabilities:
        return empty_figure(title, lang)
    rows = sorted(probabilities, key=lambda p: p["probability"])
    labels = [str(p["label"]) for p in rows]
    colors = category_colors([*labels, *(all_labels or [])])
    fig = go.Figure(
        go.Bar(
            x=[p["probability"] for p in rows],
            y=labels,
            orientation="h",
            marker_color=[colors[label] for label in labels],
            text=[f"{p['probability']:.1%}" for p in rows],
            textposition="auto",
        )
    )
    fig.update_layout(title=title, xaxis={"range": [0, 1], "tickformat": ".0%"}, **LAYOUT)
    fig.update_xaxes(title=t("axis_probability", lang))
    return fig


# ---- model cards (Models tab) --------------------------------------------------------------


@dataclass(frozen=True)
class ModelEntry:
    """One item of `GET /v1/models`, its card parsed with the contract's `ModelCard`.

    `card` is None when the item has no card or one this app cannot read (another schema
    version, a missing field): the model is still listed, its figures shown as unavailable.
    """

    run_id: str
    architecture: str
    framework: str | None
    training_mode: str | None
    is_production: bool
    card: ModelCard | None


def parse_card(data: Any) -> ModelCard | None:
    try:
        return ModelCard.model_validate(data)
    except ValueError:  # pydantic's ValidationError
        return None


def model_entries(models: dict[str, Any]) -> list[ModelEntry]:
    entries = []
    for item in models.get("models") or []:
        if not isinstance(item, dict):
            continue
        card = parse_card(item.get("card"))
        run_id = str(item.get("run_id") or (card.run_id if card else "?"))
        entries.append(
            ModelEntry(
                run_id=run_id,
                architecture=str(item.get("architecture") or (card.architecture if card else "?")),
                framework=item.get("framework") or (card.framework if card else None),
                training_mode=item.get("training_mode") or (card.training_mode if card else None),
                is_production=bool(item.get("is_production")) or run_id == models.get("production"),
                card=card,
            )
        )
    return entries


LEADERBOARD_COLUMNS = {  # column -> i18n key of its heading
    "architecture": "col_architecture",
    "run_id": "col_run_id",
    "framework": "col_framework",
    "training_mode": "col_training_mode",
    "accuracy": "col_accuracy",
    "macro_f1": "col_macro_f1",
    "latency_ms": "col_latency",
    "parameters_m": "col_parameters",
    "is_production": "col_production",
}


def leaderboard(models: dict[str, Any]) -> pd.DataFrame:
    """One row per model, best test macro-F1 first. Figures of an unreadable card stay NaN."""
    rows = []
    for entry in model_entries(models):
        card = entry.card
        rows.append(
            {
                "architecture": entry.architecture,
                "run_id": entry.run_id,
                "framework": entry.framework,
                "training_mode": entry.training_mode,
                "accuracy": card.metrics.test.accuracy if card else None,
                "macro_f1": card.metrics.test.macro_f1 if card else None,
                "latency_ms": card.latency_ms.batch_1 if card else None,
                "parameters_m": card.parameters / 1e6 if card else None,
                "is_production": entry.is_production,
            }
        )
    frame = pd.DataFrame(rows, columns=list(LEADERBOARD_COLUMNS))
    for column in ("accuracy", "macro_f1", "latency_ms", "parameters_m"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.sort_values("macro_f1", ascending=False, na_position="last", ignore_index=True)


def leaderboard_display(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    shown = table.copy()
    shown["is_production"] = shown["is_production"].map(lambda p: t("yes", lang) if p else "")
    for column in ("accuracy", "macro_f1"):
        shown[column] = shown[column].round(3)
    shown["latency_ms"] = shown["latency_ms"].round(2)
    shown["parameters_m"] = shown["parameters_m"].round(2)
    return shown.rename(columns={k: t(v, lang) for k, v in LEADERBOARD_COLUMNS.items()})


def accuracy_latency_chart(table: pd.DataFrame, lang: str) -> go.Figure:
    title = t("chart_acc_latency", lang)
    points = table.dropna(subset=["accuracy", "latency_ms"])
    if points.empty:
        return empty_figure(title, lang)
    frameworks = sorted(points["framework"].fillna("?").unique())
    fig = go.Figure()
    for i, framework in enumerate(frameworks):
        group = points[points["framework"].fillna("?") == framework]
        fig.add_trace(
            go.Scatter(
                x=group["latency_ms"],
                y=group["accuracy"],
                mode="markers+text",
                name=str(framework),
                text=group["architecture"],
                textposition="top center",
                marker={
                    "size": [18 if p else 11 for p in group["is_production"]],
                    "symbol": ["star" if p else "circle" for p in group["is_production"]],
                    "color": OKABE_ITO[(i + 4) % len(OKABE_ITO)],
                },
                customdata=group["run_id"],
                hovertemplate="%{text}<br>%{customdata}<br>%{y:.3f} / %{x:.2f} ms<extra></extra>",
            )
        )
    # room around the points so that the architectures written beside them stay inside
    x_max = float(points["latency_ms"].max())
    y_min, y_max = float(points["accuracy"].min()), float(points["accuracy"].max())
    fig.update_layout(
        title=title,
        xaxis={"title": t("axis_latency", lang), "range": [0, x_max * 1.3]},
        yaxis={"title": t("axis_accuracy", lang), "range": [y_min - 0.05, min(1.0, y_max + 0.05)]},
        **LAYOUT,
    )
    return fig


def per_class_f1(models: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"architecture": entry.architecture, "label": label, "f1": scores.f1}
        for entry in model_entries(models)
        if entry.card is not None
        for label, scores in (entry.card.metrics.test.per_class or {}).items()
    ]
    return pd.DataFrame(rows, columns=["architecture", "label", "f1"])


def per_class_f1_chart(models: dict[str, Any], lang: str) -> go.Figure:
    title = t("chart_f1", lang)
    frame = per_class_f1(models)
    if frame.empty:
        return empty_figure(title, lang)
    fig = px.bar(
        frame,
        x="label",
        y="f1",
        color="architecture",
        barmode="group",
        color_discrete_sequence=OKABE_ITO[4:] + OKABE_ITO[:4],
        labels={"label": t("axis_category", lang), "f1": t("axis_f1", lang), "architecture": ""},
    )
    fig.update_layout(title=title, yaxis_range=[0, 1], **LAYOUT)
    return fig


def production_entry(models: dict[str, Any]) -> ModelEntry | None:
    return next((entry for entry in model_entries(models) if entry.is_production), None)


def unreadable_cards(models: dict[str, Any]) -> list[str]:
    """Run ids of the models whose card this app cannot read."""
    return [entry.run_id for entry in model_entries(models) if entry.card is None]


def confusion_chart(entry: ModelEntry | None, lang: str) -> go.Figure:
    title = t("chart_confusion", lang, architecture=entry.architecture if entry else "?")
    # the card's own checks guarantee a classes x classes matrix when there is one
    matrix = entry.card.metrics.test.confusion_matrix if entry and entry.card else None
    if not matrix:
        return empty_figure(title, lang)
    classes = entry.card.classes
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=classes,
            y=classes,
            colorscale=SEQUENTIAL,
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="%{y} → %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title=t("axis_predicted", lang),
        yaxis_title=t("axis_true", lang),
        yaxis_autorange="reversed",
        **LAYOUT,
    )
    return fig


def production_since(models: dict[str, Any], entry: ModelEntry | None) -> str | None:
    """When the production model was promoted, if the backend says so (contract field optional)."""
    if entry is None:
        return None
    if models.get("production_since"):
        return str(models["production_since"])
    history = models.get("history") or []
    promotions = [h for h in history if isinstance(h, dict) and h.get("run_id") == entry.run_id]
    return str(promotions[-1].get("at")) if promotions and promotions[-1].get("at") else None


# ---- production statistics (Monitoring tab) ------------------------------------------------


def label_counts(stats: dict[str, Any]) -> dict[str, int]:
    return dict(stats.get("by_label") or {})


def counts_by_window(windows: dict[float, dict[str, Any]]) -> pd.DataFrame:
    """Predictions per label in each window ending now (1 h, 24 h, 7 days...), longest last."""
    rows = [
        {"hours": hours, "label": label, "count": count}
        for hours, stats in windows.items()
        for label, count in label_counts(stats).items()
    ]
    frame = pd.DataFrame(rows, columns=["hours", "label", "count"])
    return frame.sort_values(["hours", "label"], ignore_index=True)


def window_name(hours: float, lang: str) -> str:
    if hours >= 48 and hours % 24 == 0:
        return t("window_days", lang, days=f"{hours / 24:g}")
    return t("window_hours", lang, hours=f"{hours:g}")


def timeline_chart(
    windows: dict[float, dict[str, Any]], lang: str, all_labels: list[str] | None = None
) -> go.Figure:
    title = t("chart_timeline", lang)
    frame = counts_by_window(windows)
    if frame.empty:
        return empty_figure(title, lang)
    frame["window"] = [window_name(h, lang) for h in frame["hours"]]
    fig = px.bar(
        frame,
        x="window",
        y="count",
        color="label",
        barmode="group",
        color_discrete_map=category_colors([*frame["label"].unique(), *(all_labels or [])]),
        labels={
            "window": t("axis_window", lang),
            "count": t("axis_predictions", lang),
            "label": t("axis_category", lang),
        },
    )
    fig.update_layout(title=title, **LAYOUT)
    return fig


def latency_percentiles(stats: dict[str, Any]) -> pd.DataFrame:
    latency = stats.get("latency_ms") or {}
    rows = [
        {"percentile": key, "ms": float(value)}
        for key, value in latency.items()
        if key.startswith("p") and key[1:].isdigit() and isinstance(value, int | float)
    ]
    frame = pd.DataFrame(rows, columns=["percentile", "ms"])
    order = frame["percentile"].str[1:].astype(int).argsort()
    return frame.iloc[order].reset_index(drop=True)


def latency_chart(stats: dict[str, Any], lang: str) -> go.Figure:
    title = t("chart_latency", lang)
    frame = latency_percentiles(stats)
    if frame.empty:
        return empty_figure(title, lang)
    fig = go.Figure(
        go.Bar(
            x=frame["percentile"],
            y=frame["ms"],
            marker_color=OKABE_ITO[4],
            text=[f"{v:.1f}" for v in frame["ms"]],
        )
    )
    fig.update_layout(title=title, yaxis_title=t("axis_ms", lang), **LAYOUT)
    return fig


def quality_indicators(stats: dict[str, Any]) -> dict[str, float | None]:
    def number(value: Any) -> float | None:
        return float(value) if isinstance(value, int | float) else None

    feedback = stats.get("feedback") if isinstance(stats.get("feedback"), dict) else {}
    last_n = stats.get("last_n") if isinstance(stats.get("last_n"), dict) else {}
    return {
        "kpi_confidence": number(last_n.get("mean_confidence")),
        "kpi_uncertain": number(stats.get("uncertain_share")),
        "kpi_feedback": number(feedback.get("accuracy")),
    }


def quality_chart(stats: dict[str, Any], lang: str) -> go.Figure:
    title = t("chart_quality", lang)
    values = {k: v for k, v in quality_indicators(stats).items() if v is not None}
    if not values:
        return empty_figure(title, lang)
    names = [t(k, lang) for k in values]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=list(values.values()),
            marker_color=OKABE_ITO[: len(values)],
            text=[f"{v:.1%}" for v in values.values()],
        )
    )
    fig.update_layout(title=title, yaxis={"range": [0, 1], "tickformat": ".0%"}, **LAYOUT)
    return fig
