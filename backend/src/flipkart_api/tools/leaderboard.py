"""Cross-framework leaderboard: every exported model and every run, side by side.

Reads `artifacts/models/*/card.json` and `runs/*/*/metrics.json`, re-measures the ONNX Runtime
latency of every export whose file is present, in this one process (same threads, same images,
batch 1 and 16), and writes `artifacts/leaderboard.csv` (one `LeaderboardRow` per line),
`artifacts/leaderboard.md` and the README's table. An export whose ONNX is not in this checkout
(git-ignored) keeps its card's figures, latency included, and is marked as such.

    uv run python -m flipkart_api.tools.leaderboard [--artifacts DIR] [--runs DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from flipkart_contract import (
    LeaderboardRow,
    ModelCard,
    RunMetrics,
    layout,
    load_metrics,
    load_registry,
    parse_run_id,
)
from flipkart_contract.calibration import bootstrap_interval, pairs_from_confusion
from flipkart_contract.files import read_json_object, write_text_atomic
from flipkart_contract.latency import cpu_name
from flipkart_contract.schema import recipe_key
from PIL import Image

from flipkart_api.tools.exports import (
    Export,
    benchmark_images,
    default_artifacts,
    describe_error,
    measure,
    scan_exports,
)

README_START = "<!-- leaderboard:start -->"
README_END = "<!-- leaderboard:end -->"
EXPORTED = "exported"
CARD_FIGURES = "onnx not present (card figures)"
NOT_EXPORTED = "not exported"
RANKED = (EXPORTED, CARD_FIGURES)
CARD_MARK = "†"
COLUMNS = list(LeaderboardRow.model_fields)


def warn(message: str) -> None:
    print(f"leaderboard: {message}", file=sys.stderr)


def scan_runs(runs: Path) -> tuple[dict[str, RunMetrics], list[LeaderboardRow]]:
    """Valid metrics.json by run id, and a row for each invalid one (with the reason)."""
    found, broken = {}, []
    # The image labs' runs (runs/text/ holds the text models': the listing table's).
    paths = sorted(p for f in layout.FRAMEWORKS for p in (runs / f).glob("*/metrics.json"))
    for path in paths:
        try:
            metrics = load_metrics(path)
        except ValueError as exc:
            why = f"invalid metrics.json: {describe_error(exc)}"
            row = identity_row(path.parent.name, path.parent.parent.name, why)
            if row is None:
                warn(f"skipped {path}: {why}")
            else:
                broken.append(row)
            continue
        found[metrics.run_id] = metrics
    return found, broken


def identity_row(run_id: str, framework: object, status: str) -> LeaderboardRow | None:
    """A row with no figures for something unusable, when its run id and framework are known."""
    try:
        _, architecture, training_mode = parse_run_id(run_id)
    except ValueError:
        return None
    if framework not in layout.FRAMEWORKS:
        return None
    return LeaderboardRow(
        run_id=run_id,
        architecture=architecture,
        framework=framework,
        training_mode=training_mode,
        weights_source="",
        status=status,
    )


def hardware_name(metrics: RunMetrics | None) -> str:
    if metrics is None:
        return ""
    device = metrics.hardware.device_name or metrics.hardware.device
    threads = metrics.hardware.num_threads
    return f"{device} ({threads} threads)" if device and threads else device


def export_row(
    export: Export,
    metrics: RunMetrics | None,
    threads: int,
    images: list[Image.Image],
    repeats: int,
) -> LeaderboardRow:
    """Measured now when the ONNX is present; the card's figures when it is absent."""
    card = export.card
    latency, source, onnx_bytes = None, "", None
    if export.onnx == "present":
        latency, source, status = measure(export, images, threads, repeats), "measured", EXPORTED
        onnx_bytes = export.model_path.stat().st_size
    elif export.onnx == "absent":
        latency, source, status = card.latency_ms, "card", CARD_FIGURES
        onnx_bytes = card.onnx.bytes
    else:
        status = export.problem or ""
    return LeaderboardRow(
        run_id=export.run_id,
        architecture=card.architecture,
        framework=card.framework,
        training_mode=card.training_mode,
        weights_source=card.weights_source,
        val_macro_f1=card.metrics.val.macro_f1 if card.metrics.val else None,
        test_accuracy=card.metrics.test.accuracy,
        test_macro_f1=card.metrics.test.macro_f1,
        latency_ms_batch_1=round(latency.batch_1, 3) if latency else None,
        latency_ms_batch_16_per_image=round(latency.batch_16_per_image, 3) if latency else None,
        latency_source=source,
        parameters=card.parameters,
        onnx_bytes=onnx_bytes,
        precision=card.precision,
        training_hardware=hardware_name(metrics),
        training_time_s=metrics.wall_time_s if metrics else None,
        input_size=card.resize_policy.size,
        robustness_worst_drop=card.robustness.worst_drop if card.robustness else None,
        robustness_worst_condition=card.robustness.worst_condition if card.robustness else "",
        robustness_split=card.robustness.split if card.robustness else "",
        status=status,
    )


