"""One training code path for every model: freeze/finetune, AdamW, warmup+cosine, label
smoothing, clipping, EMA, accumulation, AMP on CUDA, DDP under torchrun, resume, run logging.

`train()` reads as the run: set up (`prepare_run`), then per epoch `train_epoch`, `validate`,
`save_checkpoints` and `log_epoch`, then `final_test` on the best checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from flipkart_contract import ResizePolicy, class_names, layout, make_run_id
from flipkart_contract import sha256_file as file_sha256
from flipkart_contract.evaluation import report_text, split_metrics
from flipkart_contract.schema import SplitMetrics
from torch import nn
from tqdm.auto import tqdm

from flipkart_torch import checkpoints, distill, partial, probe
from flipkart_torch.augment import augment_batch, mix, one_hot, recipe, soft_cross_entropy
from flipkart_torch.config import TrainConfig
from flipkart_torch.data import DataError, SplitData, check_images, load_split, read_splits
from flipkart_torch.devices import Distributed, autocast, pick_device, setup_distributed
from flipkart_torch.evaluation import evaluate
from flipkart_torch.models.factory import check_architecture, create_model, timm_name
from flipkart_torch.optim import Optimisation, set_train_mode
from flipkart_torch.paths import FRAMEWORK, cache_dir
from flipkart_torch.run_log import RunLog, run_metrics, write_run_metrics
from flipkart_torch.transforms import model_norm, normalize, resize_policy_for


@dataclass
class LabModel:
    """A freshly built model and what its inputs must look like."""

    module: nn.Module
    mean: tuple
    std: tuple
    policy: ResizePolicy
    weights_source: str


def build_model(config: TrainConfig, num_classes: int, device: torch.device) -> LabModel:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    # drop_mode is passed only when it is not timm's default, which every model takes.
    drop_mode = {} if config.drop_mode == "head" else {"drop_mode": config.drop_mode}
    model = create_model(
        config.architecture,
        num_classes=num_classes,
        pretrained=config.pretrained,
        weights=config.weights,
        drop_rate=config.drop_rate,
        **drop_mode,
    )
    policy = resize_policy_for(
        model, config.resize_method, config.image_size, config.interpolation, config.crop_pct
    )
    mean, std = model_norm(model)
    return LabModel(model.to(device), mean, std, policy, model.weights_source)


@dataclass
class Progress:
    """Where a run stands after an epoch: what `last.pt` saves and resume restores."""

    start_epoch: int = 0
    best_f1: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    wall_before: float = 0.0

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Progress:
        if state is None:
            return cls()
        return cls(
            start_epoch=state["epoch"] + 1,
            best_f1=state["best_f1"],
            best_epoch=state["best_epoch"],
            bad_epochs=state["bad_epochs"],
            history=state["history"],
            wall_before=state["wall_time_s"],
        )

    def record(self, epoch: int, val_macro_f1: float) -> bool:
        """Early-stopping bookkeeping; True when this epoch is the best so far."""
        if val_macro_f1 > self.best_f1:
            self.best_f1, self.best_epoch, self.bad_epochs = val_macro_f1, epoch, 0
            return True
        self.bad_epochs += 1
        return False


@dataclass
class SplitLoader:
    """The run's splits, checked, and how to load one of them as cached views."""

    splits_path: Path
    table: pd.DataFrame
    classes: list[str]
    options: dict[str, Any]  # load_split's images_dir, cache_dir, limit_per_class, progress

    @classmethod
    def open(cls, config: TrainConfig, progress: bool) -> SplitLoader:
        splits_path = Path(config.splits_csv or layout.splits_csv())
        images_dir = Path(config.images_dir or layout.images_dir())
        table = read_splits(splits_path)
        check_images(table, images_dir)
        cache = config.cache_dir if config.cache_dir is not None else cache_dir()
        options = {
            "images_dir": images_dir,
            "cache_dir": cache or None,
            "limit_per_class": config.limit_per_class,
            "progress": config.progress and progress,
        }
        return cls(splits_path, table, class_names(splits_path), options)

    def load(self, split: str, policy: ResizePolicy) -> SplitData:
        return load_split(self.table, split, self.classes, policy=policy, **self.options)


