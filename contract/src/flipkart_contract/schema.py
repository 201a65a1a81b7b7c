"""Typed models of the files the parts exchange: `metrics.json`, `card.json`, `registry.json`
and a leaderboard row. `python -m flipkart_contract.schema` writes their JSON Schemas into
`contract/schemas/`.

Vocabulary (one word per concept, everywhere): `architecture` (efficientnet_lite0,
mambavision_t, ...), `run_id`, `training_mode` (freeze | finetune), `resize_policy` with its
`method` (crop | pad).

Version 1 files (written before 2026-12) said `model`/`name` for the architecture, `mode` for
both the training mode and the resize method, and `preprocessing` for the resize policy; the
`load_*` readers migrate them in memory, so an old export still serves.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flipkart_contract.files import read_json_object
from flipkart_contract.resize import ResizePolicy
from flipkart_contract.run_id import RUN_ID_PATTERN

SCHEMA_VERSION = 2
Framework = Literal["pytorch", "tensorflow"]
TrainingMode = Literal["freeze", "finetune"]
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ClassReport(_Strict):
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    f1: float = Field(ge=0, le=1)
    support: int = Field(ge=0)


class SplitMetrics(_Strict):
    """Figures on one split. `per_class` and `confusion_matrix` use the card's class order."""

    accuracy: float = Field(ge=0, le=1)
    macro_f1: float = Field(ge=0, le=1)
    loss: float | None = None
    num_images: int | None = Field(None, ge=0)
    per_class: dict[str, ClassReport] | None = None
    confusion_matrix: list[list[int]] | None = None
    accuracy_ci95: tuple[float, float] | None = Field(
        None, description="percentile bootstrap interval over the images (calibration.py)"
    )
    macro_f1_ci95: tuple[float, float] | None = None

    def check_classes(self, classes: list[str], where: str) -> None:
        if self.per_class is not None and list(self.per_class) != list(classes):
            raise ValueError(f"{where}.per_class keys must be the classes, in order")
        if self.confusion_matrix is not None:
            n = len(classes)
            if len(self.confusion_matrix) != n or any(len(r) != n for r in self.confusion_matrix):
                raise ValueError(f"{where}.confusion_matrix must be {n} x {n}")


def _check_class_list(classes: list[str]) -> list[str]:
    if len(classes) < 2:
        raise ValueError("at least 2 classes")
    if len(set(classes)) != len(classes):
        raise ValueError("class names must be unique")
    if classes != sorted(classes):
        raise ValueError("classes must be in sorted order (the contract's class order)")
    return classes


# ---------------------------------------------------------------- runs/<framework>/<run_id>/


class Hardware(_Open):
    device: str
    device_name: str
    num_threads: int | None = None
    gpus: int = 0


class DataSummary(_Open):
    splits_sha256: str = Field(pattern=SHA256_PATTERN)
    num_train: int = Field(ge=0)
    num_val: int = Field(ge=0)
    num_test: int = Field(ge=0)


class PerfSummary(_Open):
    train_images_per_s: float | None = None
    test_ms_per_image: float | None = None


class FinalMetrics(_Strict):
    val: SplitMetrics
    test: SplitMetrics
    perf: PerfSummary


class RunMetrics(_Strict):
    """`runs/<framework>/<run_id>/metrics.json`: a run's final figures and how it was obtained."""

    schema_version: Literal[2] = SCHEMA_VERSION
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    framework: Framework
    architecture: str
    training_mode: TrainingMode
    classes: list[str]
    config: dict[str, Any] = Field(description="every hyper-parameter of the run")
    budget: str = Field(description="the compute the run had, in words")
    hardware: Hardware
    weights_source: str = Field(
        description="none | pypi:<package> | hf:<repo> | keras:imagenet | file:<name>"
    )
    data: DataSummary
    epochs_run: int = Field(ge=0)
    best_epoch: int | None = Field(None, ge=0, description="counted from 1, like the events")
    wall_time_s: float = Field(ge=0)
    final: FinalMetrics
    created_at: datetime
    parameters: int | None = Field(None, ge=0)
    checkpoint: str | None = None
    stopped_by_wall_clock_budget: bool | None = None
    notes: str | None = None

    _classes = field_validator("classes")(_check_class_list)

    @model_validator(mode="after")
    def _consistent(self) -> RunMetrics:
        self.final.test.check_classes(self.classes, "final.test")
        return self


