r"""Evaluate an exported model on a split of `data/splits.csv`, as the service would serve it.

The model is checked as the service checks it (valid card, ONNX present with the card's
sha256, the card's input and output names in the graph); every image goes through the
service's decode and the card's resize policy (`flipkart_api.preprocess.model_input`), then
ONNX Runtime in batches; the figures are the contract's (`split_metrics`), the labs' own.
The weekly `model-check.yml` workflow runs it on the production model:

    uv run python -m flipkart_api.tools.evaluate --splits data/splits.csv --images data/images \
        --split test --min-accuracy 0.70 --output report.json \
        [--run-id RUN_ID] [--artifacts DIR] [--batch-size 16]

Exit codes: 0 passed (or no threshold), 3 accuracy below `--min-accuracy`, 2 bad input (one
line on stderr says what), 1 anything unexpected. An image file that cannot be read or decoded
is skipped and listed in the report with its reason; it counts in no figure. Only when no image
of the split can be read does the run stop with exit 2. An image of the split that is missing
from the folder is bad input (exit 2): splits.csv and the images are not the same dataset.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from flipkart_contract import (
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    ModelCard,
    Registry,
    load_registry,
    parse_run_id,
    read_splits,
    write_json_atomic,
)
from flipkart_contract.classes import SPLITS
from flipkart_contract.evaluation import split_metrics
from flipkart_contract.latency import ort_session

from flipkart_api.errors import ApiError
from flipkart_api.preprocess import model_input
from flipkart_api.tools.exports import Export, default_artifacts, describe_error, read_export

EXIT_PASSED, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_BELOW_THRESHOLD = 0, 1, 2, 3
REPORT_VERSION = 2  # 2: `run_id` and `architecture` (were `model` and `model_name`)
SHOW_SKIPPED = 10  # skipped images named in the printed summary (the report lists them all)


class BadInput(Exception):
    """Something the caller gave is missing or wrong: exit 2 with this one-line message."""


@dataclass(frozen=True)
class Row:
    image: str
    label: str


@dataclass(frozen=True)
class Chosen:
    export: Export
    session: Any  # onnxruntime.InferenceSession
    registered: bool
    production: str | None

    @property
    def classes(self) -> list[str]:
        return self.export.card.classes


def read_split(splits: Path, split: str) -> list[Row]:
    if split not in SPLITS:
        raise BadInput(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    try:
        rows = read_splits(splits)
    except FileNotFoundError as exc:
        raise BadInput(f"splits file not found: {splits}") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"cannot read {splits}: {exc}") from exc
    chosen = [Row(r["image"], r["label"]) for r in rows if r["split"] == split]
    if not chosen:
        raise BadInput(f"no images for split {split!r} in {splits}")
    return chosen


def read_optional_registry(path: Path) -> Registry | None:
    try:
        return load_registry(path)
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise BadInput(f"{path} is not a valid registry: {describe_error(exc)}") from exc


def open_session(export: Export) -> Any:
    """An ONNX Runtime session on the export, its graph checked against the card."""
    try:
        session = ort_session(export.model_path)
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise BadInput(f"ONNX Runtime cannot load {export.model_path}: {exc}") from exc
    inputs = {i.name for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    card = export.card
    if card.input.name not in inputs or card.output.name not in outputs:
        raise BadInput(
            f"{export.run_id}: the graph has inputs {sorted(inputs)} and outputs "
            f"{sorted(outputs)}, its card says {card.input.name!r} → {card.output.name!r}"
        )
    return session


def choose_model(artifacts: Path, run_id: str | None) -> Chosen:
    """The production model of registry.json, or the export `run_id`.

    An export that is not registered can be evaluated too, so a candidate can be checked
    before its promotion.
    """
    if not artifacts.is_dir():
        raise BadInput(f"artifacts folder not found: {artifacts}")
    registry_path = artifacts / "registry.json"
    registry = read_optional_registry(registry_path)
    if run_id is None:
        if registry is None:
            raise BadInput(
                f"no registry at {registry_path}: no model has been promoted yet "
                "(evaluate an export with --run-id)"
            )
        if registry.production is None:
            raise BadInput(f"{registry_path} names no production model (use --run-id)")
        run_id = registry.production
    models = artifacts / "models"
    exported = sorted(p.name for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
    try:
        parse_run_id(run_id)
        known = run_id in exported
    except ValueError:
        known = False
    if not known:
        raise BadInput(
            f"unknown run id {run_id!r}: no such export under {models} "
            f"(exported: {', '.join(exported) or 'none'})"
        )
    try:
        export = read_export(models / run_id)
    except ValueError as exc:
        raise BadInput(f"model {run_id} cannot be loaded: {exc}") from exc
    if not export.servable:
        raise BadInput(f"model {run_id} cannot be loaded: {export.problem}")
    registered = registry is not None and (
        run_id in registry.models or run_id == registry.production
    )
    production = registry.production if registry is not None else None
    return Chosen(export, open_session(export), registered, production)


def check_labels(rows: list[Row], classes: list[str], run_id: str) -> None:
    unknown = sorted({r.label for r in rows} - set(classes))
    if unknown:
        raise BadInput(
            f"labels unknown to the card of {run_id}: {', '.join(map(repr, unknown))} "
            f"(it knows {', '.join(map(repr, classes))})"
        )


class Progress:
    """Progress on stderr: one redrawn line on a terminal, a line per step otherwise."""

    def __init__(self, total: int, stream=None) -> None:
        self.total, self.start = total, time.perf_counter()
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def update(self, done: int) -> None:
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        width = len(str(self.total))
        line = f"[{done:>{width}}/{self.total}] {done / self.total:4.0%} {rate:.1f} img/s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done == self.total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def load_pixels(path: Path, chosen: Chosen, max_pixels: int) -> np.ndarray:
    """The model's input for one image file: the service's decode and the card's resize."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(422, "unreadable_file", f"cannot read {path}: {exc}") from exc
    return model_input(data, chosen.export.card.resize_policy, max_pixels)


