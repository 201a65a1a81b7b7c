"""Partial fine-tuning on cached activations: the last stages learn, the rest is computed once.

    flipkart-torch train --architecture efficientnet_lite0 --pretrained --head-init probe \\
        --trainable-stages 2 --cached-views 4 --epochs 24 --lr 3e-4 [--teacher RUN,RUN,...]

On a CPU a full fine-tuning epoch of Lite0 costs minutes, and on ~740 training images it loses
to the linear probe (RESEARCH.md). Here the stem and every stage but the last
`--trainable-stages` are frozen, so their output for a given view never changes: it is computed
once, for the plain view of each training image, its mirror image and `--cached-views` copies
augmented by the run's `--augment` recipe (seeded by `--seed`), and kept in memory. An epoch
then shows each training image once, as one of its cached views drawn at random, and runs only
the top of the network: several times faster than a full step, and the pretrained lower layers
cannot be forgotten.

What stays fixed, on purpose:
- BatchNorm statistics everywhere (the pretrained ones: 740 images are too few to re-estimate
  them), so the whole model runs in eval mode; `--drop-rate` is applied by hand to the pooled
  features before the classifier, as timm's head dropout would be.
- The frozen part's augmentation: only the cached views are ever seen. Mixup/CutMix (which would
  mix activations, not images) is refused.

With `--teacher`, the teachers score the very views the student trains on (each view resized
to the teacher's input size), so the soft targets describe the image the student is shown;
`distill.py`'s clean-view targets did not, and that distillation failed (RESEARCH.md).

Validation runs the top on cached validation activations (and their mirror images for flip
TTA); the final validation and test pass use the whole saved model, as for any run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flipkart_torch.augment import AugmentConfig, augmented_copies
from flipkart_torch.probe import mirrored
from flipkart_torch.transforms import normalize


@dataclass
class StageSplit:
    """A model cut between its frozen bottom and its trainable top."""

    model: nn.Module
    bottom: Callable[[torch.Tensor], torch.Tensor]  # normalised NCHW -> activations
    top_features: Callable[[torch.Tensor], torch.Tensor]  # activations -> pooled features
    bottom_modules: list[nn.Module]
    stages: int  # how many stages the model has

    def logits(self, activations: torch.Tensor, drop_rate: float = 0.0) -> torch.Tensor:
        """The classifier's output for cached activations; head dropout when `drop_rate`."""
        features = self.top_features(activations)
        if drop_rate > 0:
            features = F.dropout(features, drop_rate, training=True)
        return self.model.get_classifier()(features)


def split_model(model: nn.Module, trainable_stages: int) -> StageSplit:
    """Cut a timm EfficientNet-family model (stem, `blocks`, `conv_head`) or a MambaVision
    (`patch_embed`, `levels`, `norm`) before its last `trainable_stages` stages."""
    if hasattr(model, "blocks") and hasattr(model, "conv_stem") and hasattr(model, "conv_head"):
        stem, stages = [model.conv_stem, model.bn1], list(model.blocks)

        def tail(x: torch.Tensor) -> torch.Tensor:
            return model.bn2(model.conv_head(x))

    elif hasattr(model, "levels") and hasattr(model, "patch_embed"):
        stem, stages = [model.patch_embed], list(model.levels)

        def tail(x: torch.Tensor) -> torch.Tensor:
            return model.norm(x)

    else:
        raise ValueError(
            f"--trainable-stages needs a model with stages: a timm EfficientNet (blocks) or a "
            f"MambaVision (levels); {type(model).__name__} is neither"
        )
    if not 1 <= trainable_stages <= len(stages):
        raise ValueError(
            f"--trainable-stages must be between 1 and the model's {len(stages)} stages, "
            f"got {trainable_stages}"
        )
    cut = len(stages) - trainable_stages
    frozen = [*stem, *stages[:cut]]

    def bottom(x: torch.Tensor) -> torch.Tensor:
        for module in frozen:
            x = module(x)
        return x

    def top_features(x: torch.Tensor) -> torch.Tensor:
        for stage in stages[cut:]:
            x = stage(x)
        return model.forward_head(tail(x), pre_logits=True)

    return StageSplit(model, bottom, top_features, frozen, len(stages))


def freeze_bottom(split: StageSplit) -> None:
    """No gradient for the frozen part (the optimiser then leaves it out)."""
    for module in split.bottom_modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)


@torch.no_grad()
def activations(
    split: StageSplit,
    images: np.ndarray,
    mean: tuple,
    std: tuple,
    device: torch.device,
    batch_size: int = 64,
) -> torch.Tensor:
    """The frozen part's output for uint8 NHWC views (eval mode), on the CPU."""
    split.model.eval()
    parts = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start : start + batch_size]).to(device)
        parts.append(split.bottom(normalize(batch, mean, std)).cpu())
    return torch.cat(parts)


def training_views(
    images: np.ndarray,
    augmentation: AugmentConfig,
    copies: int,
    seed: int,
    device: torch.device,
) -> np.ndarray:
    """uint8 [2 + copies, N, H, W, 3]: the plain views, their mirror images, then `copies`
    augmented copies drawn from `seed` (batched on `device`)."""
    views = [images, mirrored(images)]
    views.extend(augmented_copies(images, augmentation, copies, seed, device))
    return np.stack(views)


@dataclass
class CachedViews:
    """The frozen part's output for every cached training view and for validation."""

    train: torch.Tensor  # [views, N, ...]
    val: torch.Tensor  # [M, ...]
    val_mirrored: torch.Tensor  # [M, ...]
    teacher: torch.Tensor | None = None  # [views, N, classes]: the teachers' logits per view

    @property
    def num_views(self) -> int:
        return self.train.shape[0]

    def batch(
        self, index: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each image of `index` as one of its views drawn at random (and the teachers' logits
        of that same view)."""
        view = torch.randint(self.num_views, (len(index),), generator=generator)
        teacher = None if self.teacher is None else self.teacher[view, index]
        return self.train[view, index], teacher


def cache_views(
    split: StageSplit,
    train_images: np.ndarray,
    val_images: np.ndarray,
    mean: tuple,
    std: tuple,
    device: torch.device,
    augmentation: AugmentConfig,
    copies: int,
    seed: int,
    teacher: Callable[[np.ndarray], torch.Tensor] | None = None,
) -> CachedViews:
    """Compute the cache; `teacher` maps uint8 NHWC views to logits."""
    views = training_views(train_images, augmentation, copies, seed, device)
    train = torch.stack([activations(split, v, mean, std, device) for v in views])
    val = activations(split, val_images, mean, std, device)
    flipped = activations(split, mirrored(val_images), mean, std, device)
    logits = None if teacher is None else torch.stack([teacher(v) for v in views])
    return CachedViews(train, val, flipped, logits)


@torch.no_grad()
def cached_logits(split: StageSplit, cached: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """The model's logits for cached activations (eval mode, no dropout)."""
    split.model.eval()
    return torch.cat(
        [split.logits(cached[s : s + batch_size]) for s in range(0, len(cached), batch_size)]
    )