@dataclass
class Run:
    """Everything one run's pieces share."""

    config: TrainConfig
    distributed: Distributed
    device: torch.device
    data: SplitLoader
    lab: LabModel
    train_data: SplitData
    val_data: SplitData
    optimisation: Optimisation
    train_model: nn.Module  # the model, wrapped by DDP when there are several processes
    progress: Progress
    checkpoints: checkpoints.RunCheckpoints
    run_dir: Path
    started: float = field(default_factory=time.perf_counter)
    teacher: torch.Tensor | None = None  # the teacher's logits on train_data's rows (distil)
    probe_step: dict[str, float] | None = None  # step 0 of a run whose head is a probe
    cached: partial.CachedViews | None = None  # partial fine-tuning's cached activations

    @property
    def main(self) -> bool:
        return self.distributed.main

    @property
    def classes(self) -> list[str]:
        return self.data.classes

    @property
    def num_images(self) -> int:
        return epoch_images(self.train_data, self.distributed)

    def wall_time(self) -> float:
        return self.progress.wall_before + time.perf_counter() - self.started


def resume_state(
    config: TrainConfig, resume: bool | str, epochs_override: int | None
) -> tuple[TrainConfig, dict[str, Any]]:
    """The saved config and `last.pt` of the run to continue."""
    root = Path(config.checkpoints_dir or checkpoints.default_root())
    last = checkpoints.find_last(root, resume, config.architecture, config.training_mode)
    state = checkpoints.read(last)
    saved = TrainConfig.from_dict(state["config"])
    saved.progress = config.progress
    if epochs_override is not None and epochs_override != saved.epochs:
        changed = {"epochs_planned": saved.epochs, "epochs_changed_at_resume": True}
        saved.extra = {**saved.extra, **changed}
        saved.epochs = epochs_override
    return saved, state


def epoch_images(train_data: SplitData, distributed: Distributed) -> int:
    """Training images per epoch, all processes together (a multiple of their number)."""
    world = distributed.world_size
    return len(train_data.labels) // world * world


def prepare_run(config: TrainConfig, state: dict[str, Any] | None, distributed: Distributed) -> Run:
    """Data, model, optimisation and progress of a run, restored from `state` when resuming."""
    device = pick_device(distributed)
    check_architecture(config.architecture)  # a typo is reported before anything is read
    data = SplitLoader.open(config, progress=distributed.main)
    if state is not None and state["classes"] != data.classes:
        raise DataError(
            f"the checkpoint's classes {state['classes']} differ from the data's {data.classes}"
        )
    lab = build_model(config, len(data.classes), device)
    train_data, val_data = data.load("train", lab.policy), data.load("val", lab.policy)
    probe_step = None
    if state is None and config.head_init == "probe":
        probe_step = fit_probe_head(config, lab, train_data, val_data, data.classes, device)
    teacher, cached = None, None
    if config.trainable_stages:
        if distributed.world_size > 1:
            raise ValueError("partial fine-tuning (trainable_stages) runs in one process")
        cached = cache_partial_views(config, lab, train_data, val_data, data, device)
    elif config.teacher:
        with torch.random.fork_rng(devices=[]):  # building the teachers draws no run randomness
            logits, records = distill.teacher_logits(
                config.teacher, data.table, data.classes, train_data, data.options
            )
        teacher = torch.from_numpy(logits)
        config.extra = {**config.extra, "teachers": records}
    per_process = epoch_images(train_data, distributed) // distributed.world_size
    steps_per_epoch = math.ceil(math.ceil(per_process / config.batch_size) / config.accum_steps)
    optimisation = Optimisation(lab.module, config, steps_per_epoch, device)
    if state is not None:
        lab.module.load_state_dict(state["model"])
        optimisation.load_state_dict(state)
        torch.set_rng_state(state["rng"])
    train_model = lab.module
    if distributed.world_size > 1:
        train_model = nn.parallel.DistributedDataParallel(
            lab.module, device_ids=[device.index] if device.type == "cuda" else None
        )
    config.run_id = config.run_id or make_run_id(config.architecture, config.training_mode)
    root = Path(config.checkpoints_dir or checkpoints.default_root())
    return Run(
        config=config, distributed=distributed, device=device, data=data, lab=lab,
        train_data=train_data, val_data=val_data, optimisation=optimisation,
        train_model=train_model, progress=Progress.from_state(state),
        checkpoints=checkpoints.RunCheckpoints(root / config.run_id),
        run_dir=Path(config.runs_dir or layout.runs_dir(FRAMEWORK)) / config.run_id,
        teacher=teacher,
        probe_step=probe_step,
        cached=cached,
    )  # fmt: skip


