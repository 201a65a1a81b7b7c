r"""Evaluate an exported model on a split of `data/splits.csv`, as the service would serve it.

The model is loaded by the service's own code (registry, card, sha256 check, smoke run), every
image goes through the service's decode and the card's resize, then ONNX Runtime in batches.
The weekly `model-check.yml` workflow runs it on the production model:

    uv run python -m flipkart_api.evaluate --splits data/splits.csv --images data/images \
        --split test --min-accuracy 0.70 --output report.json \
        [--model RUN_ID|NAME] [--artifacts DIR] [--batch-size 16]

Exit codes: 0 passed (or no threshold), 3 accuracy below `--min-accuracy`, 2 bad input (one
line on stderr says what), 1 anything unexpected. An image file that cannot be read or decoded
is skipped and listed in the report with its reason; it counts in no figure. Only when no image
of the split can be read does the run stop with exit 2. An image of the split that is missing
from the folder is bad input (exit 2): splits.csv and the images are not the same dataset.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort

from flipkart_api.errors import ApiError
from flipkart_api.leaderboard import write_atomic
from flipkart_api.models import LoadedModel, ModelLoadError, load_model, load_model_set
from flipkart_api.preprocess import to_pixels
from flipkart_api.service import prepare, softmax
from flipkart_api.settings import Settings

EXIT_PASSED, EXIT_UNEXPECTED, EXIT_BAD_INPUT, EXIT_BELOW_THRESHOLD = 0, 1, 2, 3
SPLITS = ("train", "val", "test")
COLUMNS = ("image", "label", "split")
SHOW_SKIPPED = 10  # skipped images named in the printed summary (the report lists them all)


class BadInput(Exception):
    """Something the caller gave is missing or wrong: exit 2 with this one-line message."""


@dataclass(frozen=True)
class Row:
    image: str
    label: str


@dataclass(frozen=True)
class Chosen:
    model: LoadedModel
    registered: bool
    production: str | None


def read_split(splits: Path, split: str) -> list[Row]:
    if not splits.is_file():
        raise BadInput(f"splits file not found: {splits}")
    if split not in SPLITS:
        raise BadInput(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    try:
        with splits.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise BadInput(f"{splits} lacks the column(s) {', '.join(missing)}")
            rows = [Row(r["image"], r["label"]) for r in reader if r["split"] == split]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadInput(f"cannot read {splits}: {exc}") from exc
    if not rows:
        raise BadInput(f"no images for split {split!r} in {splits}")
    return rows


def choose_model(settings: Settings, name: str | None) -> Chosen:
    """The production model or `name` (run_id or card name), loaded as the service loads it.

    A run_id that is exported under `models/` but not registered is loaded too, so a candidate
    can be checked before its promotion.
    """
    root = Path(settings.artifacts_root)
    if not root.is_dir():
        raise BadInput(f"artifacts folder not found: {root}")
    # load_model_set logs each model it cannot load; the one that matters is reported below.
    models_log = logging.getLogger("flipkart_api.models")
    if not models_log.handlers:
        models_log.addHandler(logging.NullHandler())
    model_set = load_model_set(settings)
    if name in model_set.problems:
        raise BadInput(f"model {name} cannot be loaded: {model_set.problems[name]}")
    try:
        model = model_set.resolve(name)
        return Chosen(model, registered=True, production=model_set.production)
    except ApiError as exc:
        folder = root / "models" / name if name else None
        if folder is None or Path(name).name != name or name == ".." or not folder.is_dir():
            raise BadInput(exc.message) from exc
    try:
        model = load_model(folder, settings)
    except ModelLoadError as exc:
        raise BadInput(f"model {name} cannot be loaded: {exc}") from exc
    return Chosen(model, registered=False, production=model_set.production)


def check_labels(rows: list[Row], classes: list[str], run_id: str) -> None:
    unknown = sorted({r.label for r in rows} - set(classes))
    if unknown:
        raise BadInput(
            f"labels unknown to the card of {run_id}: {', '.join(map(repr, unknown))} "
            f"(it knows {', '.join(map(repr, classes))})"
        )


def load_pixels(path: Path, model: LoadedModel, max_pixels: int) -> np.ndarray:
    """The model's input for one image file: the service's decode and the card's resize."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ApiError(422, "unreadable_file", f"cannot read {path}: {exc.strerror}") from exc
    view, _, _ = prepare(data, model.policy, max_pixels)
    return to_pixels(view)


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


def predict_split(
    model: LoadedModel, rows: list[Row], images: Path, batch_size: int, max_pixels: int
) -> tuple[list[dict], list[dict]]:
    """(one prediction per readable image, the skipped images with their reason)."""
    input_name = model.card.get("input", {}).get("name", "pixels")
    output_name = model.card.get("output", {}).get("name", "logits")
    predictions, skipped = [], []
    progress = Progress(len(rows))
    for start in range(0, len(rows), batch_size):
        chunk, batch = [], []
        for row in rows[start : start + batch_size]:
            try:
                batch.append(load_pixels(images / row.image, model, max_pixels))
                chunk.append(row)
            except ApiError as exc:
                reason = f"{exc.code}: {exc.message}"
                skipped.append({"image": row.image, "label": row.label, "reason": reason})
        if batch:
            logits = model.session.run([output_name], {input_name: np.stack(batch)})[0]
            for row, row_logits in zip(chunk, logits, strict=True):
                probabilities = softmax(row_logits)
                best = int(np.argmax(probabilities))
                predictions.append(
                    {
                        "image": row.image,
                        "label": row.label,
                        "predicted": model.classes[best],
                        "confidence": float(probabilities[best]),
                    }
                )
        progress.update(min(start + batch_size, len(rows)))
    return predictions, skipped


