"""Which test images fell in each cell of a model's confusion matrix, for the app's Models tab:
the exported model run over the test split as served (`tools.evaluate`), its predictions written
next to its card (`models/<run_id>/test_predictions.json`) and a small JPEG of each test image
(`thumbnails/<image>`, long side `--thumbnail-px`) in the artifacts, both committed, so the
service answers `GET /v1/models/{model}/test-predictions` and `GET /v1/thumbnails/{image}`
without the dataset.

The card's matrix was computed by the lab (its own preprocessing); this one by the service's
decode and ONNX Runtime. `matches_card` says whether they agree cell for cell; when they do not,
the app still shows the images the served model put in each cell.

  python -m flipkart_api.tools.test_cells [--run-id RUN_ID] [--splits data/splits.csv]
      [--images data/images] [--artifacts DIR] [--thumbnail-px 128]

Exit codes as `tools.evaluate`: 0 written, 2 bad input (one line on stderr), 1 unexpected.
"""

import argparse
import sys
from pathlib import Path

from flipkart_contract import load_card, sha256_file, write_json_atomic
from PIL import Image, ImageOps

from flipkart_api.tools.evaluate import BadInput, add_data_arguments, evaluate, run_tool
from flipkart_api.tools.exports import default_artifacts

SCHEMA_VERSION = 1
FILE_NAME = "test_predictions.json"
THUMBNAILS = "thumbnails"


def thumbnail(source: Path, target: Path, pixels: int) -> None:
    with Image.open(source) as image:
        small = ImageOps.exif_transpose(image).convert("RGB")
        small.thumbnail((pixels, pixels), Image.Resampling.LANCZOS)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        small.save(partial, format="JPEG", quality=82, optimize=True)
        partial.replace(target)


def test_cells(args: argparse.Namespace) -> dict:
    artifacts = args.artifacts if args.artifacts is not None else default_artifacts()
    report = evaluate(
        argparse.Namespace(
            splits=args.splits,
            images=args.images,
            split="test",
            artifacts=artifacts,
            run_id=args.run_id,
            batch_size=args.batch_size,
            min_accuracy=None,
        )
    )
    run_id = report["run_id"]
    folder = artifacts / "models" / run_id

    card = load_card(folder / "card.json")
    cells = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "onnx_sha256": sha256_file(folder / card.onnx.file),
        "split": "test",
        "classes": report["classes"],
        "confusion_matrix": report["confusion_matrix"],
        "matches_card": report["confusion_matrix"] == card.metrics.test.confusion_matrix,
        "accuracy": report["accuracy"],
        "predictions": [
            {key: p[key] for key in ("image", "label", "predicted", "confidence")}
            for p in report["predictions"]
        ],
        "skipped": report["skipped"],
        "created_at": report["created_at"],
    }
    write_json_atomic(folder / FILE_NAME, cells)
    for prediction in cells["predictions"]:
        target = artifacts / THUMBNAILS / prediction["image"]
        if not target.is_file():
            thumbnail(args.images / prediction["image"], target, args.thumbnail_px)
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.tools.test_cells", description=__doc__.splitlines()[0]
    )
    add_data_arguments(parser, split=None)
    parser.add_argument("--run-id", help="default: the production model of registry.json")
    parser.add_argument("--artifacts", type=Path, help="default: the repository's artifacts/")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--thumbnail-px", type=int, default=128)
    args = parser.parse_args(argv)
    if args.thumbnail_px < 16 or args.batch_size < 1:
        parser.error("--thumbnail-px must be at least 16 and --batch-size at least 1")

    def work() -> int:
        cells = test_cells(args)
        if not cells["predictions"]:
            raise BadInput("no test image could be read")
        agreement = "matches" if cells["matches_card"] else "DIFFERS FROM"
        print(
            f"{cells['run_id']}: {len(cells['predictions'])} test images, accuracy "
            f"{cells['accuracy']:.4f}; the served confusion matrix {agreement} the card's"
        )
        return 0

    return run_tool("test_cells", work)


if __name__ == "__main__":
    sys.exit(main())
