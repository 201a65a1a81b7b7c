"""Confidence that means something: temperature scaling, expected calibration error, and
bootstrap intervals for test figures (NumPy only, so the labs and the backend agree).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from flipkart_contract.evaluation import class_scores, confusion_matrix


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: Sequence[int], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes."""
    probs = softmax(logits, temperature)
    picked = probs[np.arange(len(probs)), np.asarray(labels)]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def fit_temperature(
    logits: np.ndarray, labels: Sequence[int], low: float = 0.05, high: float = 20.0
) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (golden-section on log T).

    Fitted on validation logits; dividing the exported logits by T changes no prediction.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or len(logits) != len(labels) or len(labels) == 0:
        raise ValueError("logits must be [N, C] with one label per row (N >= 1)")
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, labels, math.exp(c)), nll(logits, labels, math.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, labels, math.exp(d))
    return float(math.exp((a + b) / 2))


def expected_calibration_error(probs: np.ndarray, labels: Sequence[int], bins: int = 15) -> float:
    """ECE: |accuracy − confidence| averaged over equal-width confidence bins, weighted."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)


def threshold_for_precision(
    probs: np.ndarray, labels: Sequence[int], target_precision: float = 0.95
) -> float:
    """The lowest top-1 confidence at which answers reach `target_precision` on these images.

    Answers below it are flagged `uncertain`. Derived from validation, not guessed; 1.0 when
    no threshold reaches the target.
    """
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    order = np.argsort(-confidence)
    precision = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.nonzero(precision >= target_precision)[0]
    if len(ok) == 0:
        return 1.0
    return float(confidence[order][ok.max()])


def bootstrap_interval(
    labels: Sequence[int],
    preds: Sequence[int],
    metric: str = "accuracy",
    num_classes: int | None = None,
    samples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of test accuracy or macro-F1 (images resampled)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    n = len(labels)
    if n == 0 or n != len(preds):
        raise ValueError("need as many predictions as labels (at least one)")
    k = num_classes or int(max(labels.max(), preds.max()) + 1)
    rng = np.random.default_rng(seed)
    values = np.empty(samples)
    for i in range(samples):
        idx = rng.integers(0, n, n)
        values[i] = _score(labels[idx], preds[idx], k, metric)
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def _score(labels: np.ndarray, preds: np.ndarray, k: int, metric: str) -> float:
    if metric == "accuracy":
        return float((labels == preds).mean())
    if metric != "macro_f1":
        raise ValueError(f"metric must be accuracy or macro_f1, got {metric!r}")
    return float(class_scores(confusion_matrix(labels, preds, k))[2].mean())


def pairs_from_confusion(matrix: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, preds), one pair per image, from a confusion matrix (rows true, columns predicted).

    Enough to bootstrap accuracy and macro-F1 from a card or metrics.json, which keep the matrix.
    """
    matrix = np.asarray(matrix, dtype=np.int64)
    true, pred = np.nonzero(matrix)
    counts = matrix[true, pred]
    return np.repeat(true, counts), np.repeat(pred, counts)
