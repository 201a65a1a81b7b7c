"""A listing model: an exported image model and a text model, fused late.

`flipkart-torch fit-listing --image RUN --text RUN` reads the image model as it is served
(its ONNX file through the card's resize policy: calibration folded in, TTA inside) and the
text model's `model.json` (NumPy, as served), then on validation fits, for each text input,
the text-alone temperature and the two exponents of the log-linear pooling
(`flipkart_contract.text.fuse`) by minimising the log loss. It writes
`artifacts/listing/<listing_id>/card.json` with image-alone, text-alone and fused figures on
validation and test; `--register` makes it the listing the service uses with text.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
from flipkart_contract import (
    layout,
    load_card,
    model_view,
    read_json_object,
    sha256_file,
    write_json_atomic,
)
from flipkart_contract.calibration import fit_temperature, softmax, threshold_for_precision
from flipkart_contract.schema import ListingCard, load_registry, load_text_card
from flipkart_contract.text import FusionWeights, TextModel, fuse, text_probabilities

from flipkart_torch.run_log import utc_now
from flipkart_torch.text import EVAL_INPUTS, Listing, figures, load_listings

WEIGHT_GRID = np.round(np.arange(0.0, 3.0001, 0.05), 2)


class ListingError(ValueError):
    pass


def image_probabilities(
    model_dir: Path, listings: list[Listing], images_dir: Path, batch: int = 16
) -> np.ndarray:
    """The served image model's probabilities [N, classes] for the listings' photos."""
    import onnxruntime as ort

    card = load_card(model_dir / "card.json")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(
        str(model_dir / card.onnx.file), options, providers=["CPUExecutionProvider"]
    )
    logits = []
    for start in range(0, len(listings), batch):
        views = [
            model_view(images_dir / item.image, card.resize_policy)
            for item in listings[start : start + batch]
        ]
        pixels = np.stack(views).astype(np.float32)
        logits.append(session.run([card.output.name], {card.input.name: pixels})[0])
    return softmax(np.concatenate(logits))


def fused_nll(image_probs, text_logits, labels, weights: FusionWeights) -> float:
    probs = fuse(image_probs, text_logits, weights)
    picked = probs[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.clip(picked, 1e-12, None)).mean())


def fit_weights(
    image_probs: np.ndarray, text_logits: np.ndarray, labels: list[int]
) -> FusionWeights:
    """Text temperature, then the exponents on a 0.05 grid over [0, 3]² (log loss; ties: the
    first found, i.e. the smaller image exponent)."""
    temperature = fit_temperature(text_logits, labels)
    best, best_loss = None, float("inf")
    for a in WEIGHT_GRID:
        for b in WEIGHT_GRID:
            if a == 0 and b == 0:
                continue
            weights = FusionWeights(float(a), float(b), temperature)
            loss = fused_nll(image_probs, text_logits, labels, weights)
            if loss < best_loss - 1e-12:
                best, best_loss = weights, loss
    assert best is not None
    return best


def _text_model(text_dir: Path) -> tuple[TextModel, Any, str]:
    card = load_text_card(text_dir / "card.json")
    path = text_dir / card.model.file
    digest = sha256_file(path)
    if digest != card.model.sha256:
        raise ListingError(f"{path} does not match its card's sha256")
    return TextModel.from_dict(json.loads(path.read_text(encoding="utf-8"))), card, digest


def production_image(artifacts: Path) -> str:
    production = load_registry(artifacts / "registry.json").production
    if not production:
        raise ListingError("no production model in registry.json: pass --image RUN_ID")
    return production


def newest_text_model(artifacts: Path) -> str:
    runs = sorted(p.parent.name for p in (artifacts / "text").glob("*/card.json"))
    if not runs:
        raise ListingError(f"no text model under {artifacts / 'text'}: run `make train-text`")
    return runs[-1]


def fit_listing(
    image_run_id: str | None,
    text_run_id: str | None,
    *,
    splits_csv: Path | None = None,
    images_dir: Path | None = None,
    artifacts_dir: Path | None = None,
    register: bool = False,
    listing_id: str | None = None,
) -> ListingCard:
    artifacts = artifacts_dir or layout.artifacts_dir()
    images = images_dir or layout.images_dir()
    image_run_id = image_run_id or production_image(artifacts)
    text_run_id = text_run_id or newest_text_model(artifacts)
    image_dir = artifacts / "models" / image_run_id
    image_card = load_card(image_dir / "card.json")
    onnx_path = image_dir / image_card.onnx.file
    if not onnx_path.is_file():
        raise ListingError(f"{onnx_path} is missing: export the image model first")
    image_sha = sha256_file(onnx_path)
    if image_sha != image_card.onnx.sha256:
        raise ListingError(f"{onnx_path} does not match its card's sha256")
    text_model, text_card, text_sha = _text_model(artifacts / "text" / text_run_id)
    classes, data = load_listings(splits_csv)
    if not (image_card.classes == text_card.classes == classes):
        raise ListingError("the image model, the text model and splits.csv differ in classes")

    # A text model refitted on train+val has seen the val products: its val logits are the
    # cross-fitting's (each product scored by a fold model that did not see it).
    held_out = None
    if text_card.fitted_on == "train+val":
        if not text_card.val_logits:
            raise ListingError(
                f"text model {text_run_id} was fitted on train+val without val logits"
            )
        held_out = read_json_object(artifacts / "text" / text_run_id / text_card.val_logits)
    metrics: dict[str, dict[str, Any]] = {}
    weights: dict[str, FusionWeights] = {}
    thresholds: dict[str, float] = {}
    for split in ("val", "test"):
        listings = data[split]
        labels = [item.label for item in listings]
        probs = image_probabilities(image_dir, listings, images)
        per: dict[str, Any] = {"image": figures(np.log(np.clip(probs, 1e-12, 1)), labels, classes)}
        for kind in EVAL_INPUTS:
            if split == "val" and held_out is not None:
                text_logits = held_out_logits(held_out, listings, kind)
            else:
                text_logits = text_model.logits([item.text(kind) for item in listings])
            if split == "val":
                weights[kind] = fit_weights(probs, text_logits, labels)
            w = weights[kind]
            answers = {
                f"text:{kind}": text_probabilities(text_logits, w),
                f"fused:{kind}": fuse(probs, text_logits, w),
            }
            for key, answer in answers.items():
                per[key] = figures(np.log(np.clip(answer, 1e-12, 1)), labels, classes)
                if split == "val":
                    thresholds[key] = round(threshold_for_precision(answer, labels, 0.95), 4)
        metrics[split] = per
    # A description alone is read like a title and description (the weights of that input).
    weights["description"] = weights["title+description"]
    for part in ("text", "fused"):
        thresholds[f"{part}:description"] = thresholds[f"{part}:title+description"]

    overhead = _fusion_overhead_ms(text_model, data["test"][:50], weights["title+description"])
    listing_id = listing_id or f"{utc_now():%Y%m%d-%H%M%S}_listing"
    card = ListingCard(
        listing_id=listing_id,
        classes=classes,
        image={"run_id": image_run_id, "sha256": image_sha},
        text={"run_id": text_run_id, "sha256": text_sha},
        fusion={
            "num_products": len(data["val"]),
            "weights": {k: vars(w) for k, w in weights.items()},
        },
        metrics=metrics,
        fusion_overhead_ms=overhead,
        uncertain_below=thresholds,
        created_at=utc_now(),
        notes=(
            f"weights fitted on val by log loss (text temperature by golden section, exponents "
            f"on a 0.05 grid); val log loss image {nll_of(metrics, 'image'):.3f}; uncertain_below: "
            "95 % precision on val"
        ),
    )
    out = artifacts / "listing" / listing_id
    write_json_atomic(out / "card.json", card.model_dump(mode="json", exclude_none=True))
    if register:
        register_listing(artifacts / "registry.json", listing_id)
    return card


def held_out_logits(held_out: dict[str, Any], listings: list[Listing], kind: str) -> np.ndarray:
    if held_out.get("images") != [item.image for item in listings]:
        raise ListingError("the text model's val logits are not of this split's val products")
    return np.asarray(held_out["logits"][kind], dtype=np.float64)


def nll_of(metrics: dict[str, dict[str, Any]], key: str) -> float:
    return float(metrics["val"][key].loss or 0.0)


def _fusion_overhead_ms(model: TextModel, listings: list[Listing], w: FusionWeights) -> float:
    """Median ms the text adds to an image prediction: featurise, score, fuse."""
    probs = np.full((1, len(model.classes)), 1.0 / len(model.classes))
    times = []
    for _ in range(3):
        for item in listings:
            start = time.perf_counter()
            fuse(probs, model.logits([item.text("title+description")]), w)
            times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 4)


def register_listing(registry_path: Path, listing_id: str) -> None:
    registry = load_registry(registry_path)
    registry.listing = listing_id
    write_json_atomic(registry_path, registry.model_dump(mode="json", exclude_none=True))