def classification_figures(labels: list[str], predicted: list[str], classes: list[str]) -> dict:
    """accuracy, macro-F1 (over every class of the card), per-class scores, confusion matrix.

    Same definitions as the labs' cards: precision/recall/F1 are 0 where undefined.
    """
    index = {name: i for i, name in enumerate(classes)}
    k = len(classes)
    truth = np.array([index[x] for x in labels], dtype=np.int64)
    guess = np.array([index[x] for x in predicted], dtype=np.int64)
    matrix = np.bincount(truth * k + guess, minlength=k * k).reshape(k, k)  # rows: true class
    hits = np.diag(matrix).astype(np.float64)
    per_predicted, support = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, per_predicted, out=np.zeros(k), where=per_predicted > 0)
    recall = np.divide(hits, support, out=np.zeros(k), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(k), where=both > 0)
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
        for name, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
    }
    return {
        "accuracy": float(hits.sum() / len(truth)),
        "macro_f1": float(f1.mean()),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


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
    overrides = {"artifacts_root": args.artifacts} if args.artifacts is not None else {}
    settings = Settings(**overrides)
    chosen = choose_model(settings, args.model)
    model = chosen.model
    check_labels(rows, model.classes, model.run_id)
    print(
        f"evaluating {model.run_id} on {len(rows)} {args.split} images "
        f"(batch {args.batch_size}, ONNX Runtime {ort.__version__})",
        file=sys.stderr,
    )
    predict_start = time.perf_counter()
    predictions, skipped = predict_split(
        model, rows, args.images, args.batch_size, settings.max_pixels
    )
    predict_s = time.perf_counter() - predict_start
    if not predictions:
        first = skipped[0]
        raise BadInput(
            f"none of the {len(rows)} {args.split} images could be read "
            f"(first: {first['image']}: {first['reason']})"
        )
    figures = classification_figures(
        [p["label"] for p in predictions], [p["predicted"] for p in predictions], model.classes
    )
    card_test = (model.card.get("metrics") or {}).get("test") or {}
    passed = args.min_accuracy is None or figures["accuracy"] >= args.min_accuracy
    return {
        "schema_version": 1,
        "model": model.run_id,
        "model_name": model.name,
        "framework": model.card.get("framework"),
        "registered": chosen.registered,
        "is_production": model.run_id == chosen.production,
        "artifacts_root": str(settings.artifacts_root),
        "split": args.split,
        "splits_file": str(args.splits),
        "images_dir": str(args.images),
        "num_images": len(predictions),
        "num_skipped": len(skipped),
        **figures,
        "classes": model.classes,
        "card_accuracy": card_test.get("accuracy"),
        "card_macro_f1": card_test.get("macro_f1"),
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
    card = report["card_accuracy"]
    card_text = f" (card: {card:.4f})" if isinstance(card, int | float) else ""
    threshold = report["min_accuracy"]
    verdict = "no threshold" if threshold is None else f"threshold {threshold}"
    verdict += ": PASSED" if report["passed"] else ": FAILED"
    lines = [
        f"{report['model']} ({report['model_name']}) on {report['split']}: "
        f"{report['num_images']} images, {report['num_skipped']} skipped",
        f"accuracy {report['accuracy']:.4f}{card_text}, macro-F1 {report['macro_f1']:.4f}, "
        f"{verdict}",
    ]
    lines += [f"skipped {s['image']}: {s['reason']}" for s in report["skipped"][:SHOW_SKIPPED]]
    if report["num_skipped"] > SHOW_SKIPPED:
        lines.append(f"... and {report['num_skipped'] - SHOW_SKIPPED} more skipped (see report)")
    if output is not None:
        lines.append(f"report: {output}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--splits", type=Path, default=Path("data/splits.csv"))
    parser.add_argument("--images", type=Path, default=Path("data/images"))
    parser.add_argument("--split", default="test", help="train, val or test (default: test)")
    parser.add_argument(
        "--min-accuracy", type=float, help="exit 3 below this accuracy (default: no threshold)"
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON report")
    parser.add_argument(
        "--model", help="run_id or card name (default: the production model of registry.json)"
    )
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
    try:
        report = evaluate(args)
        if args.output is not None:
            try:
                write_atomic(args.output, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            except OSError as exc:
                raise BadInput(f"cannot write the report {args.output}: {exc}") from exc
    except BadInput as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:
        traceback.print_exc()
        print("evaluate: unexpected error (traceback above)", file=sys.stderr)
        return EXIT_UNEXPECTED
    print(summary(report, args.output))
    return EXIT_PASSED if report["passed"] else EXIT_BELOW_THRESHOLD


if __name__ == "__main__":
    sys.exit(main())