# ---------------------------------------------------------- artifacts/models/<run_id>/card.json


class InputSpec(_Strict):
    name: str = "pixels"
    layout: Literal["NHWC"] = "NHWC"
    dtype: Literal["float32"] = "float32"
    value_range: tuple[int, int] = (0, 255)
    height: int = Field(ge=8)
    width: int = Field(ge=8)


class OutputSpec(_Strict):
    name: str = "logits"


class Latency(_Strict):
    batch_1: float = Field(ge=0, description="median ms for one image")
    batch_16_per_image: float = Field(ge=0, description="median ms per image at batch 16")
    threads: int
    provider: str = "CPUExecutionProvider"
    hardware: str


class Parity(_Strict):
    max_abs_logit_diff: float = Field(ge=0)
    top1_agreement: float = Field(ge=0, le=1)
    num_images: int = Field(ge=1)


class OnnxFile(_Strict):
    file: str = "model.onnx"
    sha256: str = Field(pattern=SHA256_PATTERN)
    bytes: int = Field(ge=1)
    opset: int | None = None


class CardMetrics(_Strict):
    test: SplitMetrics
    val: SplitMetrics | None = Field(
        None, description="the run's validation figures: what model choices are made on"
    )


class ConditionFigures(_Strict):
    accuracy: float = Field(ge=0, le=1)
    macro_f1: float = Field(ge=0, le=1)
    num_images: int = Field(ge=1)


class Robustness(_Strict):
    """The model on perturbed copies of a split's photos (`flipkart_contract.robustness`)."""

    suite: str = Field(description="the conditions' module and version, e.g. robustness/1")
    split: str
    seed: int
    conditions: dict[str, ConditionFigures]
    worst_condition: str
    worst_drop: float = Field(description="accuracy of `clean` minus the worst condition's")


class Calibration(_Strict):
    """Temperature scaling fitted on validation; `folded` when the graph already divides."""

    temperature: float = Field(gt=0)
    folded: bool
    fitted_on: str = "val"
    num_images: int = Field(ge=1)
    ece_before: float = Field(ge=0, le=1)
    ece_after: float = Field(ge=0, le=1)
    nll_before: float = Field(ge=0)
    nll_after: float = Field(ge=0)
    target_precision: float = Field(gt=0, le=1)
    uncertain_below: float = Field(
        ge=0, le=1, description="top-1 probability under which an answer is flagged uncertain"
    )


class ModelCard(_Strict):
    """`artifacts/models/<run_id>/card.json`: everything needed to serve and judge one ONNX."""

    schema_version: Literal[2] = SCHEMA_VERSION
    architecture: str
    framework: Framework
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    training_mode: TrainingMode
    classes: list[str]
    input: InputSpec
    output: OutputSpec = OutputSpec()
    resize_policy: ResizePolicy
    metrics: CardMetrics
    latency_ms: Latency
    parity: Parity
    parameters: int = Field(ge=0)
    test_time_augmentation: Literal["none", "flip"] = Field(
        "none", description="flip: the graph averages the logits of the image and its mirror"
    )
    weights_source: str
    onnx: OnnxFile
    created_at: datetime
    notes: str | None = None
    calibration: Calibration | None = None
    robustness: Robustness | None = None

    _classes = field_validator("classes")(_check_class_list)

    @model_validator(mode="after")
    def _consistent(self) -> ModelCard:
        self.metrics.test.check_classes(self.classes, "metrics.test")
        size = self.resize_policy.size
        if (self.input.height, self.input.width) != (size, size):
            raise ValueError(
                f"input is {self.input.height}x{self.input.width} but the resize policy "
                f"gives {size}x{size}"
            )
        return self