def cache_partial_views(
    config: TrainConfig,
    lab: LabModel,
    train_data: SplitData,
    val_data: SplitData,
    data: SplitLoader,
    device: torch.device,
) -> partial.CachedViews:
    """Partial fine-tuning: freeze all but the last stages and cache the frozen part's output
    for the training views (and the teachers' logits of those same views); recorded in
    `config.extra["partial"]`."""
    started = time.perf_counter()
    split = partial.split_model(lab.module, config.trainable_stages)
    partial.freeze_bottom(split)
    teacher = None
    if config.teacher:
        with torch.random.fork_rng(devices=[]):  # building the teachers draws no run randomness
            teacher, records = distill.view_teacher(config.teacher, data.classes, device)
        config.extra = {**config.extra, "teachers": records}
    cached = partial.cache_views(
        split, train_data.images, val_data.images, lab.mean, lab.std, device,
        recipe(config.augment), config.cached_views, config.seed, teacher,
    )  # fmt: skip
    frozen = sum(p.numel() for m in split.bottom_modules for p in m.parameters())
    trainable = sum(p.numel() for p in lab.module.parameters() if p.requires_grad)
    seconds = time.perf_counter() - started
    config.extra = {
        **config.extra,
        "partial": {
            "trainable_stages": config.trainable_stages,
            "stages": split.stages,
            "views": cached.num_views,
            "activation_shape": list(cached.train.shape[2:]),
            "frozen_parameters": frozen,
            "trainable_parameters": trainable,
            "seconds": round(seconds, 1),
        },
    }
    print(
        f"partial: {config.trainable_stages}/{split.stages} stages train, {trainable:,} "
        f"parameters; {cached.num_views} views cached ({seconds:.0f} s)",
        flush=True,
    )
    return cached


def fit_probe_head(
    config: TrainConfig,
    lab: LabModel,
    train_data: SplitData,
    val_data: SplitData,
    classes: list[str],
    device: torch.device,
) -> dict[str, float]:
    """`--head-init probe`: the classifier becomes the linear probe of the frozen pretrained
    features (L2 chosen on validation); recorded in `config.extra["probe"]`. Returns the run's
    step-0 scalars: the probe's figures (validation through the run's TTA: flip-averaged features
    are what the model with flip TTA computes), lr 0, and the feature pass's speed."""
    started = time.perf_counter()
    module, mean, std = lab.module, lab.mean, lab.std
    plain, mirrored = {}, {}
    for name, split in (("train", train_data), ("val", val_data)):
        plain[name] = probe.pooled_features(module, split.images, mean, std, device, flip=False)
        mirrored[name] = probe.pooled_features(
            module, probe.mirrored(split.images), mean, std, device, flip=False
        )
    features = {name: (plain[name] + mirrored[name]) / 2 for name in plain}
    fit_x, fit_y = features["train"], train_data.labels
    if config.probe_views > 0:  # each view a sample: plain, mirrored, augmented copies
        copies = probe.augmented_features(
            module, train_data.images, mean, std, device, recipe(config.augment),
            config.probe_views, config.seed,
        )  # fmt: skip
        fit_x = torch.cat([plain["train"], mirrored["train"], *copies])
        fit_y = np.tile(train_data.labels, config.probe_views + 2)
    fit = probe.fit_probe(fit_x, fit_y, features["val"], val_data.labels, classes)
    probe.load_head(lab.module, fit)
    seconds = time.perf_counter() - started
    record = {**fit.record(), "views": config.probe_views, "seconds": round(seconds, 1)}
    if config.probe_views > 0:
        record["augment"] = config.augment
    config.extra = {**config.extra, "probe": record}
    print(
        f"probe: l2={fit.l2:g} train_acc={fit.train_accuracy:.3f} "
        f"val_acc={fit.val_accuracy:.3f} val_f1={fit.val_macro_f1:.3f} ({seconds:.0f} s)",
        flush=True,
    )
    if config.tta == "none":
        features["val"] = plain["val"]
    figures = {}
    for name, split in (("train", train_data), ("val", val_data)):
        logits = (features[name] @ fit.weight.T + fit.bias).numpy()
        loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(split.labels)))
        figures[name] = split_metrics(split.labels, logits.argmax(1), classes, loss=loss)
    # the views the feature pass computed: plain, mirrored (and augmented copies of train)
    images = len(train_data.labels) * (2 + config.probe_views) + 2 * len(val_data.labels)
    return {
        "train/loss": figures["train"].loss,
        "train/accuracy": figures["train"].accuracy,
        "val/loss": figures["val"].loss,
        "val/accuracy": figures["val"].accuracy,
        "val/macro_f1": figures["val"].macro_f1,
        "lr": 0.0,
        "perf/train_images_per_s": images / max(seconds, 1e-9),
        "perf/epoch_s": seconds,
    }


