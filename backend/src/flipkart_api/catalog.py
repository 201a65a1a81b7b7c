"""The model catalog: `registry.json` + `models/<run_id>/{model.onnx,card.json}`, loaded to serve.

Cards and the registry are read by `flipkart_contract` (version-1 cards are migrated on the
fly); a card that fails validation means that model is not loaded, with the reason. A
`ModelSet` is immutable; `ModelCatalog.reload()` builds a new one completely and then swaps the
reference in one assignment, so a request sees either the old set or the new one, never a mix.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from flipkart_contract import ModelCard, ResizePolicy, load_card, load_registry, sha256_file
from flipkart_contract.schema import describe_error

from flipkart_api.batcher import MicroBatcher
from flipkart_api.errors import ApiError
from flipkart_api.listing import ListingLoadError, LoadedListing, load_listing
from flipkart_api.settings import Settings

log = logging.getLogger(__name__)

OnBatch = Callable[[str, int, float], None]


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    card: ModelCard
    session: ort.InferenceSession
    batcher: MicroBatcher
    card_json: dict[str, Any]  # the card as the API shows it (version 2, nulls left out)

    @property
    def run_id(self) -> str:
        return self.card.run_id

    @property
    def architecture(self) -> str:
        return self.card.architecture

    @property
    def classes(self) -> list[str]:
        return self.card.classes

    @property
    def policy(self) -> ResizePolicy:
        return self.card.resize_policy

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Logits of a batch `[N, H, W, 3]`, straight through ONNX Runtime (no micro-batching:
        for work that comes in batches already, such as an explanation)."""
        return self.session.run([self.card.output.name], {self.card.input.name: batch})[0]

    def ref(self) -> dict[str, str]:
        """`ModelRef` of the HTTP answers."""
        return {"run_id": self.run_id, "architecture": self.architecture}

    def describe(self, production: str | None) -> dict[str, Any]:
        """An item of `GET /v1/models`."""
        return {
            "run_id": self.run_id,
            "architecture": self.architecture,
            "framework": self.card.framework,
            "training_mode": self.card.training_mode,
            "precision": self.card.precision,
            "is_production": self.run_id == production,
            "card": self.card_json,
        }


@dataclass
class ModelSet:
    production: str | None = None
    models: dict[str, LoadedModel] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # why the production model is not servable
    listing_id: str | None = None  # the listing registry.json names (None: text is not served)
    listing: LoadedListing | None = None  # loaded: text features available
    listing_problem: str | None = None  # why the named listing is not loaded

    @property
    def ready(self) -> bool:
        return self.production is not None and self.production in self.models

    def describe_listing(self) -> dict[str, Any] | None:
        """`listing` of `GET /v1/models`: None when registry.json names no listing."""
        if self.listing is not None:
            return self.listing.describe()
        if self.listing_id is None:
            return None
        return {
            "listing_id": self.listing_id,
            "loaded": False,
            "reason": self.listing_problem,
            "image_run_id": None,
            "text_run_id": None,
            "card": None,
            "text_card": None,
        }

    def valid_names(self) -> list[str]:
        names = set(self.models)
        names.update(m.architecture for m in self.models.values())
        return sorted(names)

    def resolve(self, name: str | None) -> LoadedModel:
        """The production model (name None), or a model by run_id or unique architecture."""
        if name is None or name == "":
            if not self.ready:
                raise ApiError(503, "model_not_ready", f"No model is ready: {self.reason}")
            return self.models[self.production]
        if name in self.models:
            return self.models[name]
        matches = [m for m in self.models.values() if m.architecture == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            run_ids = ", ".join(sorted(m.run_id for m in matches))
            raise ApiError(
                422,
                "ambiguous_model",
                f"Several models have the architecture {name!r}; pick a run_id: {run_ids}.",
            )
        valid = ", ".join(self.valid_names()) or "none"
        raise ApiError(404, "unknown_model", f"Unknown model {name!r}. Valid models: {valid}.")


def read_card(folder: Path) -> ModelCard:
    path = folder / "card.json"
    try:
        card = load_card(path)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model card not found: {path}") from exc
    except ValueError as exc:  # bad JSON, or a card that fails the contract's validation
        raise ModelLoadError(f"model card {path} is invalid: {describe_error(exc)}") from exc
    if card.run_id != folder.name:
        raise ModelLoadError(f"model card {path} is for run {card.run_id}, not {folder.name}")
    return card


def open_session(model_path: Path, settings: Settings) -> ort.InferenceSession:
    options = ort.SessionOptions()
    threads = settings.intra_op_threads()
    if threads > 0:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not settings.inference_spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ModelLoadError(f"ONNX Runtime cannot load {model_path}: {exc}") from exc


def load_model(folder: Path, settings: Settings, on_batch: OnBatch | None = None) -> LoadedModel:
    card = read_card(folder)
    run_id = card.run_id
    model_path = folder / card.onnx.file
    if not model_path.is_file():
        raise ModelLoadError(f"model file missing: {model_path}")
    actual = sha256_file(model_path)
    if actual != card.onnx.sha256:
        raise ModelLoadError(
            f"sha256 mismatch for {model_path}: card says {card.onnx.sha256[:12]}…, "
            f"file is {actual[:12]}…"
        )
    session = open_session(model_path, settings)
    input_name, output_name = card.input.name, card.output.name
    _check_signature(session, input_name, output_name, run_id)

    def run_batch(batch: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: batch})[0]

    # Smoke run: a model that cannot classify one blank image is not servable.
    size = card.resize_policy.size
    probe = run_batch(np.full((1, size, size, 3), 255, np.float32))
    if probe.shape != (1, len(card.classes)):
        raise ModelLoadError(
            f"{run_id}: logits shape {probe.shape} does not match {len(card.classes)} classes"
        )

    def record(batch_size: int, seconds: float) -> None:
        if on_batch is not None:
            on_batch(run_id, batch_size, seconds)

    batcher = MicroBatcher(run_batch, settings.batch_max_size, settings.batch_max_wait_ms, record)
    card_json = card.model_dump(mode="json", exclude_none=True)
    return LoadedModel(card=card, session=session, batcher=batcher, card_json=card_json)


