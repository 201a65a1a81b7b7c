"""`flipkart-torch train|evaluate|export|export-ensemble|train-text|fit-listing|models|bench`."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from flipkart_contract.resize import RESIZE_METHODS
from flipkart_contract.run_id import TRAINING_MODES

from flipkart_torch.config import TrainConfig
from flipkart_torch.data import DataError
from flipkart_torch.precision import PRECISIONS


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one model on data/splits.csv, log to runs/pytorch/")
    p.add_argument(
        "--architecture",
        "--model",
        dest="architecture",
        required=True,
        help="timm name, mambavision_*, efficientnet_lite0/1/2 (--model: old spelling)",
    )
    p.add_argument(
        "--training-mode",
        "--mode",
        dest="training_mode",
        choices=TRAINING_MODES,
        default="finetune",
        help="freeze: only the classifier learns; finetune: every layer (--mode: old spelling)",
    )
    p.add_argument("--pretrained", action="store_true", help="start from ImageNet weights")
    p.add_argument("--weights", help="start from a local weights file (.pth, .pth.tar, checkpoint)")
    p.add_argument("--epochs", type=int, help="default 10; with --resume: a new epoch budget")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--ema-decay", type=float, default=0.0, help="0 disables EMA")
    p.add_argument(
        "--augment",
        choices=("basic", "catalogue"),
        default="basic",
        help="training augmentation recipe (flipkart_torch.augment), batched on the device",
    )
    p.add_argument("--mix-prob", type=float, default=0.0, help="share of mixup/CutMix batches")
    p.add_argument("--mixup-alpha", type=float, default=0.2)
    p.add_argument("--cutmix-alpha", type=float, default=1.0)
    p.add_argument(
        "--backbone-lr-mult", type=float, default=1.0, help="backbone learning rate = lr x this"
    )
    p.add_argument(
        "--layer-decay",
        type=float,
        default=1.0,
        help="layer-wise lr decay: each layer group below the head learns this times as fast "
        "as the one above (timm's group_matcher); 1 disables it",
    )
    p.add_argument(
        "--trainable-stages",
        type=int,
        default=0,
        help="partial fine-tuning: only the last N stages (and the head) train, on activations "
        "of the frozen part cached once (flipkart_torch.partial); 0: every layer trains",
    )
    p.add_argument(
        "--cached-views",
        type=int,
        default=0,
        help="with --trainable-stages: N copies of each training image augmented by --augment "
        "(seeded by --seed) cached beside its plain and mirrored views",
    )
    p.add_argument(
        "--tta",
        choices=("none", "flip"),
        default="none",
        help="test-time augmentation of val, test and the exported graph",
    )
    p.add_argument(
        "--head-init",
        choices=("random", "probe"),
        default="random",
        help="probe: the classifier starts as the linear probe of the pretrained features "
        "(L2 chosen on val); with --training-mode freeze --epochs 0, a linear-probe run",
    )
    p.add_argument(
        "--probe-views",
        type=int,
        help="the probe also fits N copies of each training image augmented by --augment "
        "(seeded by --seed), beside its plain and mirrored views",
    )
    p.add_argument(
        "--teacher",
        help="distil: comma-separated run ids whose averaged logits on the training images "
        "become soft targets",
    )
    p.add_argument("--kd-alpha", type=float, default=0.7, help="teacher weight in the targets")
    p.add_argument("--kd-temperature", type=float, default=2.0, help="teacher softening")
    p.add_argument("--accum-steps", type=int, default=1)
    p.add_argument("--drop-rate", type=float, default=0.2)
    p.add_argument(
        "--drop-mode",
        choices=("head", "nvidia"),
        default="head",
        help="where --drop-rate goes: head (timm: before the classifier) or nvidia (MambaVision "
        "only: in every MLP and attention projection, as NVIDIA's training)",
    )
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument(
        "--resize-method",
        "--resize-mode",
        dest="resize_method",
        choices=RESIZE_METHODS,
        default="pad",
        help="the card's resize_policy.method (--resize-mode: old spelling)",
    )
    p.add_argument("--interpolation", choices=("bilinear", "bicubic"))
    p.add_argument("--crop-pct", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patience", type=int, default=5, help="early stopping on val macro-F1")
    p.add_argument("--no-amp", dest="amp", action="store_false")
    p.add_argument("--num-threads", type=int)
    p.add_argument("--limit-per-class", type=int, help="use a few images per class (smoke runs)")
    p.add_argument("--budget", help="free text for metrics.json (default: derived)")
    p.add_argument("--run-id")
    p.add_argument("--splits-csv")
    p.add_argument("--images-dir")
    p.add_argument("--runs-dir")
    p.add_argument("--checkpoints-dir")
    p.add_argument("--cache-dir", help="'' disables the on-disk image cache")
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        help="continue the latest checkpoint of --architecture/--training-mode, or the given "
        "run_id",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false")


def _add_locations(p: argparse.ArgumentParser, outputs: bool = True) -> None:
    """Where the data (and, for exports, the models and runs) are; defaults: the repository's."""
    if outputs:
        p.add_argument("--models-dir")
    p.add_argument("--splits-csv")
    p.add_argument("--images-dir")
    if outputs:
        p.add_argument("--runs-dir")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split")
    p.add_argument(
        "checkpoint", help="a run_id, or a best.pt (artifacts/checkpoints/pytorch/<run_id>/best.pt)"
    )
    p.add_argument("--split", choices=("train", "val", "test"), default="test")
    p.add_argument("--tta", choices=("none", "flip"), default="none")
    _add_locations(p, outputs=False)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write artifacts/models/<run_id>/{model.onnx,card.json}")
    p.add_argument("run", help="run_id, or a best.pt path")
    p.add_argument("--parity-images", type=int, default=32)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp16 or int8: convert the fp32 graph with ONNX Runtime and keep it only if it "
        "agrees with fp32 on >= 99%% of the test images' top-1 and loses <= 0.5 point of "
        "accuracy (the fp32 graph stays beside it as model.fp32.onnx, untracked)",
    )
    _add_max_mb(p)
    _add_locations(p)