def train_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One pass over this process's shard of the training split; the epoch's train figures
    (all processes together)."""
    if run.cached is not None:
        return partial_epoch(run, epoch)
    config, distributed, device = run.config, run.distributed, run.device
    model, optimisation = run.train_model, run.optimisation
    started = time.perf_counter()
    set_train_mode(model, config.training_mode)
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(run.train_data.labels), generator=generator)[: run.num_images]
    shard = order[distributed.rank :: distributed.world_size]
    # Augmentation runs on the training device, batched: per-image draws from a generator on
    # that device, per-batch draws (blur sigma, mixing) from a NumPy generator.
    aug_generator = torch.Generator(device=device).manual_seed(
        config.seed * 1000 + epoch + 10**6 * distributed.rank
    )
    batch_rng = np.random.default_rng([config.seed, epoch, distributed.rank])
    aug_config = recipe(config.augment)
    num_classes = len(run.classes)
    loss_sum = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.float64)
    starts = list(range(0, len(shard), config.batch_size))
    bar = tqdm(
        starts,
        desc=f"epoch {epoch + 1}/{config.epochs}",
        disable=not (config.progress and run.main),
        leave=False,
    )
    optimisation.zero_grad()
    for micro, start in enumerate(bar):
        index = shard[start : start + config.batch_size].numpy()
        batch = torch.from_numpy(run.train_data.images[index]).to(device, non_blocking=True)
        pixels = augment_batch(batch, aug_config, aug_generator, batch_rng)
        labels = torch.from_numpy(run.train_data.labels[index]).to(device)
        targets = one_hot(labels, num_classes, config.label_smoothing)
        if run.teacher is not None:
            targets = distill.soft_targets(
                run.teacher[index].to(device), targets, config.kd_alpha, config.kd_temperature
            )
        if config.mix_prob > 0:
            pixels, targets = mix(
                pixels, targets, batch_rng, config.mixup_alpha, config.cutmix_alpha, config.mix_prob
            )
        inputs = normalize(pixels, run.lab.mean, run.lab.std)
        last_micro = (micro + 1) % config.accum_steps == 0 or micro + 1 == len(starts)
        sync = last_micro or distributed.world_size == 1
        context = model.no_sync() if not sync else contextlib.nullcontext()
        with context, autocast(device):
            logits = model(inputs)
            loss = soft_cross_entropy(logits, targets)
            optimisation.backward(loss * len(index) / (config.batch_size * config.accum_steps))
        loss_sum += loss.detach().double().cpu() * len(index)
        correct += (logits.argmax(1) == labels).sum().double().cpu()
        if last_micro:
            optimisation.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    train_s = time.perf_counter() - started
    totals = torch.stack([loss_sum, correct])
    if distributed.world_size > 1:
        dist.all_reduce(totals)
        # DDP syncs gradients, and buffers only at the start of each forward: give every
        # rank rank 0's BatchNorm statistics so all ranks end the epoch identical.
        for buffer in run.lab.module.buffers():
            dist.broadcast(buffer, src=0)
    return {
        "train/loss": float(totals[0] / run.num_images),
        "train/accuracy": float(totals[1] / run.num_images),
        "lr": optimisation.lr,
        "perf/train_images_per_s": run.num_images / train_s,
    }


def partial_epoch(run: Run, epoch: int) -> dict[str, float]:
    """One epoch of partial fine-tuning: each training image once, as one of its cached views
    drawn at random, through the trainable top only (the model stays in eval mode: BatchNorm
    statistics are the pretrained ones; head dropout is applied by hand)."""
    config, device, optimisation, cached = run.config, run.device, run.optimisation, run.cached
    assert cached is not None
    started = time.perf_counter()
    split = partial.split_model(run.lab.module, config.trainable_stages)
    run.lab.module.eval()
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(run.train_data.labels), generator=generator)
    num_classes = len(run.classes)
    loss_sum, correct = 0.0, 0
    starts = list(range(0, len(order), config.batch_size))
    optimisation.zero_grad()
    for micro, start in enumerate(starts):
        index = order[start : start + config.batch_size]
        inputs, teacher = cached.batch(index, generator)
        labels = torch.from_numpy(run.train_data.labels[index.numpy()]).to(device)
        targets = one_hot(labels, num_classes, config.label_smoothing)
        if teacher is not None:
            targets = distill.soft_targets(
                teacher.to(device), targets, config.kd_alpha, config.kd_temperature
            )
        with autocast(device):
            logits = split.logits(inputs.to(device), config.drop_rate)
            loss = soft_cross_entropy(logits, targets)
            optimisation.backward(loss * len(index) / (config.batch_size * config.accum_steps))
        loss_sum += float(loss.detach()) * len(index)
        correct += int((logits.argmax(1) == labels).sum())
        if (micro + 1) % config.accum_steps == 0 or micro + 1 == len(starts):
            optimisation.step()
    train_s = time.perf_counter() - started
    return {
        "train/loss": loss_sum / len(order),
        "train/accuracy": correct / len(order),
        "lr": optimisation.lr,
        "perf/train_images_per_s": len(order) / train_s,
    }


def validate(run: Run) -> SplitMetrics:
    """The validation figures of the weights being trained (their EMA when there is one)."""
    lab, model = run.lab, run.optimisation.eval_model
    if run.cached is not None:  # the top alone, on cached validation activations
        split = partial.split_model(model, run.config.trainable_stages)
        logits = partial.cached_logits(split, run.cached.val.to(run.device)).float()
        if run.config.tta == "flip":
            mirrored = partial.cached_logits(split, run.cached.val_mirrored.to(run.device))
            logits = (logits + mirrored.float()) / 2
        labels = run.val_data.labels
        loss = float(F.cross_entropy(logits.cpu(), torch.from_numpy(labels)))
        return split_metrics(labels, logits.argmax(1).cpu().numpy(), run.classes, loss=loss)
    val = evaluate(
        model, run.val_data, run.classes, lab.mean, lab.std, run.device, desc="val",
        tta=run.config.tta,
    )  # fmt: skip
    return val.metrics


def config_record(run: Run) -> dict[str, Any]:
    """The run's config as saved in checkpoints and metrics.json, with what it implied."""
    return {
        **asdict(run.config),
        "timm_name": timm_name(run.config.architecture),
        "resize_policy": run.lab.policy.model_dump(mode="json"),
        "mean": list(run.lab.mean),
        "std": list(run.lab.std),
        "world_size": run.distributed.world_size,
    }


