"""Plotly figures and the aggregates behind them. Pure functions: data in, figure out."""

from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from flipkart_contract import ModelCard
from flipkart_contract.run_id import parse_run_id

from flipkart_ui.i18n import category, date_time, decimal, percent, t
from flipkart_ui.palette import OKABE_ITO, SEQUENTIAL, category_colors

LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 30, "t": 50, "b": 50}}
SEPARATORS = {"en": ".,", "fr": ", "}  # Plotly's decimal and thousands separators


def percent_axis(lang: str, low: float = 0.0, high: float = 1.0) -> dict:
    """Ticks of a 0–1 axis written as percentages the language's way ("80 %" in French)."""
    span = high - low
    step = 0.2 if span > 0.5 else 0.1 if span > 0.25 else 0.05 if span > 0.1 else 0.02
    first = max(0.0, round(low / step) * step)
    ticks = [round(first + i * step, 6) for i in range(int((high - first) / step) + 1)]
    ticks = [v for v in ticks if low - 1e-9 <= v <= high + 1e-9] or [low, high]
    return {"tickvals": ticks, "ticktext": [percent(v, lang, 0) for v in ticks]}


def empty_figure(title: str, lang: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=t("no_data", lang), showarrow=False, font={"size": 16})
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **LAYOUT)
    return fig


def translate_categories(fig: go.Figure, lang: str) -> go.Figure:
    """The class names a figure shows (trace names, x/y values, category orders) in `lang`.

    Charts are built on the dataset's class names, so colours (sorted names) stay the same in
    every language; only what is written changes."""
    fig.update_layout(separators=SEPARATORS.get(lang, SEPARATORS["en"]))
    if lang == "en":
        return fig

    def shown(values: Any) -> Any:
        if values is None or isinstance(values, str):
            return category(values, lang) if isinstance(values, str) else values
        items = list(values)
        if not any(isinstance(v, str) for v in items):
            return values
        return [category(v, lang) if isinstance(v, str) else v for v in items]

    for trace in fig.data:
        if getattr(trace, "name", None):
            trace.name = category(trace.name, lang)
        for axis in ("x", "y"):
            if hasattr(trace, axis) and getattr(trace, axis) is not None:
                setattr(trace, axis, shown(getattr(trace, axis)))
        if hasattr(trace, "legendgroup") and trace.legendgroup:
            trace.legendgroup = category(trace.legendgroup, lang)
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        if axis.categoryarray is not None:
            axis.categoryarray = shown(axis.categoryarray)
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
        # SVG whatever the number of points (Plotly Express switches to WebGL over 1,000), so a
        # filtered selection draws the same way as the whole dataset
        render_mode="svg",
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


def dataset_figures(frame: pd.DataFrame, lang: str, all_labels: list[str]) -> list[go.Figure]:
    """Every dataset chart of the whole dataset, its texts in `lang` and its categories by their
    class names: what `keep_categories` filters."""
    return [build(frame, lang, all_labels) for build in DATASET_CHARTS]


def keep_categories(fig: go.Figure, categories: list[str] | None, lang: str) -> go.Figure:
    """`fig` (one of `dataset_figures` in `lang`) with the traces of `categories` only, its
    categories named in `lang`: a new figure, `fig` is left as it was.

    Each dataset chart has one trace per category (its `legendgroup`), so dropping the others
    gives the chart that those categories' rows alone build (Plotly bins the histograms and
    scales the axes from the traces it is given), without Plotly Express's cost."""
    kept = [trace for trace in fig.data if categories is None or trace.legendgroup in categories]
    if not kept:
        return empty_figure(fig.layout.title.text, lang)
    return translate_categories(go.Figure(data=kept, layout=fig.layout), lang)


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
            y=[category(label, lang) for label in labels],
            orientation="h",
            marker_color=[colors[label] for label in labels],
            # always beside the bar, horizontal: a thin bar would rotate or hide its figure
            text=[percent(p["probability"], lang) for p in rows],
            textposition="outside",
            textangle=0,
            cliponaxis=False,
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis={"range": [0, 1.15], "title": t("axis_probability", lang), **percent_axis(lang)},
        yaxis={"automargin": True},
        **LAYOUT,
    )
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


