"""`flipkart-tf train|evaluate|export|bench` — the lab's command line."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _add_train(sub: argparse._SubParsersAction) -> None:
    from flipkart_contract.resize import RESIZE_METHODS
    from flipkart_contract.run_id import TRAINING_MODES

    from flipkart_tf.train import TrainConfig

    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train one model on data/splits.csv",
        epilog="--model, --mode and --resize-mode are the old spellings of --architecture, "
        "--training-mode and --resize-method.",
    )
    p.add_argument("--architecture", "--model", default=d.architecture, help="efficientnet_b0..b3")
    p.add_argument("--training-mode", "--mode", default=d.training_mode, choices=TRAINING_MODES)
    p.add_argument("--weights", default=d.weights, help="imagenet | none | PATH (.h5/.keras)")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument(
        "--bn-momentum", type=float, default=None, help="backbone batch-norm (Keras: 0.99)"
    )
    p.add_argument("--patience", type=int, default=d.patience, help="early stopping on val F1")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes, help="0 = no limit")
    p.add_argument("--image-size", type=int, default=d.image_size)
    p.add_argument(
        "--resize-method", "--resize-mode", default=d.resize_method, choices=RESIZE_METHODS
    )
    p.add_argument("--interpolation", default=d.interpolation, choices=["bilinear", "bicubic"])
    p.add_argument("--crop-pct", type=float, default=None, help="default 0.875 crop, 1.0 pad")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads, help="0 = TensorFlow's default")
    p.add_argument("--limit-per-split", type=int, default=None, help="smoke runs only")
    p.add_argument("--budget", default="", help="free text recorded in metrics.json")
    p.add_argument("--note", default="", help="free text recorded in metrics.json and the card")
    p.add_argument("--splits-csv", default=d.splits_csv)
    p.add_argument("--images-dir", default=d.images_dir)
    p.add_argument("--runs-dir", default=d.runs_dir)
    p.add_argument("--checkpoints-dir", default=d.checkpoints_dir)
    p.add_argument("--export", action="store_true", help="export to ONNX after training")
    p.add_argument("--models-dir", default=None, help="where --export writes")


def run_train(args: argparse.Namespace) -> int:
    from flipkart_tf.train import TrainConfig, train

    crop_pct = (
        args.crop_pct
        if args.crop_pct is not None
        else (0.875 if args.resize_method == "crop" else 1.0)
    )
    config = TrainConfig(
        architecture=args.architecture,
        training_mode=args.training_mode,
        weights=args.weights,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        dropout=args.dropout,
        bn_momentum=args.bn_momentum,
        patience=args.patience,
        max_minutes=args.max_minutes,
        image_size=args.image_size,
        resize_method=args.resize_method,
        interpolation=args.interpolation,
        crop_pct=crop_pct,
        seed=args.seed,
        threads=args.threads,
        limit_per_split=args.limit_per_split,
        budget=args.budget,
        note=args.note,
        splits_csv=args.splits_csv,
        images_dir=args.images_dir,
        runs_dir=args.runs_dir,
        checkpoints_dir=args.checkpoints_dir,
    )
    run_dir = train(config)
    print(run_dir)
    if args.export:
        from flipkart_tf.export import export_run

        print(
            export_run(
                run_dir,
                models_dir=args.models_dir,
                images_dir=args.images_dir,
                splits_csv=args.splits_csv,
            )
        )
    return 0


def _add_others(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="re-evaluate a run (Keras checkpoint or its ONNX file)")
    p.add_argument("run", help="run folder or run_id under runs/tensorflow/")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--onnx", default=None, help="evaluate this exported model.onnx instead")
    p.add_argument("--splits-csv", default=None)
    p.add_argument("--images-dir", default=None)

    p = sub.add_parser("export", help="export a run to artifacts/models/<run_id>/")
    p.add_argument("run", help="run folder or run_id under runs/tensorflow/")
    p.add_argument("--models-dir", default=None)
    p.add_argument("--checkpoint", default=None, help="default: the one in metrics.json")
    p.add_argument("--parity-images", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for latency")
    p.add_argument("--splits-csv", default=None)
    p.add_argument("--images-dir", default=None)

    p = sub.add_parser("bench", help="training img/s, Keras vs ONNX Runtime latency")
    p.add_argument("--architecture", "--model", default="efficientnet_b0")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--train-steps", type=int, default=5)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--output", default=None, help="default: bench/results/tensorflow.json")


def run_evaluate(args: argparse.Namespace) -> int:
    from flipkart_contract.evaluation import report_text

    from flipkart_tf.evaluate import evaluate_run

    result = evaluate_run(
        args.run, args.split, args.onnx, splits_csv=args.splits_csv, images_dir=args.images_dir
    )
    print(f"{result.source} on {result.split}:")
    print(report_text(result.metrics, result.classes))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from flipkart_tf.export import export_run

    options = ("models_dir", "splits_csv", "images_dir", "checkpoint", "parity_images", "threads")
    print(export_run(args.run, **_options(args, options)))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from flipkart_tf.bench import run_bench as bench

    options = ("architecture", "image_size", "batch_size", "train_steps", "repeats", "threads")
    print(bench(args.output, **_options(args, options)).read_text())
    return 0


def _options(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, object]:
    """The parsed options of these names, as keyword arguments (flag `--x-y` → `x_y`)."""
    return {name: getattr(args, name) for name in names}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flipkart-tf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_others(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from flipkart_tf.data import DataError
    from flipkart_tf.export import ExportError
    from flipkart_tf.models import ModelError

    handlers = {
        "train": run_train,
        "evaluate": run_evaluate,
        "export": run_export,
        "bench": run_bench,
    }
    try:
        return handlers[args.command](args)
    except (DataError, ModelError, ExportError, ValueError, FileNotFoundError) as error:
        print(f"flipkart-tf {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
