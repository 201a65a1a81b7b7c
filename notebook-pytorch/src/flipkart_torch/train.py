"""One training code path for every model: freeze/finetune, AdamW, warmup+cosine, label
smoothing, clipping, EMA, accumulation, AMP on CUDA, DDP under torchrun, resume, run logging."""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from flipkart_torch import paths
from flipkart_torch.data import (
    DataError,
    SplitData,
    check_images,
    class_names,
    file_sha256,
    load_split,
    read_splits,
)
from flipkart_torch.metrics import classification_figures, report_text
from flipkart_torch.models.factory import architecture_for, check_model_name, create_model
from flipkart_torch.run_log import RunLog, hardware, write_json
from flipkart_torch.transforms import augment, normalize, preprocessing_config

MODES = ("freeze", "finetune")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class TrainConfig:
    model: str
    mode: str = "finetune"
    pretrained: bool = False
    weights: str | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    accum_steps: int = 1
    drop_rate: float = 0.2
    image_size: int = 224
    resize_mode: str = "pad"
    interpolation: str | None = None
    crop_pct: float | None = None
    seed: int = 0
    patience: int = 5
    amp: bool = True
    num_threads: int | None = None
    limit_per_class: int | None = None
    budget: str | None = None
    run_id: str | None = None
    splits_csv: str | None = None
    images_dir: str | None = None
    runs_dir: str | None = None
    checkpoints_dir: str | None = None
    cache_dir: str | None = None
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.accum_steps < 1:
            raise ValueError("epochs, batch_size and accum_steps must be at least 1")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


def make_run_id(model: str, mode: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%d-%H%M%S}_{model}_{mode}"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Distributed:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Distributed()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return Distributed(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def pick_device(distributed: Distributed) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", distributed.local_rank)
    return torch.device("cpu")


def model_norm(model: nn.Module) -> tuple[tuple, tuple]:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    return tuple(cfg.get("mean", IMAGENET_MEAN)), tuple(cfg.get("std", IMAGENET_STD))


def model_preprocessing(model: nn.Module, config: TrainConfig) -> dict[str, Any]:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    interpolation = config.interpolation or cfg.get("interpolation", "bicubic")
    if interpolation not in ("bilinear", "bicubic"):
        interpolation = "bicubic"
    if config.crop_pct is not None:
        crop_pct = config.crop_pct
    else:
        crop_pct = cfg.get("crop_pct", 0.875) if config.resize_mode == "crop" else 1.0
    return preprocessing_config(config.resize_mode, config.image_size, interpolation, crop_pct)


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    head = model.get_classifier()
    return list(head.parameters())


def set_train_mode(model: nn.Module, mode: str) -> None:
    """finetune: everything trains. freeze: the backbone stays in eval mode (BatchNorm
    statistics frozen) and only the classifier learns."""
    model.train()
    if mode == "freeze":
        head = {id(m) for m in model.get_classifier().modules()}
        for module in model.modules():
            if id(module) not in head:
                module.eval()


def lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float):
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        progress = min(1.0, progress)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def predict(
    model: nn.Module,
    images: np.ndarray,
    mean: tuple,
    std: tuple,
    device: torch.device,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "eval",
) -> np.ndarray:
    model.eval()
    outputs = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        batch = torch.from_numpy(images[start : start + batch_size]).to(device)
        with autocast(device):
            logits = model(normalize(batch, mean, std))
        outputs.append(logits.float().cpu())
    return torch.cat(outputs).numpy()


def autocast(device: torch.device):
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return torch.autocast("cpu", enabled=False)


def evaluate(
    model: nn.Module,
    split: SplitData,
    classes: list[str],
    mean: tuple,
    std: tuple,
    device: torch.device,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "eval",
) -> dict[str, Any]:
    start = time.perf_counter()
    logits = predict(model, split.images, mean, std, device, batch_size, progress, desc)
    elapsed = time.perf_counter() - start
    labels = split.labels
    loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item())
    preds = logits.argmax(1)
    figures = classification_figures(labels, preds, classes)
    figures["loss"] = loss
    figures["ms_per_image"] = 1000 * elapsed / len(labels)
    figures["logits"] = logits
    figures["preds"] = preds
    return figures