def run_labels(entries: list[ModelEntry], lang: str) -> dict[str, str]:
    """A short readable name per run, distinct within the list: "efficientnet_lite0 finetune,
    1 Dec 00:52" (the run's UTC start), with the seconds, then the run id, when needed."""

    def name(entry: ModelEntry, precision: int) -> str:
        try:
            started, architecture, mode = parse_run_id(entry.run_id)
        except ValueError:
            return entry.run_id
        if precision >= 2:
            return entry.run_id
        day = date_time(started, lang, with_time=False).rsplit(" ", 1)[0]
        clock = f"{started:%H:%M:%S}" if precision else f"{started:%H:%M}"
        return f"{architecture} {mode}, {day} {clock}"

    labels: dict[str, str] = {}
    for entry in entries:
        for precision in range(3):
            label = name(entry, precision)
            clash = [e for e in entries if e.run_id != entry.run_id and name(e, precision) == label]
            if not clash:
                break
        labels[entry.run_id] = label
    return labels


LEADERBOARD_COLUMNS = {  # column -> i18n key of its heading
    "run": "col_run_id",
    "framework": "col_framework",
    "training_mode": "col_training_mode",
    "accuracy": "col_accuracy",
    "macro_f1": "col_macro_f1",
    "latency_ms": "col_latency",
    "latency_measured": "col_measured",
    "parameters_m": "col_parameters",
    "is_production": "col_production",
}
HIDDEN_COLUMNS = ["architecture", "run_id", "latency_hardware", "created_at"]


def leaderboard(models: dict[str, Any], lang: str = "en") -> pd.DataFrame:
    """One row per model, best test macro-F1 first. Figures of an unreadable card stay NaN.

    The latency is the card's, measured when the model was exported, on the hardware and date
    the row names: cards exported on different machines are not comparable, so it says so."""
    rows = []
    entries = model_entries(models)
    labels = run_labels(entries, lang)
    for entry in entries:
        card = entry.card
        rows.append(
            {
                "run": labels[entry.run_id],
                "architecture": entry.architecture,
                "run_id": entry.run_id,
                "latency_hardware": card.latency_ms.hardware if card else None,
                "created_at": card.created_at if card else None,
                "latency_measured": t(
                    "measured_on",
                    lang,
                    hardware=card.latency_ms.hardware,
                    date=date_time(card.created_at, lang, with_time=False),
                )
                if card
                else "",
                "framework": entry.framework,
                "training_mode": entry.training_mode,
                "accuracy": card.metrics.test.accuracy if card else None,
                "macro_f1": card.metrics.test.macro_f1 if card else None,
                "latency_ms": card.latency_ms.batch_1 if card else None,
                "parameters_m": card.parameters / 1e6 if card else None,
                "is_production": entry.is_production,
            }
        )
    frame = pd.DataFrame(rows, columns=[*LEADERBOARD_COLUMNS, *HIDDEN_COLUMNS])
    for column in ("accuracy", "macro_f1", "latency_ms", "parameters_m"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame.sort_values("macro_f1", ascending=False, na_position="last", ignore_index=True)


def leaderboard_display(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The table as shown: numbers written the language's way (as text), headings translated."""
    shown = table[list(LEADERBOARD_COLUMNS)].copy()
    shown["is_production"] = shown["is_production"].map(lambda p: t("yes", lang) if p else "")

    def written(digits: int):
        return lambda v: "—" if pd.isna(v) else decimal(float(v), lang, digits)

    for column in ("accuracy", "macro_f1"):
        shown[column] = shown[column].map(written(3))
    shown["latency_ms"] = shown["latency_ms"].map(written(2))
    shown["parameters_m"] = shown["parameters_m"].map(written(2))
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
                text=group["run"],
                textposition="top center",
                cliponaxis=False,
                marker={
                    "size": [18 if p else 11 for p in group["is_production"]],
                    "symbol": ["star" if p else "circle" for p in group["is_production"]],
                    "color": OKABE_ITO[(i + 4) % len(OKABE_ITO)],
                },
                customdata=group["run_id"],
                hovertemplate="%{text}<br>%{customdata}<br>%{y:.3f} / %{x:.2f} ms<extra></extra>",
            )
        )
    # room around the points so that the run names written above them stay inside
    x_min, x_max = float(points["latency_ms"].min()), float(points["latency_ms"].max())
    y_min, y_max = float(points["accuracy"].min()), float(points["accuracy"].max())
    x_pad = max(x_max - x_min, x_max * 0.2, 1.0) * 0.45
    y_pad = max(y_max - y_min, 0.02) * 0.25
    fig.update_layout(
        title=title,
        xaxis={"title": t("axis_latency", lang), "range": [max(0.0, x_min - x_pad), x_max + x_pad]},
        yaxis={
            "title": t("axis_accuracy", lang),
            "range": [y_min - y_pad, min(1.0, y_max + 2 * y_pad)],
            **percent_axis(lang, y_min - y_pad, min(1.0, y_max + 2 * y_pad)),
        },
        separators=SEPARATORS[lang],
        **LAYOUT,
    )
    return fig