def save_checkpoints(run: Run, epoch: int, improved: bool) -> None:
    """`best.pt` when validation improved, `last.pt` every epoch."""
    config, lab, progress = run.config, run.lab, run.progress
    if improved:
        model = run.optimisation.eval_model
        run.checkpoints.save_best(
            model.module if hasattr(model, "module") else model,
            architecture=config.architecture,
            timm_name=timm_name(config.architecture),
            training_mode=config.training_mode,
            classes=run.classes,
            resize_policy=lab.policy.model_dump(mode="json"),
            mean=lab.mean,
            std=lab.std,
            weights_source=lab.weights_source,
            config=asdict(config),
            epoch=epoch,
            run_id=config.run_id,
        )
    run.checkpoints.save_last(
        model=lab.module.state_dict(),
        **run.optimisation.state_dict(),
        epoch=epoch,
        best_f1=progress.best_f1,
        best_epoch=progress.best_epoch,
        bad_epochs=progress.bad_epochs,
        history=progress.history,
        wall_time_s=run.wall_time(),
        rng=torch.get_rng_state(),
        config=asdict(config),
        classes=run.classes,
    )


def log_epoch(run: Run, log: RunLog, epoch: int, scalars: dict[str, float]) -> None:
    log.epoch(epoch + 1, scalars)  # steps count epochs from 1 (run contract)
    print(
        f"epoch {epoch + 1}/{run.config.epochs} train_loss={scalars['train/loss']:.4f} "
        f"train_acc={scalars['train/accuracy']:.3f} val_acc={scalars['val/accuracy']:.3f} "
        f"val_f1={scalars['val/macro_f1']:.3f} {scalars['perf/train_images_per_s']:.1f} img/s",
        flush=True,
    )


