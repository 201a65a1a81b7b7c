"""The Models tab's learning curves and confusion-matrix cells, the Monitoring tab's time series
and backend status: fetched from the backend (`/v1/runs`, `/v1/runs/{run_id}/curves`,
`/v1/models/{model}/test-predictions`, `/v1/thumbnails/{image}`, `/v1/stats/series`, `/ready`),
kept in the tabs' states as answers, rendered here in the page's language.

A state is `{"response": <answer or None>, "message": <views.Message or None>}` like the other
tabs'; rendering never calls the backend, so a language switch re-renders from the states.
"""

import io
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from PIL import Image

from flipkart_ui import charts, views
from flipkart_ui.api_client import ApiClient, ApiError
from flipkart_ui.config import Settings
from flipkart_ui.i18n import category, date_time, percent, t
from flipkart_ui.palette import OKABE_ITO, category_colors

CURVE_TAGS = ["val/accuracy", "val/macro_f1", "val/loss", "train/loss", "train/accuracy"]
SERIES_WINDOW_H = 48
SERIES_BUCKET_MIN = 60
MAX_CELL_IMAGES = 60
PHONE_LEGEND = {"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0}  # under the plot

State = dict[str, Any]


def failed(exc: ApiError, settings: Settings, feature: str) -> State:
    """A state holding what to tell the user about a failed call (views.error_message's)."""
    return {"response": None, "message": views.error_message(exc, settings, feature)}


# ---- Models: learning curves -------------------------------------------------------------


def fetch_curves(client: ApiClient, settings: Settings) -> State:
    """Every kept run and its curves (the tags of CURVE_TAGS)."""
    try:
        runs = client.runs()
        curves = {run["run_id"]: client.curves(run["run_id"], CURVE_TAGS) for run in runs}
    except ApiError as exc:
        return failed(exc, settings, "/v1/runs")
    return {"response": {"runs": runs, "curves": curves}, "message": None}


def curve_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"curve_{tag.replace('/', '_')}", lang), tag) for tag in CURVE_TAGS]


def run_name(run: dict[str, Any], lang: str) -> str:
    """ "efficientnet_lite0 · finetune · 1 Dec 2026, 03:56 UTC": short, and distinct per run."""
    stamp = run["run_id"].split("_", 1)[0]
    try:
        when = date_time(datetime.strptime(stamp, "%Y%m%d-%H%M%S"), lang)
    except ValueError:
        when = stamp
    mode = t(f"mode_{run.get('training_mode')}", lang) if run.get("training_mode") else "?"
    return f"{run.get('architecture', '?')} · {mode} · {when}"


def run_names(runs: list[dict[str, Any]], lang: str) -> dict[str, str]:
    """`run_name` of each run; runs started in the same minute get their seconds too."""
    names = {run["run_id"]: run_name(run, lang) for run in runs}
    seen: dict[str, int] = {}
    for name in names.values():
        seen[name] = seen.get(name, 0) + 1
    for run_id, name in names.items():
        if seen[name] > 1:
            clock = run_id.split("_", 1)[0][-6:]
            names[run_id] = f"{name} (+{clock[4:]} s)"
    return names


def curves_chart(state: State, tag: str | None, lang: str) -> go.Figure:
    tag = tag if tag in CURVE_TAGS else CURVE_TAGS[0]
    title = t("chart_curves", lang, metric=t(f"curve_{tag.replace('/', '_')}", lang))
    response = state.get("response") or {}
    fig = go.Figure()
    runs = response.get("runs") or []
    names = run_names(runs, lang)
    for i, run in enumerate(runs):
        points = (response.get("curves") or {}).get(run["run_id"], {}).get(tag) or []
        if not points:
            continue
        fig.add_trace(
            go.Scatter(
                x=[p[0] for p in points],
                y=[p[1] for p in points],
                mode="lines+markers",
                name=names[run["run_id"]],
                line={"color": OKABE_ITO[i % len(OKABE_ITO)], "width": 2},
                marker={"size": 5},
                hovertemplate="%{fullData.name}<br>%{x}: %{y:.3f}<extra></extra>",
            )
        )
    if not fig.data:
        return charts.empty_figure(title, lang)
    axis = charts.percent_axis(lang) if tag.endswith(("accuracy", "macro_f1")) else {}
    fig.update_layout(
        title=title,
        xaxis={"title": t("axis_epoch", lang), "tickformat": ",d"},
        yaxis=axis,
        legend=PHONE_LEGEND,
        height=560,
        separators=charts.SEPARATORS[lang],
        **{**charts.LAYOUT, "margin": {**charts.LAYOUT["margin"], "b": 40}},
    )
    return fig