def run_row(metrics: RunMetrics, status: str) -> LeaderboardRow:
    """A run without a usable export: its own test figures, no latency."""
    image_size = metrics.config.get("image_size")
    return LeaderboardRow(
        run_id=metrics.run_id,
        architecture=metrics.architecture,
        framework=metrics.framework,
        training_mode=metrics.training_mode,
        weights_source=metrics.weights_source,
        val_macro_f1=metrics.final.val.macro_f1,
        test_accuracy=metrics.final.test.accuracy,
        test_macro_f1=metrics.final.test.macro_f1,
        parameters=metrics.parameters,
        training_hardware=hardware_name(metrics),
        training_time_s=metrics.wall_time_s,
        input_size=image_size if isinstance(image_size, int) else None,
        status=status,
    )


def refused_row(folder: Path, why: str, metrics: RunMetrics | None) -> LeaderboardRow | None:
    """A model folder whose card is unusable: the run's figures if any, else just its name."""
    if metrics is not None:
        return run_row(metrics, why)
    try:
        framework = read_json_object(folder / "card.json").get("framework")
    except (OSError, ValueError):
        framework = None
    return identity_row(folder.name, framework, why)


def bootstrap_fields(matrix: list[list[int]] | None) -> dict[str, float]:
    """The 95 % bootstrap interval of test accuracy, from a confusion matrix."""
    if not matrix:
        return {}
    labels, preds = pairs_from_confusion(matrix)
    low, high = bootstrap_interval(labels, preds, "accuracy", num_classes=len(matrix), samples=1000)
    return {"test_accuracy_ci95_low": round(low, 4), "test_accuracy_ci95_high": round(high, 4)}


def seed_fields(metrics: RunMetrics | None, groups: dict[str, list[RunMetrics]]) -> dict:
    """How the run's recipe did over every seed run of it (mean ± sample std)."""
    if metrics is None:
        return {}
    runs = groups.get(recipe_key(metrics), [metrics])
    fields: dict = {"seeds": len(runs)}
    for name in ("accuracy", "macro_f1"):
        values = np.array([getattr(m.final.test, name) for m in runs])
        fields[f"seeds_test_{name}_mean"] = round(float(values.mean()), 4)
        if len(values) > 1:
            fields[f"seeds_test_{name}_std"] = round(float(values.std(ddof=1)), 4)
    return fields


def add_statistics(
    rows: list[LeaderboardRow],
    metrics_by_run: dict[str, RunMetrics],
    cards: dict[str, ModelCard],
) -> None:
    """Bootstrap intervals (from each card's, else the run's, confusion matrix) and seed
    summaries."""
    groups: dict[str, list[RunMetrics]] = {}
    for metrics in metrics_by_run.values():
        groups.setdefault(recipe_key(metrics), []).append(metrics)
    for row in rows:
        metrics = metrics_by_run.get(row.run_id)
        card = cards.get(row.run_id)
        matrix = card.metrics.test.confusion_matrix if card is not None else None
        if matrix is None and metrics is not None:
            matrix = metrics.final.test.confusion_matrix
        for key, value in {**bootstrap_fields(matrix), **seed_fields(metrics, groups)}.items():
            setattr(row, key, value)


