"""Reduced-precision ONNX graphs made from an fp32 export, and their acceptance rule.

int8: ONNX Runtime's dynamic quantisation (weights stored as int8, activations quantised per
batch at run time; 4x smaller). fp16: ONNX Runtime's float16 converter (weights and arithmetic
in half precision, float32 `pixels` in and `logits` out; 2x smaller). Both ship with the
`onnxruntime` wheel, nothing else to install.

A reduced graph is accepted only when, on every image of the test split, it gives the fp32
graph's top-1 class at least 99 % of the time and loses at most half a point of accuracy
(`flipkart_contract.schema.PrecisionCheck`); the card records the figures either way it is
written, and no card is written when the rule fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from flipkart_contract.evaluation import split_metrics
from flipkart_contract.schema import Precision, PrecisionCheck, SplitMetrics

PRECISIONS: tuple[str, ...] = get_args(Precision)
INT8_METHOD = "onnxruntime.quantization.quantize_dynamic (weights QInt8, activations per batch)"
FP16_METHOD = "onnxruntime.transformers.float16.convert_float_to_float16 (keep_io_types)"


class PrecisionError(RuntimeError):
    """The reduced graph fails the acceptance rule against fp32: nothing is written."""


def reduce_precision(fp32_path: Path, out_path: Path, precision: Literal["fp16", "int8"]) -> str:
    """Write `fp32_path`'s graph at `precision` to `out_path`; returns how it was made."""
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(fp32_path, out_path, weight_type=QuantType.QInt8)
        return INT8_METHOD
    if precision == "fp16":
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        model = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
        onnx.save(model, str(out_path))
        return FP16_METHOD
    raise ValueError(f"precision must be one of {PRECISIONS[1:]}, got {precision!r}")


def run_logits(session: Any, pixels: np.ndarray, batch: int = 16) -> np.ndarray:
    """`logits` of uint8 (or float) NHWC `pixels`, `batch` images per call."""
    out = [
        session.run(["logits"], {"pixels": pixels[i : i + batch].astype(np.float32)})[0]
        for i in range(0, len(pixels), batch)
    ]
    return np.concatenate(out).astype(np.float64)


def check_precision(
    fp32_logits: np.ndarray,
    logits: np.ndarray,
    labels: np.ndarray,
    *,
    method: str,
    fp32_bytes: int,
    split: str = "test",
) -> PrecisionCheck:
    """The acceptance figures of `logits` (reduced graph) against `fp32_logits` on a split."""
    fp32_top1, top1 = fp32_logits.argmax(1), logits.argmax(1)
    return PrecisionCheck(
        method=method,
        split=split,
        num_images=len(labels),
        top1_agreement=float((fp32_top1 == top1).mean()),
        accuracy=float((top1 == labels).mean()),
        fp32_accuracy=float((fp32_top1 == labels).mean()),
        max_abs_logit_diff=float(np.abs(fp32_logits - logits).max()),
        fp32_bytes=fp32_bytes,
    )


def require_passed(check: PrecisionCheck, precision: str, run_id: str) -> None:
    if not check.passed:
        raise PrecisionError(
            f"{run_id}: the {precision} graph fails the acceptance rule on {check.num_images} "
            f"{check.split} images: top-1 agreement with fp32 {check.top1_agreement:.4f} (min "
            f"{check.min_top1_agreement}), accuracy {check.accuracy:.4f} vs fp32 "
            f"{check.fp32_accuracy:.4f} (max drop {check.max_accuracy_drop}); not written"
        )


def graph_metrics(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> SplitMetrics:
    """The card's split figures, as the served graph itself scores them."""
    return split_metrics(labels.tolist(), logits.argmax(1).tolist(), list(classes))
