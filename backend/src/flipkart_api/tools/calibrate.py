r"""Calibrate an exported model: fit a temperature on validation and fold it into the graph.

    uv run python -m flipkart_api.tools.calibrate [--run-id RUN_ID] [--target-precision 0.95]

The validation photos go through the service's decode and resize (`model_input`) and ONNX
Runtime; the temperature T minimising the negative log-likelihood of softmax(logits / T) is
fitted on them (`flipkart_contract.calibration`); the graph gets a final `Div` by T, so the
service's probabilities are calibrated with no change to its code, and no prediction changes
(checked: the top-1 of every validation image is the same before and after). The card records
T, the expected calibration error and NLL before and after, and `uncertain_below`: the lowest
top-1 probability at which validation answers reach the target precision; the service flags
answers under it as uncertain. The card's new sha256 and size follow the rewritten file.

Works on any export (either lab), framework-free; needs the `onnx` package (backend dev group).
Exit codes: 0 done, 2 bad input (already calibrated, unknown run id, no validation images), 1
unexpected.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from flipkart_contract import DEFAULT_MAX_PIXELS, ImageDecodeError, sha256_file
from flipkart_contract.calibration import (
    expected_calibration_error,
    fit_temperature,
    nll,
    softmax,
    threshold_for_precision,
)
from flipkart_contract.files import write_json_atomic
from flipkart_contract.latency import ort_session
from flipkart_contract.schema import Calibration

from flipkart_api.errors import ApiError
from flipkart_api.tools.evaluate import (
    BadInput,
    Chosen,
    add_data_arguments,
    check_labels,
    load_pixels,
    open_chosen,
    read_split,
    run_logits,
    run_tool,
)


def validation_pixels(
    chosen: Chosen, images: Path, splits: Path, split: str = "val"
) -> tuple[np.ndarray, np.ndarray]:
    """The split's photos as the service sees them (unreadable ones skipped), and their
    class indices."""
    rows = read_split(splits, split)
    check_labels(rows, chosen.classes, chosen.export.run_id)
    index = {name: i for i, name in enumerate(chosen.classes)}
    pixels, labels = [], []
    for row in rows:
        try:
            pixels.append(load_pixels(images / row.image, chosen, DEFAULT_MAX_PIXELS))
            labels.append(index[row.label])
        except (ApiError, ImageDecodeError):
            continue
    if not pixels:
        raise BadInput(f"no readable {split} image under {images}")
    return np.stack(pixels), np.asarray(labels)


def fold_temperature(model_path: Path, output_name: str, temperature: float) -> bytes:
    """The ONNX graph with `output / temperature` as its output (same name, same shape)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(model_path))
    graph = model.graph
    raw = f"{output_name}_before_temperature"
    for node in graph.node:
        node.output[:] = [raw if o == output_name else o for o in node.output]
    constant = numpy_helper.from_array(np.array(temperature, dtype=np.float32), "temperature")
    graph.initializer.append(constant)
    graph.node.append(helper.make_node("Div", [raw, "temperature"], [output_name]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def calibrate(
    chosen: Chosen, images: Path, splits: Path, target_precision: float = 0.95
) -> Calibration:
    export = chosen.export
    card = export.card
    if card.calibration is not None and card.calibration.folded:
        raise BadInput(
            f"{export.run_id} is already calibrated (T = {card.calibration.temperature:.3f} "
            "is folded into its graph)"
        )
    pixels, labels = validation_pixels(chosen, images, splits)
    logits = run_logits(chosen.session, card, pixels)
    temperature = fit_temperature(logits, labels)
    data = fold_temperature(export.model_path, card.output.name, temperature)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=export.folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        after = run_logits(ort_session(tmp), card, pixels)
        if not np.array_equal(after.argmax(axis=1), logits.argmax(axis=1)):
            raise BadInput("folding the temperature changed a prediction; file left unchanged")
        if not np.allclose(after, logits / temperature, rtol=1e-4, atol=1e-4):
            raise BadInput("the calibrated graph does not divide the logits by T; unchanged")
        os.replace(tmp, export.model_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    probs_before, probs_after = softmax(logits), softmax(logits, temperature)
    calibration = Calibration(
        temperature=round(temperature, 6),
        folded=True,
        fitted_on="val",
        num_images=len(labels),
        ece_before=expected_calibration_error(probs_before, labels),
        ece_after=expected_calibration_error(probs_after, labels),
        nll_before=nll(logits, labels),
        nll_after=nll(logits, labels, temperature),
        target_precision=target_precision,
        uncertain_below=threshold_for_precision(probs_after, labels, target_precision),
    )
    onnx_info = card.onnx.model_copy(
        update={"sha256": sha256_file(export.model_path), "bytes": export.model_path.stat().st_size}
    )
    updated = card.model_copy(update={"calibration": calibration, "onnx": onnx_info})
    write_json_atomic(
        export.folder / "card.json", updated.model_dump(mode="json", exclude_none=True)
    )
    return calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flipkart_api.tools.calibrate", description=__doc__.splitlines()[0]
    )
    add_data_arguments(parser, split=None)
    parser.add_argument("--run-id", help="the export (default: the production model)")
    parser.add_argument("--artifacts", type=Path)
    parser.add_argument("--target-precision", type=float, default=0.95)
    args = parser.parse_args(argv)
    if not 0 < args.target_precision <= 1:
        parser.error("--target-precision must be in (0, 1]")

    def work() -> int:
        chosen = open_chosen(args)
        result = calibrate(chosen, args.images, args.splits, args.target_precision)
        print(
            f"{chosen.export.run_id}: T = {result.temperature:.3f} on {result.num_images} val "
            f"images; ECE {result.ece_before:.3f} -> {result.ece_after:.3f}, "
            f"NLL {result.nll_before:.3f} -> {result.nll_after:.3f}; uncertain below "
            f"{result.uncertain_below:.3f} (precision {result.target_precision:g})"
        )
        return 0

    return run_tool("calibrate", work)


if __name__ == "__main__":
    sys.exit(main())