# ---------------------------------------------------------------- text models and listings

TEXT_RUN_ID_PATTERN = r"^\d{8}-\d{6}_text-[a-z0-9][a-z0-9_.\-]*$"
LISTING_ID_PATTERN = r"^\d{8}-\d{6}_listing(-[a-z0-9][a-z0-9_.\-]*)?$"
TextInputName = Literal["title", "description", "title+description"]


class TextFile(_Strict):
    file: str = "model.json"
    format: str = "flipkart-text-linear"
    format_version: int = 1
    sha256: str = Field(pattern=SHA256_PATTERN)
    bytes: int = Field(ge=1)
    num_features: int = Field(ge=1)


class TextParity(_Strict):
    reference: str = Field(description="what model.json was compared with, e.g. scikit-learn 1.x")
    max_abs_logit_diff: float = Field(ge=0)
    top1_agreement: float = Field(ge=0, le=1)
    num_texts: int = Field(ge=1)


class TextLatency(_Strict):
    ms_per_text: dict[str, float] = Field(
        description="median ms to featurise and score one listing, per text input"
    )
    threads: int = 1
    hardware: str


class TextSplitFigures(_Strict):
    """Figures of one split, per text input (the same products read through each input)."""

    val: dict[TextInputName, SplitMetrics]
    test: dict[TextInputName, SplitMetrics]


class TextRunMetrics(_Strict):
    """`runs/text/<run_id>/metrics.json` of a text model fitted by the PyTorch lab."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["text"] = "text"
    run_id: str = Field(pattern=TEXT_RUN_ID_PATTERN)
    framework: Literal["sklearn"] = "sklearn"
    architecture: str
    classes: list[str]
    config: dict[str, Any]
    budget: str
    hardware: Hardware
    weights_source: str = "none"
    data: DataSummary
    wall_time_s: float = Field(ge=0)
    final: TextSplitFigures
    created_at: datetime
    notes: str | None = None

    _classes = field_validator("classes")(_check_class_list)


class TextCard(_Strict):
    """`artifacts/text/<run_id>/card.json`, beside the model file it describes."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["text"] = "text"
    run_id: str = Field(pattern=TEXT_RUN_ID_PATTERN)
    architecture: str
    framework: Literal["sklearn"] = "sklearn"
    classes: list[str]
    max_chars: dict[Literal["title", "description"], int]
    metrics: TextSplitFigures
    fitted_on: Literal["train", "train+val"] = Field(
        "train",
        description="train+val: the file was refitted on both once its settings were chosen; "
        "its val figures are then out-of-fold (each product scored by a model of the "
        "cross-fitting that did not see it), and so are the val logits in `val_logits`",
    )
    val_logits: str | None = Field(
        None, description="file beside the card with the out-of-fold val logits (train+val)"
    )
    model: TextFile
    parity: TextParity
    latency_ms: TextLatency
    weights_source: str = "none"
    created_at: datetime
    notes: str | None = None

    _classes = field_validator("classes")(_check_class_list)


class FusionWeightsModel(_Strict):
    image: float = Field(ge=0)
    text: float = Field(ge=0)
    text_temperature: float = Field(gt=0)


class Fusion(_Strict):
    method: Literal["log-linear"] = "log-linear"
    fitted_on: str = "val"
    num_products: int = Field(ge=1)
    weights: dict[TextInputName, FusionWeightsModel] = Field(
        description="for each text input, the image and text exponents and the text-alone "
        "temperature; fitted by minimising the log loss on validation"
    )


class ListingPart(_Strict):
    run_id: str
    sha256: str = Field(pattern=SHA256_PATTERN, description="of the file the fusion was fitted on")


