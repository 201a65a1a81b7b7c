"""Classification figures in the shape of the run and card contracts."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def classification_figures(
    labels: np.ndarray, preds: np.ndarray, classes: list[str]
) -> dict[str, Any]:
    index = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, preds, labels=index, zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(labels, preds)),
        "macro_f1": float(f1_score(labels, preds, labels=index, average="macro", zero_division=0)),
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
        "confusion_matrix": confusion_matrix(labels, preds, labels=index).tolist(),
    }


def report_text(labels: np.ndarray, preds: np.ndarray, classes: list[str]) -> str:
    return classification_report(
        labels,
        preds,
        labels=list(range(len(classes))),
        target_names=classes,
        digits=3,
        zero_division=0,
    )
