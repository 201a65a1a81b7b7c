"""A model's figures on a split: logits in batches, then the contract's `split_metrics`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from flipkart_contract.evaluation import split_metrics
from flipkart_contract.schema import SplitMetrics
from torch import nn
from tqdm.auto import tqdm

from flipkart_torch.data import SplitData
from flipkart_torch.devices import autocast
from flipkart_torch.transforms import normalize

TTA_MODES = ("none", "flip")


@dataclass
class Evaluation:
    metrics: SplitMetrics  # with the loss
    ms_per_image: float
    logits: np.ndarray
    preds: np.ndarray


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
    tta: str = "none",
) -> np.ndarray:
    """Logits of uint8 NHWC views; `tta="flip"` averages them with the mirrored views' (what
    an export with test-time augmentation computes inside its graph)."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
    model.eval()
    outputs = []
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
        batch = torch.from_numpy(images[start : start + batch_size]).to(device)
        with autocast(device):
            inputs = normalize(batch, mean, std)
            logits = model(inputs)
            if tta == "flip":
                logits = (logits.float() + model(inputs.flip(-1)).float()) / 2
        outputs.append(logits.float().cpu())
    return torch.cat(outputs).numpy()


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
    tta: str = "none",
) -> Evaluation:
    start = time.perf_counter()
    logits = predict(model, split.images, mean, std, device, batch_size, progress, desc, tta)
    elapsed = time.perf_counter() - start
    labels = split.labels
    loss = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item())
    preds = logits.argmax(1)
    return Evaluation(
        metrics=split_metrics(labels, preds, classes, loss=loss),
        ms_per_image=1000 * elapsed / len(labels),
        logits=logits,
        preds=preds,
    )
