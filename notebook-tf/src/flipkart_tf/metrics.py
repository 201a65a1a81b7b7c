"""One split's figures from logits: the contract's `split_metrics` plus the lab's loss."""

from __future__ import annotations

import numpy as np
from flipkart_contract.evaluation import report_text, split_metrics
from flipkart_contract.schema import SplitMetrics


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
) -> float:
    """Keras' CategoricalCrossentropy(from_logits=True, label_smoothing) on integer labels."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    num_classes = logits.shape[1]
    target = np.full_like(log_probs, label_smoothing / num_classes)
    target[np.arange(len(labels)), labels] += 1.0 - label_smoothing
    return float(-(target * log_probs).sum(axis=1).mean())


def classification_summary(
    logits: np.ndarray, labels: np.ndarray, classes: list[str], label_smoothing: float = 0.0
) -> SplitMetrics:
    """Accuracy, macro-F1, loss, per-class scores and the confusion matrix of one split."""
    labels = np.asarray(labels)
    predictions = np.asarray(logits).argmax(axis=1)
    loss = softmax_cross_entropy(logits, labels, label_smoothing)
    return split_metrics(labels, predictions, classes, loss=loss)


def report_markdown(summary: SplitMetrics, classes: list[str]) -> str:
    """The contract's classification report as a Markdown code block (TensorBoard's text)."""
    return f"```\n{report_text(summary, classes)}\n```"