def run_logits(
    session: Any, card: ModelCard, pixels: np.ndarray, batch_size: int = 16
) -> np.ndarray:
    """The graph's logits for `[N, H, W, 3]` model inputs, in batches."""
    feeds = (pixels[i : i + batch_size] for i in range(0, len(pixels), batch_size))
    return np.concatenate(
        [session.run([card.output.name], {card.input.name: batch})[0] for batch in feeds]
    )


def open_chosen(args: argparse.Namespace) -> Chosen:
    """The export the tool's `--run-id` / `--artifacts` name, once `--images` is checked."""
    if not args.images.is_dir():
        raise BadInput(f"images folder not found: {args.images}")
    artifacts = args.artifacts if args.artifacts is not None else default_artifacts()
    return choose_model(artifacts, args.run_id)


def run_tool(tool: str, work: Callable[[], int]) -> int:
    """A tool's exit code: `work()`'s, 2 with one line on stderr for bad input, 1 (with the
    traceback) for anything unexpected."""
    try:
        return work()
    except BadInput as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:
        traceback.print_exc()
        print(f"{tool}: unexpected error (traceback above)", file=sys.stderr)
        return EXIT_UNEXPECTED


def predict_split(
    chosen: Chosen, rows: list[Row], images: Path, batch_size: int, max_pixels: int
) -> tuple[list[dict], list[dict]]:
    """(one prediction per readable image, the skipped images with their reason)."""
    card = chosen.export.card
    predictions, skipped = [], []
    progress = Progress(len(rows))
    for start in range(0, len(rows), batch_size):
        chunk, batch = [], []
        for row in rows[start : start + batch_size]:
            try:
                batch.append(load_pixels(images / row.image, chosen, max_pixels))
                chunk.append(row)
            except (ApiError, ImageDecodeError) as exc:  # the service's 4xx for a bad image
                reason = f"{exc.code}: {exc.message}"
                skipped.append({"image": row.image, "label": row.label, "reason": reason})
        if batch:
            logits = run_logits(chosen.session, card, np.stack(batch), batch_size=len(batch))
            if logits.shape != (len(batch), len(chosen.classes)):
                raise BadInput(
                    f"{chosen.export.run_id}: logits of shape {logits.shape} for a batch of "
                    f"{len(batch)} and {len(chosen.classes)} classes"
                )
            probabilities = softmax(logits)
            for row, row_probabilities in zip(chunk, probabilities, strict=True):
                best = int(np.argmax(row_probabilities))
                predictions.append(
                    {
                        "image": row.image,
                        "label": row.label,
                        "predicted": chosen.classes[best],
                        "confidence": float(row_probabilities[best]),
                    }
                )
        progress.update(min(start + batch_size, len(rows)))
    return predictions, skipped