def rank_key(row: LeaderboardRow) -> tuple:
    """Highest validation macro-F1 first (test when a row has no validation figure), as the
    promotion rule; ties (to 4 decimals) broken by lower batch-1 latency."""
    f1 = row.val_macro_f1 if row.val_macro_f1 is not None else row.test_macro_f1
    f1 = f1 if f1 is not None else -1.0
    latency = row.latency_ms_batch_1 if row.latency_ms_batch_1 is not None else float("inf")
    return (-round(f1, 4), latency, row.run_id)


def assign_ranks(rows: list[LeaderboardRow]) -> list[LeaderboardRow]:
    """Exports (measured or with card figures) ranked together; the other rows after them."""
    ranked = sorted((r for r in rows if r.status in RANKED), key=rank_key)
    others = sorted((r for r in rows if r.status not in RANKED), key=rank_key)
    for i, row in enumerate(ranked, start=1):
        row.rank = i
    return ranked + others


def build_rows(
    artifacts: Path,
    runs: Path,
    threads: int,
    images: list[Image.Image],
    repeats: int = 20,
) -> list[LeaderboardRow]:
    exports, refused = scan_exports(artifacts)
    metrics_by_run, broken_runs = scan_runs(runs)
    rows = [export_row(e, metrics_by_run.get(e.run_id), threads, images, repeats) for e in exports]
    for run_id, why in refused.items():
        row = refused_row(artifacts / "models" / run_id, why, metrics_by_run.get(run_id))
        if row is None:
            warn(f"skipped artifacts/models/{run_id}: {why}")
        else:
            rows.append(row)
    listed = {row.run_id for row in rows}
    for row in broken_runs:
        if row.run_id in listed:
            warn(f"{row.run_id}: {row.status} (its export's row has no training figures)")
        else:
            rows.append(row)
            listed.add(row.run_id)
    rows += [run_row(m, NOT_EXPORTED) for rid, m in metrics_by_run.items() if rid not in listed]
    add_statistics(rows, metrics_by_run, {e.run_id: e.card for e in exports})
    return assign_ranks(rows)


def machine_description(threads: int) -> str:
    """The measuring machine; the load average says how much a shared machine inflated it."""
    cores = f"{os.cpu_count()} cores"
    load = f"load average {os.getloadavg()[0]:.1f}"
    return f"{cpu_name()}, {cores} ({load}), ONNX Runtime {ort.__version__}, {threads} threads"