def final_test(run: Run, log: RunLog, last_step: int) -> dict[str, Any]:
    """The best checkpoint on val and, once, on test; the final TensorBoard figures and
    metrics.json."""
    config, lab, classes = run.config, run.lab, run.classes
    best = create_model(config.architecture, num_classes=len(classes)).to(run.device)
    best.load_state_dict(run.checkpoints.load_best_weights())
    tta = config.tta
    val = evaluate(best, run.val_data, classes, lab.mean, lab.std, run.device, desc="val", tta=tta)
    # Both test-time augmentation choices on validation, so the choice is made there.
    other = "flip" if tta == "none" else "none"
    val_other = evaluate(best, run.val_data, classes, lab.mean, lab.std, run.device, tta=other)
    test_data = run.data.load("test", lab.policy)
    test = evaluate(best, test_data, classes, lab.mean, lab.std, run.device, desc="test", tta=tta)
    final_scalars = {
        f"val/accuracy_tta_{tta}": val.metrics.accuracy,
        f"val/accuracy_tta_{other}": val_other.metrics.accuracy,
        "test/accuracy": test.metrics.accuracy,
        "test/macro_f1": test.metrics.macro_f1,
        "perf/test_ms_per_image": test.ms_per_image,
    }
    hparam_values = {
        k: v for k, v in asdict(config).items() if isinstance(v, (int, float, str, bool))
    }
    hparam_values["weights_source"] = lab.weights_source
    matrix = test.metrics.confusion_matrix
    report = report_text(test.metrics, classes)
    log.final(last_step, final_scalars, report, matrix, classes, hparam_values)
    log.close()
    metrics = run_metrics(
        config=config_record(run),
        classes=classes,
        device=run.device,
        budget=config.budget,
        weights_source=lab.weights_source,
        data={
            "splits_sha256": file_sha256(run.data.splits_path),
            "num_train": len(run.train_data.labels),
            "num_val": len(run.val_data.labels),
            "num_test": len(test_data.labels),
        },
        history=run.progress.history,
        best_epoch=run.progress.best_epoch,
        wall_time_s=run.wall_time(),
        val=val.metrics,
        test=test.metrics,
        test_ms_per_image=test.ms_per_image,
    )
    write_run_metrics(run.run_dir, metrics)
    return {
        "metrics": metrics.model_dump(mode="json", exclude_none=True),
        "checkpoint": str(run.checkpoints.best),
    }


def train(
    config: TrainConfig, resume: bool | str = False, epochs_override: int | None = None
) -> dict[str, Any]:
    """Train, select on val macro-F1, test once, log. `resume=True` continues the latest
    checkpoint of this architecture and training mode; a run_id string continues that run;
    `epochs_override` changes a resumed run's epoch budget (the cosine schedule is stretched)."""
    config.check()
    distributed = setup_distributed()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    state = None
    if resume:
        config, state = resume_state(config, resume, epochs_override)
    started = time.perf_counter()
    run = prepare_run(config, state, distributed)
    run.started = started  # the wall time counts the data, the probe and the cached views too
    progress = run.progress
    resumed_at = progress.start_epoch + 1 if state is not None else None
    log = RunLog(run.run_dir, purge_step=resumed_at) if run.main else None
    epoch = progress.start_epoch - 1
    if run.probe_step is not None:
        # The probe is the run's step 0 and the best checkpoint until an epoch beats it on val.
        scalars = run.probe_step
        progress.record(-1, scalars["val/macro_f1"])
        if run.main:
            save_checkpoints(run, -1, improved=True)
            log.epoch(0, scalars)
    for epoch in range(progress.start_epoch, config.epochs):
        if progress.bad_epochs >= config.patience:
            break
        epoch_start = time.perf_counter()
        scalars = train_epoch(run, epoch)
        val = validate(run)
        improved = progress.record(epoch, val.macro_f1)
        scalars |= {
            "val/loss": val.loss,
            "val/accuracy": val.accuracy,
            "val/macro_f1": val.macro_f1,
            "perf/epoch_s": time.perf_counter() - epoch_start,
        }
        progress.history.append({"epoch": epoch, **scalars})
        if run.main:
            save_checkpoints(run, epoch, improved)
            log_epoch(run, log, epoch, scalars)
        distributed.barrier()

    result: dict[str, Any] = {
        "run_id": config.run_id,
        "run_dir": str(run.run_dir),
        "history": progress.history,
        "model": run.lab.module,
    }
    if run.main:
        last_step = progress.history[-1]["epoch"] if progress.history else epoch
        result |= final_test(run, log, last_step + 1)
    distributed.barrier()
    return result