def _check_signature(session: ort.InferenceSession, input_name: str, output_name: str, run_id: str):
    inputs = {i.name for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    if input_name not in inputs or output_name not in outputs:
        raise ModelLoadError(
            f"{run_id}: graph has inputs {sorted(inputs)} and outputs {sorted(outputs)}, "
            f"expected {input_name!r} → {output_name!r}"
        )


def load_model_set(settings: Settings, on_batch: OnBatch | None = None) -> ModelSet:
    root = Path(settings.artifacts_root)
    registry_path = root / "registry.json"
    if not registry_path.is_file():
        return ModelSet(reason=f"no registry at {registry_path}: no model has been promoted yet")
    try:
        registry = load_registry(registry_path)
    except (OSError, ValueError) as exc:
        return ModelSet(reason=f"registry {registry_path} is unusable: {describe_error(exc)}")
    production = registry.production
    run_ids = list(registry.models)
    if production and production not in run_ids:
        run_ids.append(production)
    model_set = ModelSet(production=production)
    for run_id in run_ids:
        try:
            model_set.models[run_id] = load_model(root / "models" / run_id, settings, on_batch)
        except ModelLoadError as exc:
            model_set.problems[run_id] = str(exc)
            log.error("model not loaded", extra={"run_id": run_id, "reason": str(exc)})
    if registry.listing:
        model_set.listing_id = registry.listing
        try:
            model_set.listing = load_listing(root, registry.listing, model_set.models)
        except ListingLoadError as exc:
            model_set.listing_problem = str(exc)
            model_set.problems[registry.listing] = str(exc)
            log.error("listing not loaded", extra={"listing": registry.listing, "reason": str(exc)})
    if not production:
        model_set.reason = f"registry {registry_path} names no production model"
    elif production in model_set.problems:
        model_set.reason = (
            f"production model {production} cannot be served: {model_set.problems[production]}"
        )
    return model_set


class ModelCatalog:
    """Holds the current `ModelSet`; `reload()` swaps it atomically."""

    def __init__(self, settings: Settings, on_batch: OnBatch | None = None) -> None:
        self._settings = settings
        self._on_batch = on_batch
        self._lock = asyncio.Lock()
        self.current = ModelSet(reason="models not loaded yet")

    def load(self) -> ModelSet:
        self.current = load_model_set(self._settings, self._on_batch)
        return self.current

    async def reload(self) -> ModelSet:
        async with self._lock:
            fresh = await asyncio.to_thread(load_model_set, self._settings, self._on_batch)
            previous, self.current = self.current, fresh
            for model in previous.models.values():
                await model.batcher.drain()
            return fresh

    async def close(self) -> None:
        for model in self.current.models.values():
            await model.batcher.drain()