def to_csv(rows: list[LeaderboardRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = row.model_dump(mode="json")
        writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
    return out.getvalue()


def fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def production_of(artifacts: Path) -> str | None:
    try:
        return load_registry(artifacts / "registry.json").production
    except (FileNotFoundError, ValueError):
        return None


def to_markdown(rows: list[LeaderboardRow], machine: str, production: str | None = None) -> str:
    header = (
        "| # | architecture (run_id) | framework | training_mode | weights | val macro-F1 "
        "| test acc. (95 % CI) | test macro-F1 | seeds: acc. mean ± std | worst robustness drop "
        "| ms/img b1 | ms/img b16 | params (M) | ONNX MB | trained on | train time | status |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        mark = CARD_MARK if r.latency_source == "card" else ""
        params = f"{r.parameters / 1e6:.2f}" if r.parameters else "—"
        minutes = f"{r.training_time_s / 60:.1f} min" if r.training_time_s else "—"
        size_mb = r.onnx_bytes / 1e6 if r.onnx_bytes else None
        if r.precision not in ("", "fp32"):
            size_mb_text = f"{fmt(size_mb, 1)} {r.precision}"
        else:
            size_mb_text = fmt(size_mb, 1)
        ci = (
            f" ({r.test_accuracy_ci95_low:.2f}–{r.test_accuracy_ci95_high:.2f})"
            if r.test_accuracy_ci95_low is not None
            else ""
        )
        if r.seeds and r.seeds > 1 and r.seeds_test_accuracy_std is not None:
            seeds = (
                f"{r.seeds_test_accuracy_mean:.3f} ± {r.seeds_test_accuracy_std:.3f} ({r.seeds})"
            )
        else:
            seeds = "1 seed" if r.seeds == 1 else "—"
        robust = (
            f"{r.robustness_worst_drop:.3f} ({r.robustness_worst_condition}, {r.robustness_split})"
            if r.robustness_worst_drop is not None
            else "—"
        )
        lines.append(
            f"| {fmt(r.rank)}{mark} | {r.architecture} (`{r.run_id}`)"
            f"{' **in production**' if r.run_id == production else ''} | {r.framework} "
            f"| {r.training_mode} | {r.weights_source or '—'} | {fmt(r.val_macro_f1)} "
            f"| {fmt(r.test_accuracy)}{ci} "
            f"| {fmt(r.test_macro_f1)} | {seeds} | {robust} | {fmt(r.latency_ms_batch_1, 2)}{mark} "
            f"| {fmt(r.latency_ms_batch_16_per_image, 2)}{mark} | {params} | {size_mb_text} "
            f"| {r.training_hardware or '—'} | {minutes} | {r.status} |"
        )
    note = (
        f"\nLatency re-measured side by side in one process by `make leaderboard` on {machine} "
        "(ONNX Runtime inference only, median; the same 16 images for every model). Ranked by "
        "validation macro-F1 (the promotion rule; test is reported, not chosen on), ties by lower "
        "batch-1 latency. Worst robustness drop: accuracy lost on the named split under the worst "
        "realistic upload condition (`make robustness`, stored in the card).\n"
    )
    if any(r.latency_source == "card" for r in rows):
        note += (
            f"\n{CARD_MARK} ONNX not present in this checkout (git-ignored; re-export it from its "
            "checkpoint): the figures are the card's, latency as measured at export on the "
            "card's hardware, not re-measured here.\n"
        )
    return header + "\n".join(lines) + "\n" + note


def update_readme(readme: Path, markdown: str) -> bool:
    """Replace the table between the README's leaderboard markers; False if there are none."""
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    write_text_atomic(readme, f"{head}{README_START}\n{markdown}{README_END}{tail}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.tools.leaderboard", description=__doc__.splitlines()[0]
    )
    root = layout.repo_root()
    parser.add_argument("--artifacts", type=Path, default=default_artifacts())
    parser.add_argument("--runs", type=Path, default=root / "runs")
    parser.add_argument("--data", type=Path, default=root / "data")
    parser.add_argument("--readme", type=Path, default=root / "README.md")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    images = benchmark_images(args.data)
    rows = build_rows(args.artifacts, args.runs, args.threads, images, args.repeats)
    if not rows:
        print(
            f"no exported model under {args.artifacts / 'models'} and no run under {args.runs}",
            file=sys.stderr,
        )
        return 1
    from flipkart_api.tools.listing_board import (
        build_listing_rows,
        listing_csv,
        listing_markdown,
    )

    production = production_of(args.artifacts)
    markdown = to_markdown(rows, machine_description(args.threads), production)
    listing, problems = build_listing_rows(args.artifacts)
    for problem in problems:
        warn(f"listing table: {problem}")
    markdown += listing_markdown(listing)
    if listing:
        write_text_atomic(args.artifacts / "leaderboard_listing.csv", listing_csv(listing))
    write_text_atomic(args.artifacts / "leaderboard.csv", to_csv(rows))
    write_text_atomic(args.artifacts / "leaderboard.md", markdown)
    in_readme = update_readme(args.readme, markdown)
    print(markdown)
    print(f"wrote {args.artifacts / 'leaderboard.csv'} and leaderboard.md", end="")
    print(f"; README table updated ({args.readme})" if in_readme else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