def curves_status(state: State, lang: str) -> str:
    if state.get("message"):
        return views.render_message(state["message"], lang)
    runs = (state.get("response") or {}).get("runs")
    if runs is None:
        return ""
    return t("curves_loaded", lang, count=len(runs)) if runs else t("curves_none", lang)


# ---- Models: confusion-matrix cells --------------------------------------------------------


def fetch_cells(client: ApiClient, settings: Settings, model: str | None) -> State:
    if not model:
        return {"response": None, "message": None}
    try:
        return {"response": client.test_predictions(model), "message": None}
    except ApiError as exc:
        if exc.code == "no_test_predictions" or exc.kind == "not_deployed":
            return {"response": None, "message": ("cells_unavailable", {})}
        return failed(exc, settings, "/v1/models")


def cells_table(state: State, lang: str) -> pd.DataFrame:
    """The served confusion matrix: one row per true category, one column per predicted one."""
    cells = state.get("response") or {}
    classes = cells.get("classes") or []
    matrix = cells.get("confusion_matrix") or []
    corner = t("cells_corner", lang)
    names = [category(c, lang) for c in classes]
    rows = [[names[i], *row] for i, row in enumerate(matrix) if i < len(names)]
    return pd.DataFrame(rows, columns=[corner, *names])


def cells_hint(state: State, lang: str) -> str:
    if state.get("message"):
        return views.render_message(state["message"], lang)
    cells = state.get("response")
    if not cells:
        return ""
    hint = t("cells_hint", lang, count=len(cells.get("predictions") or []))
    if cells.get("matches_card") is False:
        hint += " " + t("cells_differ", lang)
    return hint


def cell_members(state: State, row: int, column: int) -> list[dict[str, Any]]:
    """The test images whose true class is row `row` and predicted class column `column`."""
    cells = state.get("response") or {}
    classes = cells.get("classes") or []
    if not (0 <= row < len(classes) and 0 <= column < len(classes)):
        return []
    true, predicted = classes[row], classes[column]
    return [
        p
        for p in cells.get("predictions") or []
        if p.get("label") == true and p.get("predicted") == predicted
    ]


def cell_caption(state: State, cell: list[int] | None, lang: str) -> str:
    if not cell:
        return ""
    cells = state.get("response") or {}
    classes = cells.get("classes") or []
    row, column = cell
    if not (0 <= row < len(classes) and 0 <= column < len(classes)):
        return ""
    members = cell_members(state, row, column)
    key = "cell_caption_right" if row == column else "cell_caption_wrong"
    caption = t(
        key,
        lang,
        count=len(members),
        true=category(classes[row], lang),
        predicted=category(classes[column], lang),
    )
    if len(members) > MAX_CELL_IMAGES:
        caption += " " + t("cell_caption_first", lang, count=MAX_CELL_IMAGES)
    return caption


def cell_gallery(
    client: ApiClient, state: State, cell: list[int] | None, lang: str
) -> list[tuple[Image.Image, str]]:
    """The cell's thumbnails (fetched from the backend), each captioned with its confidence."""
    if not cell:
        return []
    images = []
    for member in cell_members(state, *cell)[:MAX_CELL_IMAGES]:
        try:
            with Image.open(io.BytesIO(client.thumbnail(member["image"]))) as image:
                picture = image.convert("RGB")
        except (ApiError, OSError):
            continue  # one missing thumbnail does not hide the others
        images.append((picture, percent(member.get("confidence"), lang, 0)))
    return images


# ---- Monitoring: status and time series ----------------------------------------------------


def fetch_series(client: ApiClient, settings: Settings) -> State:
    """`/ready` (the status indicator: never fails) and `/v1/stats/series`."""
    try:
        ready: dict[str, Any] = client.ready()
    except ApiError as exc:
        ready = {"status": "unreachable" if exc.kind in ("unreachable", "timeout") else "error"}
    state: State = {"response": None, "message": None, "ready": ready}
    try:
        state["response"] = client.stats_series(SERIES_WINDOW_H, SERIES_BUCKET_MIN)
    except ApiError as exc:
        state["message"] = failed(exc, settings, "/v1/stats")["message"]
    return state


# A coloured dot (a glyph every font has: emoji are missing from many) and the word for it.
STATUS_COLOURS = {
    "ready": "#009E73",
    "degraded": "#E69F00",
    "not_ready": "#D55E00",
    "unreachable": "#666666",
    "error": "#D55E00",
}


def health_line(state: State, lang: str) -> str:
    ready = state.get("ready") or {}
    status = ready.get("status")
    if status not in STATUS_COLOURS:
        return ""
    dot = f'<span style="color: {STATUS_COLOURS[status]}">●</span>'
    line = f"{dot} **{t(f'health_{status}', lang)}**"
    if status in ("ready", "degraded") and ready.get("model"):
        line += " · " + t("health_model", lang, model=ready["model"])
    return line