def _add_export_ensemble(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-ensemble",
        help="record and export the mean of several runs' logits as one model (a leaderboard row)",
    )
    p.add_argument("runs", nargs="+", help="run_ids (or best.pt paths), same classes and resize")
    _add_max_mb(p)
    _add_locations(p)


def _add_max_mb(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-mb",
        type=float,
        default=25.0,
        help="refuse a larger ONNX file (0: no limit; only the production ONNX is committed)",
    )


def _max_bytes(args: argparse.Namespace) -> int | None:
    return int(args.max_mb * 2**20) if args.max_mb > 0 else None


def _add_text(sub: argparse._SubParsersAction) -> None:
    from flipkart_torch.text import ARCHITECTURES, DEFAULT_C_GRID

    p = sub.add_parser(
        "train-text",
        help="fit a text model of the listings' title/description -> runs/text/, artifacts/text/",
    )
    p.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="tfidf-word")
    p.add_argument(
        "--train-inputs",
        default="title,title+description",
        help="how each training product is read, comma-separated (title, description, "
        "title+description); each is one training document",
    )
    p.add_argument(
        "--c-grid",
        default=",".join(f"{c:g}" for c in DEFAULT_C_GRID),
        help="inverse L2 strengths tried; the best mean validation macro-F1 is kept",
    )
    p.add_argument("--min-df", type=int, default=1, help="drop terms in fewer documents")
    p.add_argument(
        "--fit-on",
        choices=("train", "train+val"),
        default="train",
        help="train+val: once C is chosen on val, refit on both; val figures (and the "
        "listing's fusion weights) then come from out-of-fold cross-fitting",
    )
    p.add_argument("--splits-csv")
    p.add_argument("--runs-dir")
    p.add_argument("--text-dir", help="default: artifacts/text")

    p = sub.add_parser(
        "fit-listing",
        help="fuse an exported image model and a text model (weights fitted on val) -> "
        "artifacts/listing/<listing_id>/card.json",
    )
    p.add_argument(
        "--image", help="image run_id (artifacts/models/<run_id>); default: the production model"
    )
    p.add_argument(
        "--text", help="text run_id (artifacts/text/<run_id>); default: the newest text model"
    )
    p.add_argument("--register", action="store_true", help="make it the listing the service uses")
    p.add_argument("--splits-csv")
    p.add_argument("--images-dir")
    p.add_argument("--artifacts-dir", help="default: artifacts")


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="training and inference speed (eager vs ONNX Runtime) of the exported PyTorch "
        "models, and the selective scan -> bench/results/pytorch.json",
    )
    p.add_argument("--output", help="default: bench/results/pytorch.json at the repository root")
    p.add_argument("--models-dir", help="default: artifacts/models")
    p.add_argument(
        "--models", nargs="+", help="only these models (run_id substring or architecture)"
    )
    p.add_argument("--repeats", type=int, default=20, help="timed calls per latency figure")
    p.add_argument("--train-steps", type=int, default=5, help="timed optimizer steps")
    p.add_argument("--batch-size", type=int, default=16, help="training batch")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and ONNX Runtime threads (default 1: on a busy shared machine torch's "
        "OpenMP threads wait on each other; 2 where the cores are free)",
    )
    p.add_argument("--skip-scan", action="store_true", help="leave out the selective scan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flipkart-torch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_evaluate(sub)
    _add_export(sub)
    _add_export_ensemble(sub)
    _add_text(sub)
    _add_bench(sub)
    p = sub.add_parser("models", help="list the architectures create_model accepts")
    p.add_argument("--filter", default="")
    return parser


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of `train`'s options (those left out keep TrainConfig's defaults)."""
    names = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return TrainConfig(**values)


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from flipkart_torch.train import train

        result = train(
            train_config(args),
            resume=args.resume,
            epochs_override=args.epochs if args.resume else None,
        )
        if "metrics" in result:
            test = result["metrics"]["final"]["test"]
            print(
                f"{result['run_id']}: test accuracy {test['accuracy']:.3f}, "
                f"macro-F1 {test['macro_f1']:.3f} -> {result['run_dir']}"
            )
    elif args.command == "evaluate":
        from flipkart_torch.export import evaluate_checkpoint

        figures = evaluate_checkpoint(
            args.checkpoint, args.split, args.splits_csv, args.images_dir, tta=args.tta
        )
        print(json.dumps(figures, indent=2))
    elif args.command == "export":
        from flipkart_torch.export import export_run

        card = export_run(
            args.run,
            models_dir=args.models_dir,
            parity_images=args.parity_images,
            splits_csv=args.splits_csv,
            images_dir=args.images_dir,
            runs_dir=args.runs_dir,
            max_bytes=_max_bytes(args),
            precision=args.precision,
        )
        keys = ("run_id", "precision", "precision_check", "parity", "latency_ms", "onnx")
        print(json.dumps({k: card[k] for k in keys if k in card}, indent=2))
    elif args.command == "export-ensemble":
        from flipkart_torch.ensemble import export_ensemble

        card = export_ensemble(
            args.runs,
            models_dir=args.models_dir,
            splits_csv=args.splits_csv,
            images_dir=args.images_dir,
            runs_dir=args.runs_dir,
            max_bytes=_max_bytes(args),
        )
        test = card["metrics"]["test"]
        print(
            f"{card['run_id']}: test accuracy {test['accuracy']:.3f}, macro-F1 "
            f"{test['macro_f1']:.3f}, {card['latency_ms']['batch_1']:.2f} ms at batch 1"
        )
    elif args.command == "train-text":
        _train_text(args)
    elif args.command == "fit-listing":
        _fit_listing(args)
    elif args.command == "bench":
        from flipkart_torch.bench import run_bench

        options = ("models_dir", "models", "repeats", "train_steps", "batch_size", "threads")
        scan = None if args.skip_scan else {}  # {}: bench_scan's defaults
        run_bench(args.output, scan=scan, **{k: getattr(args, k) for k in options})
    elif args.command == "models":
        from flipkart_torch.models.factory import valid_architectures

        print("\n".join(n for n in valid_architectures() if args.filter in n))
    return 0


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _train_text(args: argparse.Namespace) -> None:
    from flipkart_torch.text import TextConfig, train_text

    config = TextConfig(
        architecture=args.architecture,
        train_inputs=tuple(s.strip() for s in args.train_inputs.split(",") if s.strip()),
        c_grid=tuple(float(c) for c in args.c_grid.split(",") if c.strip()),
        min_df=args.min_df,
        fit_on=args.fit_on,
    )
    metrics = train_text(
        config,
        splits_csv=_path(args.splits_csv),
        runs_dir=_path(args.runs_dir),
        text_dir=_path(args.text_dir),
    )
    for kind, m in metrics.final.test.items():
        print(f"{metrics.run_id} test {kind}: accuracy {m.accuracy:.3f}, macro-F1 {m.macro_f1:.3f}")


def _fit_listing(args: argparse.Namespace) -> None:
    from flipkart_torch.listing import fit_listing

    card = fit_listing(
        args.image,
        args.text,
        splits_csv=_path(args.splits_csv),
        images_dir=_path(args.images_dir),
        artifacts_dir=_path(args.artifacts_dir),
        register=args.register,
    )
    for key, m in card.metrics["test"].items():
        print(f"{card.listing_id} test {key}: accuracy {m.accuracy:.3f}, macro-F1 {m.macro_f1:.3f}")


def main(argv: list[str] | None = None) -> None:
    try:
        code = run(argv)
    except (DataError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"flipkart-torch: error: {error}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