def per_class_f1(models: dict[str, Any], lang: str = "en") -> pd.DataFrame:
    """One row per run and class: the card's test F1, keyed by run (runs of one architecture
    stay apart)."""
    entries = model_entries(models)
    labels = run_labels(entries, lang)
    rows = [
        {"run_id": entry.run_id, "run": labels[entry.run_id], "label": label, "f1": scores.f1}
        for entry in entries
        if entry.card is not None
        for label, scores in (entry.card.metrics.test.per_class or {}).items()
    ]
    return pd.DataFrame(rows, columns=["run_id", "run", "label", "f1"])


def per_class_f1_chart(models: dict[str, Any], lang: str) -> go.Figure:
    title = t("chart_f1", lang)
    frame = per_class_f1(models, lang)
    if frame.empty:
        return empty_figure(title, lang)
    colours = OKABE_ITO[4:] + OKABE_ITO[:4]
    patterns = ["", "/", ".", "x"]  # beyond eight runs the colours repeat with a hatch
    fig = go.Figure()
    for i, (run, group) in enumerate(frame.groupby("run", sort=False)):
        fig.add_trace(
            go.Bar(
                x=[category(label, lang) for label in group["label"]],
                y=list(group["f1"]),
                name=str(run),
                marker={
                    "color": colours[i % len(colours)],
                    "pattern": {"shape": patterns[(i // len(colours)) % len(patterns)]},
                },
                hovertemplate="%{fullData.name}<br>%{x}: %{y:.3f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=title,
        barmode="group",
        xaxis_title=t("axis_category", lang),
        yaxis={"title": t("axis_f1", lang), "range": [0, 1]},
        legend={"orientation": "h", "y": -0.25, "yanchor": "top"},
        separators=SEPARATORS[lang],
        **{**LAYOUT, "margin": {**LAYOUT["margin"], "b": 80}},
    )
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
    return translate_categories(fig, lang)


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
    colours = category_colors([*frame["label"].unique(), *(all_labels or [])])
    frame["category"] = [category(label, lang) for label in frame["label"]]
    fig = px.bar(
        frame,
        x="window",
        y="count",
        color="category",
        barmode="group",
        color_discrete_map={category(k, lang): v for k, v in colours.items()},
        labels={
            "window": t("axis_window", lang),
            "count": t("axis_predictions", lang),
            "category": t("axis_category", lang),
        },
    )
    fig.update_layout(
        title=title, yaxis=count_axis(frame["count"].max()), separators=SEPARATORS[lang], **LAYOUT
    )
    return fig


def count_axis(largest: float) -> dict:
    """A count axis from 0 with whole-number ticks only (no "0.5 images")."""
    step = max(1, int(-(-float(largest or 0) // 5)))  # about five ticks, never under 1
    return {"rangemode": "tozero", "tick0": 0, "dtick": step, "tickformat": ",d"}


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
            text=[decimal(v, lang) for v in frame["ms"]],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(
        title=title, yaxis_title=t("axis_ms", lang), separators=SEPARATORS[lang], **LAYOUT
    )
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
            # above the bar, so that 0 % still reads as a figure and not an empty slot
            text=[percent(v, lang) for v in values.values()],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(title=title, yaxis={"range": [0, 1.1], **percent_axis(lang)}, **LAYOUT)
    return fig
