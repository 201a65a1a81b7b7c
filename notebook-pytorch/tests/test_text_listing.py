"""Text models and listings: the exported model.json against scikit-learn, the run contract of
`train-text`, the fusion weights, and `fit-listing` on a tiny exported image model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CLASSES, make_split, tiny_run_id
from flipkart_contract import load_registry, sha256_file, write_json_atomic
from flipkart_contract.run_tags import EPOCH_TAGS, FINAL_TAGS
from flipkart_contract.schema import load_listing_card, load_text_card, load_text_metrics
from flipkart_contract.testing import card_dict, registry_dict
from flipkart_contract.text import FusionWeights, TextModel, fuse
from flipkart_torch.cli import run as cli
from flipkart_torch.listing import ListingError, fit_listing, fit_weights, fused_nll
from flipkart_torch.text import (
    TextConfig,
    TextDataError,
    choose_c,
    fit_text,
    load_listings,
    parity,
    train_text,
)

WORDS = {
    "Circles": ["round", "ball", "ring", "disc", "globe"],
    "Squares": ["square", "box", "tile", "cube", "frame"],
    "Stripes": ["striped", "lines", "zebra", "barcode", "pinstripe"],
}
COMMON = ["premium", "set", "pack", "cotton", "gift", "new", "blue"]


def write_texts(root: Path, seed: int = 0, blank_description_every: int = 4) -> None:
    """dataset.csv for the split of `root`: a title of class words and shared words, and a
    description that repeats one class word among many shared ones (some left blank)."""
    rng = np.random.default_rng(seed)
    with open(root / "splits.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(root / "dataset.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "label", "title", "description"])
        writer.writeheader()
        for i, row in enumerate(rows):
            own = WORDS[row["label"]]
            title = " ".join([*rng.choice(own, 1), *rng.choice(COMMON, 3)])
            body = " ".join([*rng.choice(COMMON, 12), *rng.choice(own, 1), "Price: Rs. 99"])
            description = "" if i % blank_description_every == 0 else body
            writer.writerow(
                {"image": row["image"], "label": row["label"], "title": title,
                 "description": description}
            )  # fmt: skip


@pytest.fixture(scope="module")
def text_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_split(tmp_path_factory.mktemp("text"), {"train": 12, "val": 6, "test": 6})
    write_texts(root)
    return root


ODD_TEXTS = [
    "",
    "a b c",  # no token of two characters
    "ÉTÉ ½ ﬁne — 漢字 Ünïcödé",
    "round-ball!!! ROUND ball, round\tball\n\nring",
    "x" * 300,
    "  spaces   between\u00a0words  ",
]


@pytest.mark.parametrize("architecture", ["tfidf-word", "tfidf-char", "tfidf-word-char"])
def test_exported_model_reproduces_scikit_learn(text_data: Path, architecture: str) -> None:
    classes, data = load_listings(text_data / "splits.csv")
    fitted = fit_text(TextConfig(architecture=architecture), data["train"], 10.0, len(classes))
    model = TextModel.from_dict(json.loads(json.dumps(fitted.export(classes).to_dict())))
    texts = [item.text(k) for item in data["test"] for k in ("title", "title+description")]
    result = parity(fitted, model, texts + ODD_TEXTS)
    assert result["max_abs_logit_diff"] < 1e-5, result
    assert result["top1_agreement"] == 1.0
    # and without the JSON round trip, to float precision
    exact = fitted.export(classes).logits(ODD_TEXTS)
    np.testing.assert_allclose(exact, fitted.logits(ODD_TEXTS), atol=1e-10)


def test_refit_on_train_and_val_keeps_val_figures_out_of_fold(text_data, tmp_path) -> None:
    config = TextConfig(c_grid=(10.0,), fit_on="train+val", cv_folds=3)
    metrics = train_text(
        config,
        splits_csv=text_data / "splits.csv",
        runs_dir=tmp_path / "runs",
        text_dir=tmp_path / "text",
    )
    folder = tmp_path / "text" / metrics.run_id
    card = load_text_card(folder / "card.json")
    assert card.fitted_on == "train+val" and card.val_logits == "val_logits.json"
    held = json.loads((folder / card.val_logits).read_text())
    _, data = load_listings(text_data / "splits.csv")
    assert held["images"] == [item.image for item in data["val"]]
    # the out-of-fold logits are not the refitted model's (which saw the val products) ...
    model = TextModel.from_dict(json.loads((folder / "model.json").read_text()))
    refit = model.logits([item.title for item in data["val"]])
    assert np.abs(np.array(held["logits"]["title"]) - refit).max() > 1e-3
    # ... and the card's val figures are theirs
    labels = [item.label for item in data["val"]]
    oof_acc = float((np.array(held["logits"]["title"]).argmax(1) == labels).mean())
    assert card.metrics.val["title"].accuracy == pytest.approx(oof_acc)
    assert metrics.data.num_train == len(data["train"]) and "cross-fits" in metrics.budget


def test_train_text_writes_the_run_contract(text_data: Path, tmp_path: Path) -> None:
    config = TextConfig(architecture="tfidf-word", c_grid=(0.1, 10.0), run_id="")
    metrics = train_text(
        config,
        splits_csv=text_data / "splits.csv",
        runs_dir=tmp_path / "runs",
        text_dir=tmp_path / "text",
    )
    run_dir = tmp_path / "runs" / metrics.run_id
    assert load_text_metrics(run_dir / "metrics.json") == metrics
    assert metrics.run_id.endswith("_text-tfidf-word")
    assert set(metrics.final.test) == {"title", "title+description"}
    assert metrics.final.test["title"].accuracy > 0.9  # the class words are in every title
    assert metrics.config["c"] in (0.1, 10.0)
    assert set(metrics.config["val_mean_macro_f1_by_c"]) == {"0.1", "10"}

    card = load_text_card(tmp_path / "text" / metrics.run_id / "card.json")
    model_file = tmp_path / "text" / metrics.run_id / "model.json"
    assert card.model.sha256 == sha256_file(model_file)
    assert card.model.bytes == model_file.stat().st_size
    assert card.parity.max_abs_logit_diff < 1e-5 and card.parity.top1_agreement == 1.0
    assert card.metrics.test["title"] == metrics.final.test["title"]

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert set(EPOCH_TAGS) | set(FINAL_TAGS) <= tags
    assert {"test/title/accuracy", "val/title+description/macro_f1"} <= tags
    assert events.Scalars("test/accuracy")[0].value == pytest.approx(
        metrics.final.test["title+description"].accuracy
    )


def test_choose_c_keeps_the_best_validation_score(text_data: Path) -> None:
    classes, data = load_listings(text_data / "splits.csv")
    fitted, scores = choose_c(TextConfig(c_grid=(0.001, 1.0, 100.0)), data, classes)
    assert fitted.c == max(scores, key=lambda c: (scores[c], -c))
    assert scores[0.001] <= scores[fitted.c]


def test_text_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="unknown text architecture"):
        TextConfig(architecture="bert")
    with pytest.raises(ValueError, match="train inputs"):
        TextConfig(train_inputs=("subtitle",))
    with pytest.raises(ValueError, match="positive"):
        TextConfig(c_grid=(0.0,))


def test_listings_need_the_text_columns(text_data: Path, tmp_path: Path) -> None:
    shutil.copy(text_data / "splits.csv", tmp_path / "splits.csv")
    with pytest.raises(TextDataError, match="make data"):
        load_listings(tmp_path / "splits.csv")  # no dataset.csv
    (tmp_path / "dataset.csv").write_text("image,label,product_name\n", encoding="utf-8")
    with pytest.raises(TextDataError, match="title/description"):
        load_listings(tmp_path / "splits.csv")
    (tmp_path / "dataset.csv").write_text("image,label,title,description\n", encoding="utf-8")
    with pytest.raises(TextDataError, match=r"not in dataset\.csv"):
        load_listings(tmp_path / "splits.csv")


def test_cli_train_text_reports_each_input(text_data: Path, tmp_path: Path, capsys) -> None:
    code = cli([
        "train-text", "--architecture", "tfidf-char", "--c-grid", "10",
        "--splits-csv", str(text_data / "splits.csv"),
        "--runs-dir", str(tmp_path / "runs"), "--text-dir", str(tmp_path / "text"),
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "test title: accuracy" in out and "test title+description: accuracy" in out


# ---------------------------------------------------------------- fusion


def test_fit_weights_leans_on_the_informative_part() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300).tolist()
    text_logits = np.eye(3)[labels] * 3 + rng.normal(0, 1, (300, 3))  # informative
    image_probs = rng.dirichlet(np.ones(3), 300)  # noise
    w = fit_weights(image_probs, text_logits, labels)
    assert w.text > w.image
    fitted = fused_nll(image_probs, text_logits, labels, w)
    assert fitted <= fused_nll(image_probs, text_logits, labels, FusionWeights(1.0, 1.0)) + 1e-12
    assert fitted <= fused_nll(image_probs, text_logits, labels, FusionWeights(0.0, 1.0)) + 1e-12


class ColourModel(torch.nn.Module):
    """pixels [N, H, W, 3] 0-255 -> logits from the mean colour (a stand-in image model)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, len(CLASSES))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.linear(pixels.mean(dim=(1, 2)) / 255.0)