class ListingCard(_Strict):
    """`artifacts/listing/<listing_id>/card.json`: an image model and a text model fused.

    `metrics` are keyed `image`, `text:<input>` and `fused:<input>`, on the same products.
    """

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["listing"] = "listing"
    listing_id: str = Field(pattern=LISTING_ID_PATTERN)
    classes: list[str]
    image: ListingPart
    text: ListingPart
    fusion: Fusion
    metrics: dict[Literal["val", "test"], dict[str, SplitMetrics]]
    fusion_overhead_ms: float | None = Field(
        None, ge=0, description="median ms that fusing adds to an image prediction"
    )
    uncertain_below: dict[str, float] | None = Field(
        None,
        description="per answer (`text:<input>`, `fused:<input>`): the lowest top-1 confidence "
        "at which validation answers reach 95 % precision; below it an answer is `uncertain`",
    )
    created_at: datetime
    notes: str | None = None

    _classes = field_validator("classes")(_check_class_list)

    @model_validator(mode="after")
    def _image_id(self) -> ListingCard:
        import re

        if not re.match(RUN_ID_PATTERN, self.image.run_id):
            raise ValueError(f"image.run_id {self.image.run_id!r} is not an image run id")
        if not re.match(TEXT_RUN_ID_PATTERN, self.text.run_id):
            raise ValueError(f"text.run_id {self.text.run_id!r} is not a text run id")
        return self


# ---------------------------------------------------------------- artifacts/registry.json


class DecidedBy(_Open):
    metric: str
    value: float | None = None
    test_accuracy: float | None = None
    latency_ms_batch_1: float | None = None


class Promotion(_Strict):
    at: datetime
    run_id: str = Field(pattern=RUN_ID_PATTERN)
    previous: str | None = None
    by: str
    rule: str
    decided_by: DecidedBy
    reason: str = ""
    refused: dict[str, str] = Field(default_factory=dict)


class Registry(_Strict):
    """`artifacts/registry.json`: which model is in production, and every promotion."""

    schema_version: Literal[1] = 1
    production: str | None = Field(None, pattern=RUN_ID_PATTERN)
    models: list[str] = Field(default_factory=list)
    history: list[Promotion] = Field(default_factory=list)
    listing: str | None = Field(
        None,
        pattern=LISTING_ID_PATTERN,
        description="the listing (image + text fusion) served with text; its image part is "
        "the model the fused answers come from",
    )

    @field_validator("models")
    @classmethod
    def _run_ids(cls, models: list[str]) -> list[str]:
        import re

        bad = [m for m in models if not re.match(RUN_ID_PATTERN, m)]
        if bad:
            raise ValueError(f"not run ids: {bad}")
        if len(set(models)) != len(models):
            raise ValueError("models are listed twice")
        return models


# ---------------------------------------------------------------- artifacts/leaderboard.csv


class LeaderboardRow(_Strict):
    """One row of `artifacts/leaderboard.csv` (column order = field order)."""

    rank: int | None = Field(None, description="among exported models; empty otherwise")
    run_id: str
    architecture: str
    framework: Framework
    training_mode: TrainingMode
    weights_source: str
    val_macro_f1: float | None = Field(None, description="what the rows are ranked on")
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    latency_ms_batch_1: float | None = None
    latency_ms_batch_16_per_image: float | None = None
    latency_source: Literal["measured", "card", ""] = Field(
        "", description="measured now on this machine, or copied from the card (file absent)"
    )
    parameters: int | None = None
    onnx_bytes: int | None = None
    training_hardware: str = ""
    training_time_s: float | None = None
    input_size: int | None = None
    test_accuracy_ci95_low: float | None = Field(
        None, description="percentile bootstrap over the test images (from the confusion matrix)"
    )
    test_accuracy_ci95_high: float | None = None
    seeds: int | None = Field(
        None, description="runs of the same recipe (config but the seed) and architecture"
    )
    seeds_test_accuracy_mean: float | None = None
    seeds_test_accuracy_std: float | None = None
    seeds_test_macro_f1_mean: float | None = None
    seeds_test_macro_f1_std: float | None = None
    robustness_worst_drop: float | None = None
    robustness_worst_condition: str = ""
    robustness_split: str = ""
    status: str = Field(
        description="exported | onnx not present (card figures) | not exported | why unusable"
    )


