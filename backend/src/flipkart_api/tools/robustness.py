r"""The robustness suite: an exported model on perturbed copies of a split's photos.

Each photo of the split is turned into the upload a user would send under each condition of
`flipkart_contract.robustness` (phone photo, textured background, greyscale, heavy JPEG, low
resolution, colour cast, dark; `clean` is the reference), then goes through the service's
decode and resize (`model_input`) and ONNX Runtime, exactly like a request:

    uv run python -m flipkart_api.tools.robustness --split test [--run-id RUN_ID] \
        [--write-card] [--output report.json] [--max-drop 0.08]

`--write-card` stores the figures in the export's card (`robustness`; the ONNX file and its
sha256 are untouched), where the leaderboard and the promotion rule read them. Exit codes as
`evaluate`: 0 passed, 3 worst drop above `--max-drop`, 2 bad input, 1 unexpected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from flipkart_contract import DEFAULT_MAX_PIXELS, ImageDecodeError, open_image_file
from flipkart_contract.evaluation import split_metrics
from flipkart_contract.files import write_json_atomic
from flipkart_contract.robustness import CONDITIONS, perturb
from flipkart_contract.schema import ConditionFigures, Robustness

from flipkart_api.errors import ApiError
from flipkart_api.preprocess import model_input
from flipkart_api.tools.evaluate import (
    EXIT_BELOW_THRESHOLD,
    EXIT_PASSED,
    BadInput,
    Chosen,
    Row,
    add_data_arguments,
    check_labels,
    open_chosen,
    read_split,
    run_logits,
    run_tool,
)

SUITE = "flipkart_contract.robustness/1"


def run_suite(
    chosen: Chosen,
    rows: list[Row],
    images: Path,
    conditions: tuple[str, ...] = CONDITIONS,
    seed: int = 0,
    batch_size: int = 16,
    split: str = "test",
) -> Robustness:
    """Accuracy and macro-F1 per condition; the worst condition's drop against `clean`."""
    if "clean" not in conditions:
        conditions = ("clean", *conditions)
    card = chosen.export.card
    index = {name: i for i, name in enumerate(chosen.classes)}
    photos, labels = [], []
    for row in rows:
        try:
            photos.append(open_image_file(images / row.image, max_pixels=DEFAULT_MAX_PIXELS))
            labels.append(index[row.label])
        except (OSError, ImageDecodeError):
            continue  # an unreadable file counts in no condition (evaluate reports it)
    if not photos:
        raise BadInput("none of the split's images could be read")
    figures: dict[str, ConditionFigures] = {}
    for condition in conditions:
        pixels = []
        for index, photo in enumerate(photos):
            upload = perturb(photo, condition, seed=seed * 100_003 + index)
            try:
                pixels.append(model_input(upload, card.resize_policy, DEFAULT_MAX_PIXELS))
            except ApiError as exc:  # a perturbation the service refuses is a bug here
                raise BadInput(f"{condition}: the service refused an upload: {exc}") from exc
        logits = run_logits(chosen.session, card, np.stack(pixels), batch_size)
        metrics = split_metrics(labels, logits.argmax(axis=1), chosen.classes)
        figures[condition] = ConditionFigures(
            accuracy=metrics.accuracy, macro_f1=metrics.macro_f1, num_images=len(labels)
        )
        print(f"{condition:>20}: accuracy {metrics.accuracy:.3f}", file=sys.stderr)
    clean = figures["clean"].accuracy
    worst = min((c for c in figures if c != "clean"), key=lambda c: figures[c].accuracy)
    return Robustness(
        suite=SUITE,
        split=split,
        seed=seed,
        conditions=figures,
        worst_condition=worst,
        worst_drop=round(clean - figures[worst].accuracy, 6),
    )


def write_card(chosen: Chosen, robustness: Robustness) -> Path:
    path = chosen.export.folder / "card.json"
    card = chosen.export.card.model_copy(update={"robustness": robustness})
    write_json_atomic(path, card.model_dump(mode="json", exclude_none=True))
    return path


def table(robustness: Robustness) -> str:
    clean = robustness.conditions["clean"].accuracy
    lines = [f"{'condition':>20}  accuracy  macro-F1   drop"]
    for name, f in robustness.conditions.items():
        lines.append(f"{name:>20}  {f.accuracy:8.3f}  {f.macro_f1:8.3f}  {clean - f.accuracy:+.3f}")
    lines.append(f"worst: {robustness.worst_condition} (drop {robustness.worst_drop:.3f})")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.tools.robustness", description=__doc__.splitlines()[0]
    )
    add_data_arguments(parser)
    parser.add_argument("--run-id", help="the export (default: the production model)")
    parser.add_argument("--artifacts", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--conditions",
        default=",".join(CONDITIONS),
        help=f"comma-separated subset of: {', '.join(CONDITIONS)}",
    )
    parser.add_argument("--max-drop", type=float, help="exit 3 when the worst drop exceeds it")
    parser.add_argument("--write-card", action="store_true", help="store the figures in the card")
    parser.add_argument("--output", type=Path, help="where to write the JSON report")
    args = parser.parse_args(argv)
    unknown = [c for c in args.conditions.split(",") if c not in CONDITIONS]
    if unknown:
        parser.error(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
    args.conditions = tuple(args.conditions.split(","))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def work() -> int:
        rows = read_split(args.splits, args.split)
        chosen = open_chosen(args)
        check_labels(rows, chosen.classes, chosen.export.run_id)
        robustness = run_suite(
            chosen, rows, args.images, args.conditions, args.seed, split=args.split
        )
        if args.output is not None:
            write_json_atomic(args.output, robustness.model_dump(mode="json"))
        if args.write_card:
            print(f"card updated: {write_card(chosen, robustness)}")
        print(f"{chosen.export.run_id} on {args.split}:\n{table(robustness)}")
        if args.max_drop is not None and robustness.worst_drop > args.max_drop:
            return EXIT_BELOW_THRESHOLD
        return EXIT_PASSED

    return run_tool("robustness", work)


if __name__ == "__main__":
    sys.exit(main())
