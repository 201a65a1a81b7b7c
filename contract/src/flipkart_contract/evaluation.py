"""Classification figures from labels and predictions, with NumPy only.

The same numbers scikit-learn's `precision_recall_fscore_support(..., zero_division=0)`,
`f1_score(average="macro")` and `confusion_matrix` give, so both labs and the backend's
evaluation report identical figures for identical predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flipkart_contract.schema import ClassReport, SplitMetrics


def confusion_matrix(labels: Sequence[int], preds: Sequence[int], num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    if labels.shape != preds.shape:
        raise ValueError(f"{labels.shape[0]} labels but {preds.shape[0]} predictions")
    for name, values in (("label", labels), ("prediction", preds)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"a {name} is outside 0..{num_classes - 1}")
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, preds), 1)
    return matrix


def class_scores(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 of a confusion matrix (0 where undefined)."""
    true_pos = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, true_pos / predicted, 0.0)
        recall = np.where(support > 0, true_pos / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def split_metrics(
    labels: Sequence[int],
    preds: Sequence[int],
    classes: Sequence[str],
    loss: float | None = None,
) -> SplitMetrics:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    matrix = confusion_matrix(labels, preds, len(classes))
    total = int(matrix.sum())
    support = matrix.sum(axis=1)
    precision, recall, f1 = class_scores(matrix)
    return SplitMetrics(
        accuracy=float(np.trace(matrix) / total) if total else 0.0,
        macro_f1=float(f1.mean()),
        loss=None if loss is None else float(loss),
        num_images=total,
        per_class={
            name: ClassReport(
                precision=float(precision[i]),
                recall=float(recall[i]),
                f1=float(f1[i]),
                support=int(support[i]),
            )
            for i, name in enumerate(classes)
        },
        confusion_matrix=matrix.tolist(),
    )


def report_text(metrics: SplitMetrics, classes: Sequence[str]) -> str:
    """A plain-text classification report (the TensorBoard text of both labs)."""
    width = max(len(c) for c in [*classes, "macro avg"])
    lines = [f"{'':>{width}}  precision  recall  f1-score  support", ""]
    per_class = metrics.per_class or {}
    for name in classes:
        r = per_class[name]
        lines.append(
            f"{name:>{width}}  {r.precision:9.3f}  {r.recall:6.3f}  {r.f1:8.3f}  {r.support:7d}"
        )
    total = sum(r.support for r in per_class.values())
    reports = list(per_class.values())
    mean = {k: np.mean([getattr(r, k) for r in reports]) for k in ("precision", "recall")}
    lines += [
        "",
        f"{'accuracy':>{width}}  {'':9}  {'':6}  {metrics.accuracy:8.3f}  {total:7d}",
        f"{'macro avg':>{width}}  {mean['precision']:9.3f}  {mean['recall']:6.3f}  "
        f"{metrics.macro_f1:8.3f}  {total:7d}",
    ]
    return "\n".join(lines)
