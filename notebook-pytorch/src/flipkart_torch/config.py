"""The hyper-parameters of one training run (`flipkart-torch train`'s options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flipkart_contract import parse_run_id
from flipkart_contract.resize import RESIZE_METHODS
from flipkart_contract.run_id import TRAINING_MODES

DROP_MODES = ("head", "nvidia")  # as flipkart_torch.models.mambavision.DROP_MODES
LEGACY_KEYS = {"model": "architecture", "mode": "training_mode", "resize_mode": "resize_method"}


def upgrade_config(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config dict with the old key names (before the contract's vocabulary) renamed."""
    return {LEGACY_KEYS.get(k, k): v for k, v in values.items()}


@dataclass
class TrainConfig:
    architecture: str
    training_mode: str = "finetune"
    pretrained: bool = False
    weights: str | None = None
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    augment: str = "basic"  # augment.RECIPES: basic | catalogue
    mix_prob: float = 0.0  # probability that a batch is mixed (mixup or CutMix)
    mixup_alpha: float = 0.2
    cutmix_alpha: float = 1.0
    backbone_lr_mult: float = 1.0  # the backbone's learning rate = lr x this (head: lr)
    # layer-wise learning-rate decay: each group of layers (timm's group_matcher) below the head
    # learns `layer_decay` times as fast as the group above it; 1 disables it
    layer_decay: float = 1.0
    # partial fine-tuning (partial.py): only the last N stages train, on cached activations of
    # the frozen part; 0 = every layer trains as usual
    trainable_stages: int = 0
    cached_views: int = 0  # augmented copies of each training image cached (partial fine-tuning)
    head_init: str = "random"  # random | probe (the linear probe of the pretrained features)
    probe_views: int = 0  # the probe also fits this many augmented copies of each train image
    teacher: str | None = None  # comma-separated run ids whose averaged logits teach (distil)
    kd_alpha: float = 0.7  # weight of the teacher's probabilities in the targets
    kd_temperature: float = 2.0  # the teacher's logits are softened by this
    tta: str = "none"  # test-time augmentation of validation, test and the export: none | flip
    grad_clip: float = 1.0
    ema_decay: float = 0.0
    accum_steps: int = 1
    drop_rate: float = 0.2
    # Where drop_rate goes: head (timm: one Dropout before the classifier, any architecture) or
    # nvidia (MambaVision only: in every MLP and attention projection, none before the head).
    # Configs saved before this field load as head, which is what they trained with.
    drop_mode: str = "head"
    image_size: int = 224
    resize_method: str = "pad"
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

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A saved config, also one written with the old key names (model, mode, resize_mode)."""
        return cls(**upgrade_config(values))

    def check(self) -> None:
        if self.training_mode not in TRAINING_MODES:
            raise ValueError(
                f"training_mode must be one of {TRAINING_MODES}, got {self.training_mode!r}"
            )
        if self.resize_method not in RESIZE_METHODS:
            raise ValueError(
                f"resize_method must be one of {RESIZE_METHODS}, got {self.resize_method!r}"
            )
        if self.head_init not in ("random", "probe"):
            raise ValueError(f"head_init must be random or probe, got {self.head_init!r}")
        if self.probe_views < 0 or (self.probe_views and self.head_init != "probe"):
            raise ValueError(
                f"probe_views must be 0, or positive with head_init probe, got {self.probe_views}"
            )
        min_epochs = 0 if self.head_init == "probe" else 1  # 0 epochs: a linear probe run
        if self.epochs < min_epochs or self.batch_size < 1 or self.accum_steps < 1:
            raise ValueError(
                f"epochs must be at least {min_epochs} (0 only with head_init probe), "
                "batch_size and accum_steps at least 1"
            )
        if not 0 <= self.kd_alpha <= 1:
            raise ValueError(f"kd_alpha must be in [0, 1], got {self.kd_alpha}")
        if self.kd_temperature <= 0:
            raise ValueError(f"kd_temperature must be positive, got {self.kd_temperature}")
        from flipkart_torch.augment import RECIPES

        if self.augment not in RECIPES:
            raise ValueError(f"augment must be one of {tuple(RECIPES)}, got {self.augment!r}")
        if self.tta not in ("none", "flip"):
            raise ValueError(f"tta must be none or flip, got {self.tta!r}")
        if self.drop_mode not in DROP_MODES:
            raise ValueError(f"drop_mode must be one of {DROP_MODES}, got {self.drop_mode!r}")
        if self.drop_mode != "head" and not self.architecture.startswith("mambavision"):
            raise ValueError(
                f"drop_mode {self.drop_mode!r} is MambaVision's (NVIDIA's dropout placement); "
                f"{self.architecture} takes drop_rate as timm's head dropout (drop_mode head)"
            )
        if not 0 <= self.mix_prob <= 1:
            raise ValueError(f"mix_prob must be in [0, 1], got {self.mix_prob}")
        if not 0 < self.backbone_lr_mult <= 10:
            raise ValueError(f"backbone_lr_mult must be in (0, 10], got {self.backbone_lr_mult}")
        if not 0 < self.layer_decay <= 1:
            raise ValueError(f"layer_decay must be in (0, 1], got {self.layer_decay}")
        if self.trainable_stages < 0 or self.cached_views < 0:
            raise ValueError("trainable_stages and cached_views must not be negative")
        if self.cached_views and not self.trainable_stages:
            raise ValueError("cached_views needs trainable_stages (partial fine-tuning)")
        if self.trainable_stages and self.training_mode != "finetune":
            raise ValueError("trainable_stages is partial fine-tuning: training_mode finetune")
        if self.trainable_stages and self.mix_prob > 0:
            raise ValueError(
                "mixup/CutMix would mix cached activations, not images: use mix_prob 0 with "
                "trainable_stages"
            )
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.run_id is not None:
            parse_run_id(self.run_id)  # metrics.json and the card need a well-formed one