VOLATILE_CONFIG_KEYS = frozenset(
    {
        "seed", "run_id", "budget", "progress", "num_threads", "splits_csv", "images_dir",
        "runs_dir", "checkpoints_dir", "cache_dir", "extra", "world_size", "threads",
    }
)  # fmt: skip


def recipe_key(metrics: RunMetrics) -> str:
    """What makes two runs the same recipe: framework, architecture, training mode and every
    setting of the config except the seed and where things were written."""
    config = {k: v for k, v in metrics.config.items() if k not in VOLATILE_CONFIG_KEYS}
    identity = [metrics.framework, metrics.architecture, metrics.training_mode, config]
    return json.dumps(identity, sort_keys=True, default=str)


# ---------------------------------------------------------------- readers (with migration)


def migrate_card(data: dict[str, Any]) -> dict[str, Any]:
    """A card dict of any known version as version 2 (the input is not modified)."""
    version = data.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        return data
    if version != 1:
        raise ValueError(f"unknown card schema_version {version!r}")
    new = {k: v for k, v in data.items() if k not in ("name", "mode", "preprocessing")}
    new["schema_version"] = SCHEMA_VERSION
    new["architecture"] = data.get("name")
    new["training_mode"] = data.get("mode")
    if "preprocessing" in data:
        new["resize_policy"] = ResizePolicy.model_validate(data["preprocessing"]).model_dump()
    return new


def migrate_metrics(data: dict[str, Any]) -> dict[str, Any]:
    """A metrics.json dict of any known version as version 2 (the input is not modified)."""
    version = data.get("schema_version", 1)
    if version == SCHEMA_VERSION:
        return data
    if version != 1:
        raise ValueError(f"unknown metrics schema_version {version!r}")
    new = {k: v for k, v in data.items() if k not in ("model", "mode")}
    new["schema_version"] = SCHEMA_VERSION
    new["architecture"] = data.get("model")
    new["training_mode"] = data.get("mode")
    return new


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """Read and validate a card (version 1 migrated). FileNotFoundError or ValueError."""
    return ModelCard.model_validate(migrate_card(read_json_object(path)))


def load_metrics(path: str | os.PathLike[str]) -> RunMetrics:
    return RunMetrics.model_validate(migrate_metrics(read_json_object(path)))


def load_registry(path: str | os.PathLike[str]) -> Registry:
    return Registry.model_validate(read_json_object(path))


def load_text_card(path: str | os.PathLike[str]) -> TextCard:
    return TextCard.model_validate(read_json_object(path))


def load_listing_card(path: str | os.PathLike[str]) -> ListingCard:
    return ListingCard.model_validate(read_json_object(path))


def load_text_metrics(path: str | os.PathLike[str]) -> TextRunMetrics:
    return TextRunMetrics.model_validate(read_json_object(path))


def describe_error(exc: Exception) -> str:
    """One short line for a refused file: pydantic's errors as `field: message; ...`.

    `str()` of a ValidationError spans lines and repeats the whole input; a service's
    readiness reason or a tool's table needs this instead.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors) or not hasattr(exc, "error_count"):
        return str(exc)
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or 'file'}: {error['msg']}"
        for error in errors()[:3]
    ]
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


SCHEMAS: dict[str, type[BaseModel]] = {
    "card.schema.json": ModelCard,
    "metrics.schema.json": RunMetrics,
    "registry.schema.json": Registry,
    "leaderboard-row.schema.json": LeaderboardRow,
    "text-card.schema.json": TextCard,
    "text-metrics.schema.json": TextRunMetrics,
    "listing-card.schema.json": ListingCard,
}
