"""Plotly figures and the aggregates behind them. Pure functions: data in, figure out."""

from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

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


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict) or key not in mapping:
            return None
        mapping = mapping[key]
    return mapping


def leaderboard(models: dict[str, Any]) -> pd.DataFrame:
    """One row per model, best test macro-F1 first. Missing card fields stay empty (NaN)."""
    rows = []
    for item in models.get("models", []):
        card = item.get("card") or {}
        parameters = card.get("parameters")
        rows.append(
            {
                "name": item.get("name") or card.get("name"),
                "run_id": item.get("run_id") or card.get("run_id"),
                "framework": item.get("framework") or card.get("framework"),
                "mode": item.get("mode") or card.get("mode"),
                "accuracy": _get(card, "metrics", "test", "accuracy"),
                "macro_f1": _get(card, "metrics", "test", "macro_f1"),
                "latency_ms": _get(card, "latency_ms", "batch_1"),
                "parameters_m": parameters / 1e6 if isinstance(parameters, int | float) else None,
                "is_production": bool(item.get("is_production")),
            }
        )
    columns = ["name", "run_id", "framework", "mode", "accuracy", "macro_f1", "latency_ms"]
    frame = pd.DataFrame(rows, columns=[*columns, "parameters_m", "is_production"])
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
    names = {
        "name": "col_model",
        "run_id": "col_run_id",
        "framework": "col_framework",
        "mode": "col_mode",
        "accuracy": "col_accuracy",
        "macro_f1": "col_macro_f1",
        "latency_ms": "col_latency",
        "parameters_m": "col_parameters",
        "is_production": "col_production",
    }
    return shown.rename(columns={k: t(v, lang) for k, v in names.items()})


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
                text=group["name"],
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
    # room around the points so that the model names written beside them stay inside
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
    rows = []
    for item in models.get("models", []):
        card = item.get("card") or {}
        per_class = _get(card, "metrics", "test", "per_class") or {}
        for label, scores in per_class.items():
            if isinstance(scores, dict) and "f1" in scores:
                rows.append({"model": item.get("name"), "label": label, "f1": scores["f1"]})
    return pd.DataFrame(rows, columns=["model", "label", "f1"])


def per_class_f1_chart(models: dict[str, Any], lang: str) -> go.Figure:
    title = t("chart_f1", lang)
    frame = per_class_f1(models)
    if frame.empty:
        return empty_figure(title, lang)
    fig = px.bar(
        frame,
        x="label",
        y="f1",
        color="model",
        barmode="group",
        color_discrete_sequence=OKABE_ITO[4:] + OKABE_ITO[:4],
        labels={"label": t("axis_category", lang), "f1": t("axis_f1", lang), "model": ""},
    )
    fig.update_layout(title=title, yaxis_range=[0, 1], **LAYOUT)
    return fig


def production_item(models: dict[str, Any]) -> dict[str, Any] | None:
    for item in models.get("models", []):
        if item.get("is_production") or item.get("run_id") == models.get("production"):
            return item
    return None


def confusion_chart(item: dict[str, Any] | None, lang: str) -> go.Figure:
    card = (item or {}).get("card") or {}
    title = t("chart_confusion", lang, name=card.get("name") or (item or {}).get("name") or "?")
    matrix = _get(card, "metrics", "test", "confusion_matrix")
    classes = card.get("classes") or []
    if not matrix or len(matrix) != len(classes):
        return empty_figure(title, lang)
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


def production_since(models: dict[str, Any], item: dict[str, Any] | None) -> str | None:
    """When the production model was promoted, if the backend says so (contract field optional)."""
    if item is None:
        return None
    for value in (item.get("promoted_at"), models.get("production_since")):
        if value:
            return str(value)
    history = models.get("history") or []
    promotions = [h for h in history if isinstance(h, dict) and h.get("run_id") == item["run_id"]]
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