def evaluate(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    rows = read_split(args.splits, args.split)
    if not args.images.is_dir():
        raise BadInput(f"images folder not found: {args.images}")
    missing = [r.image for r in rows if not (args.images / r.image).is_file()]
    if missing:
        raise BadInput(
            f"{len(missing)} of the {len(rows)} {args.split} images of {args.splits} are not "
            f"in {args.images} (first: {missing[0]}): is the dataset complete?"
        )
    artifacts = args.artifacts if args.artifacts is not None else default_artifacts()
    chosen = choose_model(artifacts, args.run_id)
    card = chosen.export.card
    check_labels(rows, chosen.classes, card.run_id)
    print(
        f"evaluating {card.run_id} on {len(rows)} {args.split} images "
        f"(batch {args.batch_size}, ONNX Runtime {ort.__version__})",
        file=sys.stderr,
    )
    predict_start = time.perf_counter()
    predictions, skipped = predict_split(
        chosen, rows, args.images, args.batch_size, DEFAULT_MAX_PIXELS
    )
    predict_s = time.perf_counter() - predict_start
    if not predictions:
        first = skipped[0]
        raise BadInput(
            f"none of the {len(rows)} {args.split} images could be read "
            f"(first: {first['image']}: {first['reason']})"
        )
    index = {name: i for i, name in enumerate(chosen.classes)}
    figures = split_metrics(
        [index[p["label"]] for p in predictions],
        [index[p["predicted"]] for p in predictions],
        chosen.classes,
    )
    passed = args.min_accuracy is None or figures.accuracy >= args.min_accuracy
    return {
        "schema_version": REPORT_VERSION,
        "run_id": card.run_id,
        "architecture": card.architecture,
        "framework": card.framework,
        "training_mode": card.training_mode,
        "resize_policy": card.resize_policy.model_dump(mode="json"),
        "registered": chosen.registered,
        "is_production": card.run_id == chosen.production,
        "artifacts_root": str(artifacts),
        "split": args.split,
        "splits_file": str(args.splits),
        "images_dir": str(args.images),
        "num_images": len(predictions),
        "num_skipped": len(skipped),
        **figures.model_dump(
            mode="json", include={"accuracy", "macro_f1", "per_class", "confusion_matrix"}
        ),
        "classes": chosen.classes,
        "card_accuracy": card.metrics.test.accuracy,
        "card_macro_f1": card.metrics.test.macro_f1,
        "min_accuracy": args.min_accuracy,
        "passed": passed,
        "skipped": skipped,
        "predictions": predictions,
        "elapsed_s": round(time.perf_counter() - started, 3),  # model loading included
        "images_per_s": round(len(rows) / predict_s, 2),  # decode + resize + inference
        "onnxruntime": ort.__version__,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def summary(report: dict, output: Path | None) -> str:
    threshold = report["min_accuracy"]
    verdict = "no threshold" if threshold is None else f"threshold {threshold}"
    verdict += ": PASSED" if report["passed"] else ": FAILED"
    lines = [
        f"{report['run_id']} ({report['architecture']}) on {report['split']}: "
        f"{report['num_images']} images, {report['num_skipped']} skipped",
        f"accuracy {report['accuracy']:.4f} (card: {report['card_accuracy']:.4f}), "
        f"macro-F1 {report['macro_f1']:.4f}, {verdict}",
    ]
    lines += [f"skipped {s['image']}: {s['reason']}" for s in report["skipped"][:SHOW_SKIPPED]]
    if report["num_skipped"] > SHOW_SKIPPED:
        lines.append(f"... and {report['num_skipped'] - SHOW_SKIPPED} more skipped (see report)")
    if output is not None:
        lines.append(f"report: {output}")
    return "\n".join(lines)


def add_data_arguments(parser: argparse.ArgumentParser, split: str | None = "test") -> None:
    """--splits, --images (and --split) as every offline tool takes them."""
    parser.add_argument("--splits", type=Path, default=Path("data/splits.csv"))
    parser.add_argument("--images", type=Path, default=Path("data/images"))
    if split is not None:
        parser.add_argument("--split", default=split, help=f"train, val or test (default: {split})")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.tools.evaluate", description=__doc__.splitlines()[0]
    )
    add_data_arguments(parser)
    parser.add_argument(
        "--min-accuracy", type=float, help="exit 3 below this accuracy (default: no threshold)"
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON report")
    parser.add_argument(
        "--run-id",
        help="the export to evaluate (default: the production model of registry.json)",
    )
    parser.add_argument("--model", dest="run_id", help=argparse.SUPPRESS)  # its old name
    parser.add_argument(
        "--artifacts",
        type=Path,
        help="artifacts root (default: FLIPKART_ARTIFACTS_ROOT, else the repository's)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def work() -> int:
        report = evaluate(args)
        if args.output is not None:
            try:
                write_json_atomic(args.output, report)
            except OSError as exc:
                raise BadInput(f"cannot write the report {args.output}: {exc}") from exc
        print(summary(report, args.output))
        return EXIT_PASSED if report["passed"] else EXIT_BELOW_THRESHOLD

    return run_tool("evaluate", work)


if __name__ == "__main__":
    sys.exit(main())
