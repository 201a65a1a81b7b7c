"""Cross-framework comparison for `merged_notebook.ipynb`: read every run's TensorBoard events
and summaries (both labs), the leaderboard, and build the comparison figures.

Reads only files, through the contract's readers (`flipkart_contract.load_metrics` and
`load_registry`, which also read schema-1 files), never the labs' training code, so it works the
same on PyTorch and TensorFlow runs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from flipkart_contract import Registry, RunMetrics, load_metrics, load_registry
from flipkart_contract.schema import ListingCard, describe_error, load_listing_card
from plotly.subplots import make_subplots
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

# Okabe–Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
CURVE_TAGS = ("train/loss", "val/loss", "train/accuracy", "val/accuracy", "val/macro_f1", "lr")


def read_scalars(run_dir: Path) -> pd.DataFrame:
    """Every scalar of one run as rows (tag, step, value).

    PyTorch's SummaryWriter stores scalars as `simple_value`; TensorFlow 2's `tf.summary.scalar`
    stores them as tensors tagged with the scalars plugin: both are read.
    """
    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    rows = []
    tags = accumulator.Tags()
    for tag in tags.get("scalars", []):
        rows += [(tag, e.step, float(e.value)) for e in accumulator.Scalars(tag)]
    for tag in tags.get("tensors", []):
        for event in accumulator.Tensors(tag):
            array = tensor_util.make_ndarray(event.tensor_proto)
            if array.dtype.kind in "fiu" and array.size == 1:
                rows.append((tag, event.step, float(array.reshape(()))))
    return pd.DataFrame(rows, columns=["tag", "step", "value"])


def run_dirs(runs: Path) -> list[Path]:
    """The image labs' runs under `runs/<folder>/` (`runs/text/` holds the text models' runs:
    see the listing section)."""
    return sorted(p.parent for p in runs.glob("*/*/metrics.json") if p.parent.parent.name != "text")


def read_metrics(path: Path) -> RunMetrics:
    """A run's metrics.json, validated; ValueError naming the file otherwise."""
    try:
        return load_metrics(path)
    except ValueError as error:
        raise ValueError(f"{path}: not a valid metrics.json ({describe_error(error)})") from error


def run_record(metrics: RunMetrics, run_dir: Path) -> dict:
    test = metrics.final.test
    return {
        "run_id": metrics.run_id,
        "framework": metrics.framework,
        "architecture": metrics.architecture,
        "training_mode": metrics.training_mode,
        "weights_source": metrics.weights_source,
        "image_size": metrics.config.get("image_size"),
        "epochs_run": metrics.epochs_run,
        "wall_time_min": round(metrics.wall_time_s / 60, 1),
        "budget": metrics.budget,
        "test_accuracy": test.accuracy,
        "test_macro_f1": test.macro_f1,
        "classes": metrics.classes,
        "per_class": {k: v.model_dump() for k, v in (test.per_class or {}).items()},
        "confusion_matrix": test.confusion_matrix,
        "path": str(run_dir),
    }


def load_runs(runs: Path) -> pd.DataFrame:
    """One row per run (from metrics.json): identity, weights, budget and final figures."""
    records = [run_record(read_metrics(d / "metrics.json"), d) for d in run_dirs(runs)]
    return pd.DataFrame.from_records(records)


def read_registry(path: Path) -> Registry | None:
    """`artifacts/registry.json`, validated; None when there is none yet."""
    return load_registry(path) if path.is_file() else None


def load_curves(runs: Path) -> pd.DataFrame:
    """Scalars of every run, labelled with the run's identity."""
    frames = []
    for run_dir in run_dirs(runs):
        scalars = read_scalars(run_dir)
        scalars["run_id"] = run_dir.name
        scalars["framework"] = run_dir.parent.name
        frames.append(scalars)
    if not frames:
        return pd.DataFrame(columns=["tag", "step", "value", "run_id", "framework"])
    return pd.concat(frames, ignore_index=True)


def label_of(run_id: str, framework: str = "") -> str:
    """`20261123-1015_efficientnet_lite0_finetune`, `pytorch` -> `efficientnet_lite0 finetune (pt)`
    (architecture and training mode).

    The framework suffix keeps the labels unique: both labs train an `efficientnet_b0`.
    """
    parts = run_id.split("_", 1)
    if len(parts) == 2 and "_" in parts[1]:
        architecture, training_mode = parts[1].rsplit("_", 1)
        label = f"{architecture} {training_mode}"
    else:
        label = run_id
    suffix = {"pytorch": "pt", "tensorflow": "tf"}.get(framework, framework)
    return f"{label} ({suffix})" if suffix else label