def export_colour_model(artifacts: Path) -> tuple[str, Path]:
    from flipkart_contract.resize import ResizePolicy

    run_id = tiny_run_id()
    out = artifacts / "models" / run_id
    out.mkdir(parents=True)
    torch.manual_seed(0)
    torch.onnx.export(
        ColourModel(),
        (torch.zeros(1, 32, 32, 3),),
        str(out / "model.onnx"),
        input_names=["pixels"],
        output_names=["logits"],
        dynamic_axes={"pixels": {0: "n"}, "logits": {0: "n"}},
        dynamo=False,
    )
    card = card_dict(
        (out / "model.onnx").read_bytes(),
        run_id,
        classes=CLASSES,
        policy=ResizePolicy(method="pad", size=32),
    )
    write_json_atomic(out / "card.json", card)
    write_json_atomic(artifacts / "registry.json", registry_dict(run_id, [run_id]))
    return run_id, out


def test_fit_listing_fuses_and_registers(text_data: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    image_run, image_dir = export_colour_model(artifacts)
    text = train_text(
        TextConfig(c_grid=(1.0,)),
        splits_csv=text_data / "splits.csv",
        runs_dir=tmp_path / "runs",
        text_dir=artifacts / "text",
    )
    card = fit_listing(
        None,  # the production image model
        None,  # the newest text model
        splits_csv=text_data / "splits.csv",
        images_dir=text_data / "images",
        artifacts_dir=artifacts,
        register=True,
    )
    again = load_listing_card(artifacts / "listing" / card.listing_id / "card.json")
    assert again == card
    assert (card.image.run_id, card.text.run_id) == (image_run, text.run_id)
    assert card.image.sha256 == sha256_file(image_dir / "model.onnx")
    assert set(card.fusion.weights) == {"title", "description", "title+description"}
    assert set(card.metrics["test"]) == {
        "image", "text:title", "fused:title", "text:title+description", "fused:title+description"
    }  # fmt: skip
    assert card.fusion_overhead_ms is not None and card.fusion_overhead_ms > 0
    assert set(card.uncertain_below) == {
        f"{part}:{kind}" for part in ("text", "fused")
        for kind in ("title", "description", "title+description")
    }  # fmt: skip
    assert all(0 < t <= 1 for t in card.uncertain_below.values())
    assert load_registry(artifacts / "registry.json").listing == card.listing_id
    assert load_registry(artifacts / "registry.json").production == image_run

    # The card's fused figures are what `fuse` gives with the card's weights.
    from flipkart_torch.listing import image_probabilities

    _, data = load_listings(text_data / "splits.csv")
    model = TextModel.from_dict(
        json.loads((artifacts / "text" / text.run_id / "model.json").read_text())
    )
    probs = image_probabilities(image_dir, data["test"], text_data / "images")
    w = card.fusion.weights["title"]
    fused = fuse(probs, model.logits([i.title for i in data["test"]]), FusionWeights(**vars(w)))
    labels = np.array([i.label for i in data["test"]])
    assert card.metrics["test"]["fused:title"].accuracy == pytest.approx(
        float((fused.argmax(1) == labels).mean())
    )


def test_fit_listing_refuses_a_changed_file(text_data: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    image_run, image_dir = export_colour_model(artifacts)
    with pytest.raises(ListingError, match="make train-text"):
        fit_listing(image_run, None, splits_csv=text_data / "splits.csv", artifacts_dir=artifacts)
    text = train_text(
        TextConfig(c_grid=(1.0,)),
        splits_csv=text_data / "splits.csv",
        runs_dir=tmp_path / "runs",
        text_dir=artifacts / "text",
    )
    model_file = artifacts / "text" / text.run_id / "model.json"
    model_file.write_text(model_file.read_text().replace('"intercept":[', '"intercept":[1,'))
    with pytest.raises(ListingError, match="does not match its card"):
        fit_listing(image_run, text.run_id, splits_csv=text_data / "splits.csv",
                    images_dir=text_data / "images", artifacts_dir=artifacts)  # fmt: skip
    (image_dir / "model.onnx").unlink()
    with pytest.raises(ListingError, match="export the image model"):
        fit_listing(image_run, text.run_id, splits_csv=text_data / "splits.csv",
                    images_dir=text_data / "images", artifacts_dir=artifacts)  # fmt: skip


def test_a_listing_of_a_refitted_text_model_uses_its_held_out_val_logits(text_data, tmp_path):
    artifacts = tmp_path / "artifacts"
    image_run, _ = export_colour_model(artifacts)
    text = train_text(
        TextConfig(c_grid=(10.0,), fit_on="train+val", cv_folds=3),
        splits_csv=text_data / "splits.csv",
        runs_dir=tmp_path / "runs",
        text_dir=artifacts / "text",
    )
    options = {"splits_csv": text_data / "splits.csv", "images_dir": text_data / "images",
               "artifacts_dir": artifacts}  # fmt: skip
    card = fit_listing(image_run, text.run_id, **options)
    text_card = load_text_card(artifacts / "text" / text.run_id / "card.json")
    for kind in ("title", "title+description"):
        assert card.metrics["val"][f"text:{kind}"].accuracy == text_card.metrics.val[kind].accuracy
    held = artifacts / "text" / text.run_id / "val_logits.json"
    data = json.loads(held.read_text())
    data["images"] = data["images"][::-1]
    held.write_text(json.dumps(data))
    with pytest.raises(ListingError, match="not of this split's val products"):
        fit_listing(image_run, text.run_id, **options)
