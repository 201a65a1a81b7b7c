"""The registered models: `registry.json` + `models/<run_id>/{model.onnx,card.json}`.

A `ModelSet` is immutable; `ModelStore.reload()` builds a new one completely and then swaps the
reference in one assignment, so a request sees either the old set or the new one, never a mix.
"""

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from flipkart_api.batcher import MicroBatcher
from flipkart_api.errors import ApiError
from flipkart_api.preprocess import ResizePolicy
from flipkart_api.settings import Settings

log = logging.getLogger(__name__)

OnBatch = Callable[[str, int, float], None]


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    run_id: str
    card: dict
    policy: ResizePolicy
    session: ort.InferenceSession
    batcher: MicroBatcher

    @property
    def name(self) -> str:
        return self.card["name"]

    @property
    def classes(self) -> list[str]:
        return self.card["classes"]

    def describe(self, production: str | None) -> dict:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "framework": self.card.get("framework"),
            "mode": self.card.get("mode"),
            "is_production": self.run_id == production,
            "card": self.card,
        }


@dataclass
class ModelSet:
    production: str | None = None
    models: dict[str, LoadedModel] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # why the production model is not servable

    @property
    def ready(self) -> bool:
        return self.production is not None and self.production in self.models

    def valid_names(self) -> list[str]:
        names = set(self.models)
        names.update(m.name for m in self.models.values())
        return sorted(names)

    def resolve(self, name: str | None) -> LoadedModel:
        """The production model (name None), or a model by run_id or unique card name."""
        if name is None or name == "":
            if not self.ready:
                raise ApiError(503, "model_not_ready", f"No model is ready: {self.reason}")
            return self.models[self.production]
        if name in self.models:
            return self.models[name]
        matches = [m for m in self.models.values() if m.name == name]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            run_ids = ", ".join(sorted(m.run_id for m in matches))
            raise ApiError(
                422,
                "ambiguous_model",
                f"Several models are named {name!r}; pick a run_id: {run_ids}.",
            )
        valid = ", ".join(self.valid_names()) or "none"
        raise ApiError(404, "unknown_model", f"Unknown model {name!r}. Valid models: {valid}.")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{what} not found: {path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{what} is not valid JSON: {path} ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{what} is not a JSON object: {path}")
    return data


def load_model(folder: Path, settings: Settings, on_batch: OnBatch | None = None) -> LoadedModel:
    run_id = folder.name
    card = read_json(folder / "card.json", "model card")
    onnx_info = card.get("onnx") or {}
    model_path = folder / onnx_info.get("file", "model.onnx")
    if not model_path.is_file():
        raise ModelLoadError(f"model file missing: {model_path}")
    expected = onnx_info.get("sha256")
    if not expected:
        raise ModelLoadError(f"card of {run_id} has no onnx.sha256")
    actual = sha256_of(model_path)
    if actual != expected:
        raise ModelLoadError(
            f"sha256 mismatch for {model_path}: card says {expected[:12]}…, file is {actual[:12]}…"
        )
    try:
        classes = card["classes"]
        card["name"]
        policy = ResizePolicy.from_card(card["preprocessing"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"card of {run_id} is incomplete or invalid: {exc!r}") from exc
    options = ort.SessionOptions()
    if settings.inference_threads > 0:
        options.intra_op_num_threads = settings.inference_threads
    options.inter_op_num_threads = 1
    if not settings.inference_spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own exception types
        raise ModelLoadError(f"ONNX Runtime cannot load {model_path}: {exc}") from exc
    input_name = card.get("input", {}).get("name", "pixels")
    output_name = card.get("output", {}).get("name", "logits")
    _check_signature(session, input_name, output_name, run_id)

    def run_batch(batch: np.ndarray) -> np.ndarray:
        return session.run([output_name], {input_name: batch})[0]

    # Smoke run: a model that cannot classify one blank image is not servable.
    probe = run_batch(np.full((1, policy.size, policy.size, 3), 255, np.float32))
    if probe.shape != (1, len(classes)):
        raise ModelLoadError(
            f"{run_id}: logits shape {probe.shape} does not match {len(classes)} classes"
        )

    def record(size: int, seconds: float) -> None:
        if on_batch is not None:
            on_batch(run_id, size, seconds)

    batcher = MicroBatcher(run_batch, settings.batch_max_size, settings.batch_max_wait_ms, record)
    return LoadedModel(run_id=run_id, card=card, policy=policy, session=session, batcher=batcher)


def _check_signature(session: ort.InferenceSession, input_name: str, output_name: str, run_id: str):
    inputs = {i.name: i for i in session.get_inputs()}
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
        registry = read_json(registry_path, "registry")
    except ModelLoadError as exc:
        return ModelSet(reason=str(exc))
    production = registry.get("production")
    run_ids = list(registry.get("models") or [])
    if production and production not in run_ids:
        run_ids.append(production)
    model_set = ModelSet(production=production)
    for run_id in run_ids:
        folder = root / "models" / str(run_id)
        try:
            model_set.models[run_id] = load_model(folder, settings, on_batch)
        except ModelLoadError as exc:
            model_set.problems[run_id] = str(exc)
            log.error("model not loaded", extra={"run_id": run_id, "reason": str(exc)})
    if not production:
        model_set.reason = f"registry {registry_path} names no production model"
    elif production in model_set.problems:
        model_set.reason = (
            f"production model {production} cannot be served: " + (model_set.problems[production])
        )
    return model_set


class ModelStore:
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