def labels_for(run_ids: list[str], frameworks: list[str]) -> list[str]:
    """One label per run, unique among these runs: `label_of`, plus the run's start time
    (`@09:38`) where runs share architecture, training mode and framework, and the run_id as a
    last resort."""
    base = [label_of(r, f) for r, f in zip(run_ids, frameworks, strict=True)]
    labels = list(base)
    for i, (run_id, label) in enumerate(zip(run_ids, base, strict=True)):
        if base.count(label) > 1:
            stamp = run_id.split("_", 1)[0].rpartition("-")[2]
            labels[i] = f"{label} @{stamp[:2]}:{stamp[2:4]}" if len(stamp) >= 4 else run_id
    timed = list(labels)
    for i, (run_id, framework) in enumerate(zip(run_ids, frameworks, strict=True)):
        if timed.count(timed[i]) > 1:
            labels[i] = f"{run_id} ({framework})"
    return labels


def curves_figure(curves: pd.DataFrame, tags: tuple[str, ...] = CURVE_TAGS) -> go.Figure:
    """Learning curves of every run overlaid, one panel per tag."""
    cols = 2
    rows = (len(tags) + cols - 1) // cols
    figure = make_subplots(rows=rows, cols=cols, subplot_titles=tags)
    # A run is (framework, run_id): both labs may start a run in the same second.
    keys = sorted(set(zip(curves["run_id"], curves["framework"], strict=True)))
    names = labels_for([r for r, _ in keys], [f for _, f in keys])
    for i, ((run_id, framework), name) in enumerate(zip(keys, names, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        dash = "solid" if framework == "pytorch" else "dash"
        run = curves[(curves.framework == framework) & (curves.run_id == run_id)]
        for k, tag in enumerate(tags):
            data = run[run.tag == tag].sort_values("step")
            if data.empty:
                continue
            figure.add_trace(
                go.Scatter(
                    x=data.step, y=data.value, mode="lines+markers", name=name,
                    legendgroup=name, showlegend=k == 0, line={"color": color, "dash": dash},
                ),
                row=k // cols + 1, col=k % cols + 1,
            )  # fmt: skip
    figure.update_layout(
        height=320 * rows, title="Learning curves (solid: PyTorch, dashed: TensorFlow)"
    )
    figure.update_xaxes(title_text="epoch")
    return figure


def accuracy_latency_figure(leaderboard: pd.DataFrame) -> go.Figure:
    """Test accuracy against batch-1 latency, bubble size = parameters (exported models only)."""
    data = leaderboard[leaderboard["status"] == "exported"].copy()
    data["parameters_m"] = data["parameters"].fillna(0) / 1e6
    data["label"] = labels_for(list(data["run_id"]), list(data["framework"]))
    figure = px.scatter(
        data, x="latency_ms_batch_1", y="test_accuracy", color="framework", size="parameters_m",
        text="label", hover_data=["run_id", "test_macro_f1", "weights_source"],
        color_discrete_sequence=PALETTE, size_max=40,
        labels={
            "latency_ms_batch_1": "ONNX Runtime latency, batch 1 (ms)",
            "test_accuracy": "test accuracy",
        },
        title="Accuracy vs latency (bubble size: parameters)",
    )  # fmt: skip
    figure.update_traces(textposition="top center")
    span = data["latency_ms_batch_1"].agg(["min", "max"]) if len(data) else None
    if span is not None and span.notna().all():  # room for the labels at both ends
        pad = max((span["max"] - span["min"]) * 0.25, 0.5)
        figure.update_xaxes(range=[max(span["min"] - pad, 0), span["max"] + pad])
    return figure


def short_names(classes: list[str]) -> list[str]:
    """Axis labels: the fewest leading words that keep every class apart.

    `Home Decor & Festive Needs` and `Home Furnishing` share their first word: a categorical
    axis would merge them, so they become `Home Decor` and `Home Furnishing`.
    """
    longest = max((len(c.split()) for c in classes), default=1)
    for words in range(1, longest + 1):
        names = [" ".join(c.split()[:words]) for c in classes]
        if len(set(names)) == len(names):
            return names
    return list(classes)


def confusion_figure(runs_table: pd.DataFrame) -> go.Figure:
    """Test confusion matrices side by side, rows normalised to recall."""
    data = runs_table[runs_table["confusion_matrix"].notna()]
    titles = labels_for(list(data["run_id"]), list(data["framework"]))
    panels = [
        (title, run.confusion_matrix, list(run.classes))
        for title, (_, run) in zip(titles, data.iterrows(), strict=True)
    ]
    return confusion_grid(panels, "Test confusion matrices")


def confusion_grid(panels: list[tuple[str, list[list[int]], list[str]]], title: str) -> go.Figure:
    """(title, confusion matrix, classes) panels, three to a row, rows normalised to recall."""
    n = max(len(panels), 1)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    figure = make_subplots(
        rows=rows, cols=cols, subplot_titles=[p[0] for p in panels], horizontal_spacing=0.12,
        vertical_spacing=min(0.16, 0.6 / max(rows - 1, 1)),  # plotly: at most 1 / (rows - 1)
    )  # fmt: skip
    for i, (_, confusion, classes) in enumerate(panels, start=1):
        row, col = (i - 1) // cols + 1, (i - 1) % cols + 1
        matrix = np.asarray(confusion, dtype=float)
        recall = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        short = short_names(classes)
        figure.add_trace(
            go.Heatmap(
                z=recall, x=short, y=short, zmin=0, zmax=1, colorscale="Blues", showscale=i == n,
                text=matrix.astype(int), texttemplate="%{text}",
                hovertemplate="true %{y}<br>predicted %{x}<br>%{text} images<extra></extra>",
            ),
            row=row, col=col,
        )  # fmt: skip
        figure.update_yaxes(autorange="reversed", row=row, col=col)
    figure.update_layout(height=380 * rows + 60, width=max(560, 470 * cols), title=title)
    return figure


# ---------------------------------------------------------------- listings (photo + text)


def load_listing(artifacts: Path) -> ListingCard | None:
    """The listing registered in `registry.json`, else the newest under `artifacts/listing`."""
    registry = read_registry(artifacts / "registry.json")
    names = [registry.listing] if registry and registry.listing else []
    names += sorted(
        (p.parent.name for p in (artifacts / "listing").glob("*/card.json")), reverse=True
    )
    for name in names:
        path = artifacts / "listing" / name / "card.json"
        if path.is_file():
            return load_listing_card(path)
    return None


def listing_table(card: ListingCard) -> pd.DataFrame:
    """One row per input (image, text:<input>, fused:<input>): val and test accuracy, macro-F1."""
    rows = []
    for key in card.metrics["test"]:
        row = {"input": key}
        for split, per in card.metrics.items():
            if key in per:
                row[f"{split}_accuracy"] = per[key].accuracy
                row[f"{split}_macro_f1"] = per[key].macro_f1
        rows.append(row)
    return pd.DataFrame(rows).set_index("input").round(3)


def listing_confusion_figure(card: ListingCard, text_input: str = "title+description") -> go.Figure:
    """Test confusion matrices of the photo alone, the text alone and both, side by side."""
    test = card.metrics["test"]
    keys = [k for k in ("image", f"text:{text_input}", f"fused:{text_input}") if k in test]
    panels = [(key, test[key].confusion_matrix, card.classes) for key in keys]
    return confusion_grid(panels, f"Test confusion: photo, text ({text_input}), both")


def text_fixes(card: ListingCard, text_input: str = "title+description") -> pd.DataFrame:
    """Per class, test F1 of the photo alone, the text alone and both, and what fusing changed."""
    test = card.metrics["test"]
    columns = {"photo": "image", "text": f"text:{text_input}", "both": f"fused:{text_input}"}
    table = pd.DataFrame(
        {
            name: {c: r.f1 for c, r in (test[key].per_class or {}).items()}
            for name, key in columns.items()
            if key in test
        }
    )
    for part in ("photo", "text"):
        if part in table and "both" in table:
            table[f"both - {part}"] = table["both"] - table[part]
    order = "both - photo" if "both - photo" in table else table.columns[0]
    return table.round(3).sort_values(order, ascending=False)


def per_class_f1(runs_table: pd.DataFrame) -> pd.DataFrame:
    """Long table: run_id, run (its unique label, `labels_for`), class, f1."""
    labels = labels_for(list(runs_table["run_id"]), list(runs_table["framework"]))
    rows = [
        {"run_id": run.run_id, "run": label, "class": name, "f1": scores.get("f1")}
        for label, (_, run) in zip(labels, runs_table.iterrows(), strict=True)
        for name, scores in (run.per_class or {}).items()
    ]
    return pd.DataFrame(rows, columns=["run_id", "run", "class", "f1"])


def per_class_f1_figure(runs_table: pd.DataFrame) -> go.Figure:
    data = per_class_f1(runs_table)
    figure = px.bar(
        data, x="class", y="f1", color="run", barmode="group", color_discrete_sequence=PALETTE,
        title="Per-class F1 on the test split",
    )  # fmt: skip
    figure.update_yaxes(range=[0, 1])
    return figure


def static_png(figure: go.Figure) -> bytes | None:
    """The figure as PNG through Kaleido (headless Chromium), or None when it cannot render.

    Kaleido's browser driver logs harmless protocol chatter on stderr; it is kept out of the
    notebook's outputs.
    """
    for name in ("choreographer", "kaleido", "logistro"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return compact_png(figure.to_image(format="png", scale=1))
    except Exception as exc:  # no browser for Kaleido: keep the interactive figure only
        print(f"(static image unavailable: {type(exc).__name__}: {exc})")
        return None


def compact_png(png: bytes) -> bytes:
    """A chart's PNG with a palette of 256 colours, optimised: flat-coloured charts lose
    nothing visible and shrink about threefold, which counts in a notebook committed with its
    figures (the clone's size budget). The original is kept when it is the smaller."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        paletted = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    paletted.save(out, format="PNG", optimize=True)
    return min(png, out.getvalue(), key=len)


def show(figure: go.Figure, static: bool = True) -> None:
    """Display interactively and, when Kaleido can render, with a PNG that GitHub shows."""
    from IPython.display import display

    bundle = {"application/vnd.plotly.v1+json": json.loads(figure.to_json())}
    png = static_png(figure) if static else None
    if png is not None:
        bundle["image/png"] = png
    display(bundle, raw=True)
