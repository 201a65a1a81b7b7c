"""Classification metrics computed from a confusion matrix (checked against scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows = true class, columns = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shape mismatch: {y_true.shape} vs {y_pred.shape}")
    flat = y_true * num_classes + y_pred
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_scores(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """precision, recall, f1, support per class; 0 where undefined (scikit-learn's default)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(tp), where=total > 0)
    return precision, recall, f1, support.astype(np.int64)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Unweighted mean F1 over the classes present in y_true or y_pred (as scikit-learn)."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    _, _, f1, _ = per_class_scores(matrix)
    present = (matrix.sum(axis=0) + matrix.sum(axis=1)) > 0
    return float(f1[present].mean()) if present.any() else 0.0


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, label_smoothing: float = 0.0
) -> float:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    num_classes = logits.shape[1]
    target = np.full_like(log_probs, label_smoothing / num_classes)
    target[np.arange(len(labels)), labels] += 1.0 - label_smoothing
    return float(-(target * log_probs).sum(axis=1).mean())


def classification_summary(
    logits: np.ndarray, labels: np.ndarray, classes: list[str], label_smoothing: float = 0.0
) -> dict[str, Any]:
    """accuracy, macro-F1, loss, per-class scores and the confusion matrix of one split."""
    labels = np.asarray(labels)
    predictions = np.asarray(logits).argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, len(classes))
    precision, recall, f1, support = per_class_scores(matrix)
    return {
        "accuracy": float((predictions == labels).mean()),
        "macro_f1": macro_f1(labels, predictions, len(classes)),
        "loss": softmax_cross_entropy(logits, labels, label_smoothing),
        "num_images": len(labels),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(classes)
        },
        "confusion_matrix": matrix.tolist(),
    }


def report_markdown(summary: dict[str, Any]) -> str:
    """The classification report as a Markdown table (TensorBoard renders text as Markdown)."""
    lines = ["| class | precision | recall | f1 | support |", "| --- | --- | --- | --- | --- |"]
    for name, s in summary["per_class"].items():
        scores = f"{s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f}"
        lines.append(f"| {name} | {scores} | {s['support']} |")
    lines.append(
        f"\naccuracy {summary['accuracy']:.4f} · macro-F1 {summary['macro_f1']:.4f} · "
        f"{summary['num_images']} images"
    )
    return "\n".join(lines)