def bucket_times(series: dict[str, Any]) -> list[datetime]:
    return [datetime.fromisoformat(b["start"].replace("Z", "")) for b in series["buckets"]]


def window_axis(series: dict[str, Any]) -> dict:
    """A time axis over the whole window (one point must not zoom it to milliseconds)."""
    times = bucket_times(series)
    bucket = timedelta(minutes=series.get("bucket_minutes") or SERIES_BUCKET_MIN)
    return {"type": "date", "range": [times[0], times[-1] + bucket]} if times else {}


def requests_chart(state: State, lang: str) -> go.Figure:
    """Requests per hour, stacked: new predictions and answers from the store (cache hits)."""
    title = t("chart_requests", lang)
    series = state.get("response") or {}
    if not series.get("buckets") or not series.get("requests"):
        return charts.empty_figure(title, lang)
    times = bucket_times(series)
    hits = [b["cache_hits"] for b in series["buckets"]]
    new = [b["requests"] - b["cache_hits"] for b in series["buckets"]]
    fig = go.Figure(
        [
            go.Bar(x=times, y=new, name=t("series_new", lang), marker_color=OKABE_ITO[4]),
            go.Bar(x=times, y=hits, name=t("series_cached", lang), marker_color=OKABE_ITO[1]),
        ]
    )
    fig.update_layout(
        title=title,
        barmode="stack",
        xaxis=window_axis(series),
        yaxis={"title": t("axis_requests", lang), **charts.count_axis(max(series_totals(series)))},
        legend=PHONE_LEGEND,
        separators=charts.SEPARATORS[lang],
        **charts.LAYOUT,
    )
    return fig


def series_totals(series: dict[str, Any]) -> list[int]:
    return [b["requests"] for b in series.get("buckets") or []] or [0]


def latency_series_chart(state: State, lang: str) -> go.Figure:
    title = t("chart_latency_series", lang)
    series = state.get("response") or {}
    buckets = [b for b in series.get("buckets") or [] if b.get("latency_ms")]
    if not buckets:
        return charts.empty_figure(title, lang)
    times = bucket_times({"buckets": buckets})
    axis = window_axis(series)
    fig = go.Figure(
        [
            go.Scatter(
                x=times,
                y=[b["latency_ms"][key] for b in buckets],
                name=key,
                mode="lines+markers",
                line={"color": OKABE_ITO[i]},
            )
            for i, key in enumerate(("p50", "p95", "p99"))
        ]
    )
    fig.update_layout(
        title=title,
        xaxis=axis,
        yaxis={"title": t("axis_ms", lang), "rangemode": "tozero"},
        legend=PHONE_LEGEND,
        separators=charts.SEPARATORS[lang],
        **charts.LAYOUT,
    )
    return fig


def training_shares(dashboard: pd.DataFrame | None) -> dict[str, float]:
    """Each category's share of the training split (the dashboard CSV's `split` column)."""
    if dashboard is None or "label" not in dashboard:
        return {}
    frame = dashboard[dashboard["split"] == "train"] if "split" in dashboard else dashboard
    return {str(k): float(v) for k, v in frame["label"].value_counts(normalize=True).items()}


def label_mix_chart(state: State, training: dict[str, float], lang: str) -> go.Figure:
    """The answered labels' shares over the window beside the training split's."""
    title = t("chart_label_mix", lang, hours=SERIES_WINDOW_H)
    served = (state.get("response") or {}).get("by_label") or {}
    total = sum(served.values())
    if not total:
        return charts.empty_figure(title, lang)
    labels = sorted({*served, *training})
    names = [category(label, lang) for label in labels]
    colours = category_colors(labels)
    fig = go.Figure(
        [
            go.Bar(
                x=names,
                y=[served.get(label, 0) / total for label in labels],
                name=t("mix_served", lang),
                marker_color=[colours[label] for label in labels],
                text=[percent(served.get(label, 0) / total, lang, 0) for label in labels],
                textposition="outside",
                cliponaxis=False,
            ),
            go.Bar(
                x=names,
                y=[training.get(label, 0.0) for label in labels],
                name=t("mix_training", lang),
                marker_color="#BBBBBB",
            ),
        ]
    )
    fig.update_layout(
        title=title,
        barmode="group",
        yaxis={"rangemode": "tozero", **charts.percent_axis(lang)},
        legend=PHONE_LEGEND,
        **{**charts.LAYOUT, "margin": {**charts.LAYOUT["margin"], "b": 110}},
    )
    return fig


def series_figures(
    state: State, training: dict[str, float], lang: str
) -> tuple[go.Figure, go.Figure, go.Figure]:
    return (
        requests_chart(state, lang),
        latency_series_chart(state, lang),
        label_mix_chart(state, training, lang),
    )
