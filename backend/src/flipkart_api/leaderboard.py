"""Cross-framework leaderboard: every exported model and every run, side by side.

Reads `artifacts/models/*/card.json` and `runs/*/*/metrics.json`, re-measures every exported
model's ONNX Runtime latency in this one process (same threads, same images, batch 1 and 16),
and writes `artifacts/leaderboard.csv`, `artifacts/leaderboard.md` and the README's table.

    uv run python -m flipkart_api.leaderboard [--artifacts DIR] [--runs DIR] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from flipkart_api.models import ModelLoadError, read_json, sha256_of
from flipkart_api.preprocess import ResizePolicy, resize, to_pixels
from flipkart_api.settings import default_artifacts_root

README_START = "<!-- leaderboard:start -->"
README_END = "<!-- leaderboard:end -->"


@dataclass
class Row:
    rank: int | None
    run_id: str
    model: str
    framework: str
    mode: str
    weights_source: str
    test_accuracy: float | None
    test_macro_f1: float | None
    latency_ms_batch_1: float | None
    latency_ms_batch_16_per_image: float | None
    parameters: int | None
    onnx_bytes: int | None
    training_hardware: str
    training_time_s: float | None
    input_size: int | None
    status: str  # "exported", "not exported", or why the model cannot be used


@dataclass
class Candidate:
    """An exported model whose files agree with its card."""

    run_id: str
    folder: Path
    card: dict
    model_path: Path


def card_problem(folder: Path) -> tuple[dict | None, str | None]:
    """(card, None) when the export is usable, else (card or None, the reason it is not)."""
    try:
        card = read_json(folder / "card.json", "model card")
    except ModelLoadError as exc:
        return None, str(exc)
    model_path = folder / (card.get("onnx") or {}).get("file", "model.onnx")
    if not model_path.is_file():
        return card, f"model file missing: {model_path.name}"
    expected = (card.get("onnx") or {}).get("sha256")
    if not expected:
        return card, "card has no onnx.sha256"
    if sha256_of(model_path) != expected:
        return card, "ONNX sha256 does not match its card"
    test = (card.get("metrics") or {}).get("test") or {}
    if not isinstance(test.get("accuracy"), int | float) or not isinstance(
        test.get("macro_f1"), int | float
    ):
        return card, "card lacks test metrics (accuracy and macro_f1)"
    return card, None


def scan_models(artifacts: Path) -> tuple[list[Candidate], dict[str, tuple[dict | None, str]]]:
    """Usable candidates, and the refused ones with their reason."""
    candidates, refused = [], {}
    models_dir = artifacts / "models"
    for folder in (
        sorted(p for p in models_dir.glob("*") if p.is_dir()) if models_dir.is_dir() else []
    ):
        card, problem = card_problem(folder)
        if problem:
            refused[folder.name] = (card, problem)
        else:
            model_path = folder / card["onnx"].get("file", "model.onnx")
            candidates.append(Candidate(folder.name, folder, card, model_path))
    return candidates, refused


def scan_runs(runs: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(runs.glob("*/*/metrics.json")) if runs.is_dir() else []:
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(metrics, dict):
            found[metrics.get("run_id") or path.parent.name] = metrics
    return found


def benchmark_images(
    count: int = 16, seed: int = 0, data_dir: Path | None = None
) -> list[Image.Image]:
    """The same images for every model: real test images when present, else synthetic ones."""
    if data_dir is not None and (data_dir / "splits.csv").is_file():
        with (data_dir / "splits.csv").open(newline="", encoding="utf-8") as fh:
            names = [r["image"] for r in csv.DictReader(fh) if r["split"] == "test"]
        paths = [data_dir / "images" / n for n in sorted(names)[:count]]
        if len(paths) == count and all(p.is_file() for p in paths):
            return [Image.open(p).convert("RGB") for p in paths]
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (300 + 7 * i, 400 - 5 * i, 3), dtype=np.uint8))
        for i in range(count)
    ]


def measure_latency(
    model_path: Path,
    card: dict,
    images: list[Image.Image],
    threads: int,
    repeats: int = 20,
) -> tuple[float, float]:
    """Median ms per call at batch 1, and median ms per image at batch 16 (inference only)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    policy = ResizePolicy.from_card(card["preprocessing"])
    batch = np.stack([to_pixels(resize(image, policy)) for image in images[:16]])
    input_name = card.get("input", {}).get("name", "pixels")

    def timed(array: np.ndarray, runs: int) -> float:
        session.run(None, {input_name: array})  # warm-up
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            session.run(None, {input_name: array})
            samples.append((time.perf_counter() - start) * 1000)
        return statistics.median(samples)

    batch_1 = timed(batch[:1], repeats)
    batch_16 = timed(batch, max(3, repeats // 4)) / len(batch)
    return batch_1, batch_16


def hardware_name(metrics: dict | None) -> str:
    hardware = (metrics or {}).get("hardware") or {}
    device = hardware.get("device_name") or hardware.get("device") or ""
    threads = hardware.get("num_threads")
    return f"{device} ({threads} threads)" if device and threads else str(device)


def rank_key(row: Row) -> tuple:
    """Highest test macro-F1 first; ties (to 4 decimals) broken by lower batch-1 latency."""
    f1 = row.test_macro_f1 if row.test_macro_f1 is not None else -1.0
    latency = row.latency_ms_batch_1 if row.latency_ms_batch_1 is not None else float("inf")
    return (-round(f1, 4), latency, row.run_id)


def assign_ranks(rows: list[Row]) -> list[Row]:
    exported = sorted((r for r in rows if r.status == "exported"), key=rank_key)
    others = sorted((r for r in rows if r.status != "exported"), key=rank_key)
    for i, row in enumerate(exported, start=1):
        row.rank = i
    return exported + others


def build_rows(
    artifacts: Path,
    runs: Path,
    threads: int,
    images: list[Image.Image],
    repeats: int = 20,
) -> list[Row]:
    candidates, refused = scan_models(artifacts)
    metrics_by_run = scan_runs(runs)
    rows = []
    for candidate in candidates:
        card, metrics = candidate.card, metrics_by_run.get(candidate.run_id)
        b1, b16 = measure_latency(candidate.model_path, card, images, threads, repeats)
        test = card["metrics"]["test"]
        rows.append(
            Row(
                rank=None,
                run_id=candidate.run_id,
                model=card.get("name", ""),
                framework=card.get("framework", ""),
                mode=card.get("mode", ""),
                weights_source=card.get("weights_source", ""),
                test_accuracy=float(test["accuracy"]),
                test_macro_f1=float(test["macro_f1"]),
                latency_ms_batch_1=round(b1, 3),
                latency_ms_batch_16_per_image=round(b16, 3),
                parameters=card.get("parameters"),
                onnx_bytes=candidate.model_path.stat().st_size,
                training_hardware=hardware_name(metrics),
                training_time_s=(metrics or {}).get("wall_time_s"),
                input_size=(card.get("preprocessing") or {}).get("size"),
                status="exported",
            )
        )
    for run_id, (card, problem) in refused.items():
        rows.append(row_from_run(run_id, metrics_by_run.get(run_id), card, problem))
    exported = {c.run_id for c in candidates} | set(refused)
    for run_id, metrics in metrics_by_run.items():
        if run_id not in exported:
            rows.append(row_from_run(run_id, metrics, None, "not exported"))
    return assign_ranks(rows)


def row_from_run(run_id: str, metrics: dict | None, card: dict | None, status: str) -> Row:
    metrics, card = metrics or {}, card or {}
    test = ((metrics.get("final") or {}).get("test")) or {}
    return Row(
        rank=None,
        run_id=run_id,
        model=metrics.get("model") or card.get("name", ""),
        framework=metrics.get("framework") or card.get("framework", ""),
        mode=metrics.get("mode") or card.get("mode", ""),
        weights_source=metrics.get("weights_source") or card.get("weights_source", ""),
        test_accuracy=test.get("accuracy"),
        test_macro_f1=test.get("macro_f1"),
        latency_ms_batch_1=None,
        latency_ms_batch_16_per_image=None,
        parameters=card.get("parameters"),
        onnx_bytes=None,
        training_hardware=hardware_name(metrics),
        training_time_s=metrics.get("wall_time_s"),
        input_size=(metrics.get("config") or {}).get("image_size"),
        status=status,
    )


def machine_description(threads: int) -> str:
    cpu = platform.processor() or platform.machine()
    with_name = Path("/proc/cpuinfo")
    if with_name.is_file():
        for line in with_name.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, ONNX Runtime {ort.__version__}, {threads} threads"


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(Row)])
    for row in rows:
        writer.writerow(["" if v is None else v for v in asdict(row).values()])
    return out.getvalue()