def save_atomic(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def latest_checkpoint(checkpoints_dir: Path, model: str, mode: str) -> Path:
    candidates = sorted(checkpoints_dir.glob(f"*_{model}_{mode}/last.pt"))
    if not candidates:
        raise FileNotFoundError(
            f"no checkpoint to resume under {checkpoints_dir} for {model} {mode} "
            f"(expected <run_id>/last.pt); start without --resume"
        )
    return candidates[-1]


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model


def train(
    config: TrainConfig, resume: bool | str = False, epochs_override: int | None = None
) -> dict[str, Any]:
    """Train, select on val macro-F1, test once, log. `resume=True` continues the latest
    checkpoint of this model and mode; a run_id string continues that run; `epochs_override`
    changes a resumed run's epoch budget (the cosine schedule is stretched to the new length)."""
    config.check()
    distributed = setup_distributed()
    device = pick_device(distributed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    checkpoints_root = Path(config.checkpoints_dir or paths.checkpoints_dir())

    state = None
    if resume:
        if isinstance(resume, str):
            last = checkpoints_root / resume / "last.pt"
            if not last.is_file():
                raise FileNotFoundError(f"no checkpoint {last} to resume")
        else:
            last = latest_checkpoint(checkpoints_root, config.model, config.mode)
        state = torch.load(last, map_location="cpu", weights_only=False)
        saved = TrainConfig(**state["config"])
        saved.progress = config.progress
        if epochs_override is not None and epochs_override != saved.epochs:
            saved.extra = {
                **saved.extra,
                "epochs_planned": saved.epochs,
                "epochs_changed_at_resume": True,
            }
            saved.epochs = epochs_override
        config = saved

    check_model_name(config.model)  # a typo is reported before anything is read or built
    splits_path = Path(config.splits_csv or paths.splits_csv())
    images_dir = Path(config.images_dir or paths.images_dir())
    table = read_splits(splits_path)
    check_images(table, images_dir)
    classes = class_names(table)
    if state is not None and state["classes"] != classes:
        raise DataError(
            f"the checkpoint's classes {state['classes']} differ from the data's {classes}"
        )

    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    model = create_model(
        config.model,
        num_classes=len(classes),
        pretrained=config.pretrained,
        weights=config.weights,
        drop_rate=config.drop_rate,
    )
    weights_source = model.weights_source
    mean, std = model_norm(model)
    preprocessing = model_preprocessing(model, config)
    model.to(device)

    cache_dir = config.cache_dir if config.cache_dir is not None else paths.cache_dir()
    load = dict(
        images_dir=images_dir,
        preprocessing=preprocessing,
        cache_dir=cache_dir or None,
        limit_per_class=config.limit_per_class,
        progress=config.progress and distributed.main,
    )
    train_data = load_split(table, "train", classes, **load)
    val_data = load_split(table, "val", classes, **load)

    if config.mode == "freeze":
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        for parameter in head_parameters(model):
            parameter.requires_grad_(True)
    trainable = [p for p in model.parameters() if p.requires_grad]

    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    per_rank = len(train_data.labels) // distributed.world_size
    micro_batches = math.ceil(per_rank / config.batch_size)
    steps_per_epoch = math.ceil(micro_batches / config.accum_steps)
    total_steps = steps_per_epoch * config.epochs
    warmup_steps = round(config.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total_steps, warmup_steps, config.min_lr_ratio)
    )
    use_scaler = device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)

    ema = None
    if config.ema_decay > 0:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=config.ema_decay)

    run_id = config.run_id or make_run_id(config.model, config.mode)
    config.run_id = run_id
    start_epoch, best_f1, best_epoch, bad_epochs, wall_before = 0, -1.0, -1, 0, 0.0
    history: list[dict[str, float]] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        start_epoch = state["epoch"] + 1
        best_f1, best_epoch = state["best_f1"], state["best_epoch"]
        bad_epochs, history = state["bad_epochs"], state["history"]
        wall_before = state["wall_time_s"]
        torch.set_rng_state(state["rng"])

    train_model: nn.Module = model
    if distributed.world_size > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    run_dir = Path(config.runs_dir or paths.runs_dir()) / run_id
    checkpoint_dir = checkpoints_root / run_id
    log = (
        RunLog(run_dir, purge_step=start_epoch + 1 if state is not None else None)
        if distributed.main
        else None
    )
    started = time.perf_counter()
    num_images = per_rank * distributed.world_size

    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.epochs):
        if bad_epochs >= config.patience:
            break
        epoch_start = time.perf_counter()
        set_train_mode(train_model, config.mode)
        generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
        order = torch.randperm(len(train_data.labels), generator=generator)[:num_images]
        shard = order[distributed.rank :: distributed.world_size]
        aug_generator = torch.Generator().manual_seed(
            config.seed * 1000 + epoch + 10**6 * distributed.rank
        )
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.float64)
        starts = list(range(0, len(shard), config.batch_size))
        bar = tqdm(
            starts,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            disable=not (config.progress and distributed.main),
            leave=False,
        )
        optimizer.zero_grad(set_to_none=True)
        for micro, start in enumerate(bar):
            index = shard[start : start + config.batch_size].numpy()
            pixels = augment(torch.from_numpy(train_data.images[index]).float(), aug_generator)
            labels = torch.from_numpy(train_data.labels[index]).to(device)
            inputs = normalize(pixels.to(device), mean, std)
            last_micro = (micro + 1) % config.accum_steps == 0 or micro + 1 == len(starts)
            sync = last_micro or distributed.world_size == 1
            context = train_model.no_sync() if not sync else contextlib.nullcontext()
            with context, autocast(device):
                logits = train_model(inputs)
                loss = F.cross_entropy(
                    logits.float(), labels, label_smoothing=config.label_smoothing
                )
                scaler.scale(
                    loss * len(index) / (config.batch_size * config.accum_steps)
                ).backward()
            loss_sum += loss.detach().double().cpu() * len(index)
            correct += (logits.argmax(1) == labels).sum().double().cpu()
            if last_micro:
                if config.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                if ema is not None:
                    ema.update(model)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        train_s = time.perf_counter() - epoch_start
        totals = torch.stack([loss_sum, correct])
        if distributed.world_size > 1:
            dist.all_reduce(totals)
            # DDP syncs gradients, and buffers only at the start of each forward: give every
            # rank rank 0's BatchNorm statistics so all ranks end the epoch identical.
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)
        eval_model = ema.module if ema is not None else model
        val = evaluate(eval_model, val_data, classes, mean, std, device, desc="val")
        improved = val["macro_f1"] > best_f1
        if improved:
            best_f1, best_epoch, bad_epochs = val["macro_f1"], epoch, 0
        else:
            bad_epochs += 1
        scalars = {
            "train/loss": float(totals[0] / num_images),
            "train/accuracy": float(totals[1] / num_images),
            "val/loss": val["loss"],
            "val/accuracy": val["accuracy"],
            "val/macro_f1": val["macro_f1"],
            "lr": optimizer.param_groups[0]["lr"],
            "perf/train_images_per_s": num_images / train_s,
            "perf/epoch_s": time.perf_counter() - epoch_start,
        }
        history.append({"epoch": epoch, **scalars})
        if distributed.main:
            if improved:
                save_atomic(
                    {
                        "model": _unwrap(eval_model).state_dict(),
                        "model_name": config.model,
                        "architecture": architecture_for(config.model),
                        "classes": classes,
                        "preprocessing": preprocessing,
                        "mean": mean,
                        "std": std,
                        "weights_source": weights_source,
                        "config": asdict(config),
                        "epoch": epoch,
                        "run_id": run_id,
                    },
                    checkpoint_dir / "best.pt",
                )
            save_atomic(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None,
                    "epoch": epoch,
                    "best_f1": best_f1,
                    "best_epoch": best_epoch,
                    "bad_epochs": bad_epochs,
                    "history": history,
                    "wall_time_s": wall_before + time.perf_counter() - started,
                    "rng": torch.get_rng_state(),
                    "config": asdict(config),
                    "classes": classes,
                },
                checkpoint_dir / "last.pt",
            )
            log.epoch(epoch + 1, scalars)  # steps count epochs from 1 (run contract)
            print(
                f"epoch {epoch + 1}/{config.epochs} train_loss={scalars['train/loss']:.4f} "
                f"train_acc={scalars['train/accuracy']:.3f} val_acc={val['accuracy']:.3f} "
                f"val_f1={val['macro_f1']:.3f} {scalars['perf/train_images_per_s']:.1f} img/s",
                flush=True,
            )
        if distributed.world_size > 1:
            dist.barrier()

    result: dict[str, Any] = {
        "run_id": run_id,
        "run_dir": str(run_dir),
        "history": history,
        "model": model,
    }
    if distributed.main:
        best = torch.load(checkpoint_dir / "best.pt", map_location="cpu", weights_only=False)
        final_model = create_model(config.model, num_classes=len(classes)).to(device)
        final_model.load_state_dict(best["model"])
        val = evaluate(final_model, val_data, classes, mean, std, device, desc="val")
        test_data = load_split(table, "test", classes, **load)
        test = evaluate(final_model, test_data, classes, mean, std, device, desc="test")
        wall_time = wall_before + time.perf_counter() - started
        last_step = history[-1]["epoch"] if history else epoch
        final_scalars = {
            "test/accuracy": test["accuracy"],
            "test/macro_f1": test["macro_f1"],
            "perf/test_ms_per_image": test["ms_per_image"],
        }
        hw = hardware(device)
        budget = config.budget or (
            f"{hw['device'].upper()}, {hw['num_threads']} threads, {config.epochs} epochs at "
            f"{config.image_size} px, batch {config.batch_size}"
        )
        hparam_values = {
            k: v for k, v in asdict(config).items() if isinstance(v, (int, float, str, bool))
        }
        hparam_values["weights_source"] = weights_source
        log.final(
            last_step + 1,
            final_scalars,
            report_text(test_data.labels, test["preds"], classes),
            test["confusion_matrix"],
            classes,
            hparam_values,
        )
        log.close()
        test_public = {
            k: test[k]
            for k in ("accuracy", "macro_f1", "loss", "num_images", "per_class", "confusion_matrix")
        }
        train_speeds = [h["perf/train_images_per_s"] for h in history]
        metrics = {
            "schema_version": 1,
            "run_id": run_id,
            "framework": "pytorch",
            "model": config.model,
            "mode": config.mode,
            "classes": classes,
            "config": {
                **asdict(config),
                "architecture": architecture_for(config.model),
                "preprocessing": preprocessing,
                "mean": list(mean),
                "std": list(std),
                "world_size": distributed.world_size,
            },
            "budget": budget,
            "hardware": hw,
            "weights_source": weights_source,
            "data": {
                "splits_sha256": file_sha256(splits_path),
                "num_train": len(train_data.labels),
                "num_val": len(val_data.labels),
                "num_test": len(test_data.labels),
            },
            "epochs_run": len(history),
            "best_epoch": best_epoch + 1,  # counted from 1, like the TensorBoard steps
            "wall_time_s": round(wall_time, 2),
            "final": {
                "val": {k: val[k] for k in ("accuracy", "macro_f1", "loss")},
                "test": test_public,
                "perf": {
                    "train_images_per_s": float(np.mean(train_speeds)) if train_speeds else 0.0,
                    "test_ms_per_image": test["ms_per_image"],
                },
            },
            "created_at": utc_now(),
        }
        write_json(run_dir / "metrics.json", metrics)
        result["metrics"] = metrics
        result["checkpoint"] = str(checkpoint_dir / "best.pt")
    if distributed.world_size > 1:
        dist.barrier()
    return result
