"""How the weights learn: which parameters train (freeze/finetune), AdamW, the warmup + cosine
schedule, gradient scaling and clipping, EMA."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from flipkart_torch.config import TrainConfig


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    return list(model.get_classifier().parameters())


def set_train_mode(model: nn.Module, training_mode: str) -> None:
    """finetune: everything trains. freeze: the backbone stays in eval mode (BatchNorm
    statistics frozen) and only the classifier learns."""
    model.train()
    if training_mode == "freeze":
        head = {id(m) for m in model.get_classifier().modules()}
        for module in model.modules():
            if id(module) not in head:
                module.eval()


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """The optimiser's groups of trainable parameters, the head's first: the head learns at
    `lr`, the backbone at `lr x backbone_lr_mult`; with `layer_decay` < 1, each of the
    backbone's layer groups (timm's `group_matcher`, stem first) at that times
    `layer_decay ** depth below the head` (timm's `param_groups_layer_decay`, which also
    exempts biases and norms from weight decay)."""
    head = {id(p) for p in head_parameters(model)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    head_group = {"params": [p for p in trainable if id(p) in head], "lr": config.lr}
    if config.layer_decay >= 1:
        backbone = [p for p in trainable if id(p) not in head]
        groups = [head_group, {"params": backbone, "lr": config.lr * config.backbone_lr_mult}]
        return [g for g in groups if g["params"]]
    if not hasattr(model, "group_matcher"):
        raise ValueError(
            f"layer_decay needs a model with timm's group_matcher; {type(model).__name__} has none"
        )
    from timm.optim import param_groups_layer_decay

    groups = [head_group] if head_group["params"] else []
    decayed = param_groups_layer_decay(
        model, weight_decay=config.weight_decay, layer_decay=config.layer_decay
    )
    for group in decayed:
        params = [p for p in group["params"] if id(p) not in head]
        if params:
            scale = group.pop("lr_scale")
            lr = config.lr * config.backbone_lr_mult * scale
            groups.append({**group, "params": params, "lr": lr})
    return groups


def lr_lambda(total_steps: int, warmup_steps: int, min_ratio: float):
    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        progress = min(1.0, progress)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


class Optimisation:
    """AdamW on the trainable parameters (the head only when freezing), warmup + cosine
    schedule, gradient scaling and clipping, optional EMA of the weights; `step()` once per
    accumulated batch."""

    def __init__(
        self, model: nn.Module, config: TrainConfig, steps_per_epoch: int, device: torch.device
    ) -> None:
        if config.training_mode == "freeze":
            for parameter in model.parameters():
                parameter.requires_grad_(False)
            for parameter in head_parameters(model):
                parameter.requires_grad_(True)
        self.model = model
        self.grad_clip = config.grad_clip
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        groups = parameter_groups(model, config)
        self.optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
        warmup_steps = round(config.warmup_epochs * steps_per_epoch)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lr_lambda(steps_per_epoch * config.epochs, warmup_steps, config.min_lr_ratio),
        )
        use_scaler = device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=use_scaler)
        self.ema = None
        if config.ema_decay > 0:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(model, decay=config.ema_decay)

    @property
    def lr(self) -> float:
        """The head's learning rate (the backbone's is `backbone_lr_mult` times it, and
        `layer_decay` to a power below that)."""
        return self.optimizer.param_groups[0]["lr"]

    @property
    def eval_model(self) -> nn.Module:
        """What validation and the best checkpoint use: the EMA weights when there are some."""
        return self.ema.module if self.ema is not None else self.model

    def backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(self) -> None:
        if self.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.trainable, self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.zero_grad()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