def fmt(value: object, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(rows: list[Row], machine: str) -> str:
    header = (
        "| # | model | framework | mode | weights | test acc. | test macro-F1 | ms/img b1 "
        "| ms/img b16 | params (M) | ONNX MB | trained on | train time | status |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        params = f"{r.parameters / 1e6:.2f}" if r.parameters else "—"
        minutes = f"{r.training_time_s / 60:.1f} min" if r.training_time_s else "—"
        size_mb = r.onnx_bytes / 1e6 if r.onnx_bytes else None
        lines.append(
            f"| {fmt(r.rank)} | {r.model} (`{r.run_id}`) | {r.framework} | {r.mode} "
            f"| {r.weights_source or '—'} | {fmt(r.test_accuracy)} | {fmt(r.test_macro_f1)} "
            f"| {fmt(r.latency_ms_batch_1, 2)} | {fmt(r.latency_ms_batch_16_per_image, 2)} "
            f"| {params} | {fmt(size_mb, 1)} | {r.training_hardware or '—'} | {minutes} "
            f"| {r.status} |"
        )
    note = (
        f"\nLatency re-measured side by side in one process by `make leaderboard` on {machine} "
        "(ONNX Runtime inference only, median; the same 16 images for every model). Ranked by test "
        "macro-F1, ties by lower batch-1 latency.\n"
    )
    return header + "\n".join(lines) + "\n" + note


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update_readme(readme: Path, markdown: str) -> bool:
    """Replace the table between the README's leaderboard markers; False if there are none."""
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    write_atomic(readme, f"{head}{README_START}\n{markdown}{README_END}{tail}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leaderboard", description=__doc__.splitlines()[0])
    artifacts_default = default_artifacts_root()
    parser.add_argument("--artifacts", type=Path, default=artifacts_default)
    parser.add_argument("--runs", type=Path, default=artifacts_default.parent / "runs")
    parser.add_argument("--data", type=Path, default=artifacts_default.parent / "data")
    parser.add_argument("--readme", type=Path, default=artifacts_default.parent / "README.md")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    images = benchmark_images(data_dir=args.data)
    rows = build_rows(args.artifacts, args.runs, args.threads, images, args.repeats)
    if not rows:
        print(f"no exported model under {args.artifacts / 'models'} and no run under {args.runs}")
        return 1
    machine = machine_description(args.threads)
    markdown = to_markdown(rows, machine)
    write_atomic(args.artifacts / "leaderboard.csv", to_csv(rows))
    write_atomic(args.artifacts / "leaderboard.md", markdown)
    in_readme = update_readme(args.readme, markdown)
    print(markdown)
    print(f"wrote {args.artifacts / 'leaderboard.csv'} and leaderboard.md", end="")
    print(f"; README table updated ({args.readme})" if in_readme else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
