"""Pretrained weights for our MambaVision: NVIDIA's released checkpoints, from a file or the hub.

`load_pretrained(model, source)` accepts
- a local file: `.pth.tar` / `.pth` / `.pt` (a bare state dict, or one under `state_dict` or
  `model`, keys optionally prefixed `module.`), or `.safetensors` (also the Hugging Face
  transformers layout, keys prefixed `model.`);
- `hf:<repo>` or a bare `<org>/<repo>` id: the file named in the model's pretrained cfg is
  downloaded from the Hugging Face hub (when reachable).
A head trained for another number of classes (1000 -> 7) is left freshly initialised; any other
difference is an error naming the keys. The result (`hf:<repo>` or `file:<name>`) is returned
and stored as `model.weights_source`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

_WRAPPERS = ("state_dict", "model", "state_dict_ema")
_PREFIXES = ("module.", "model.")


class WeightsMismatchError(ValueError):
    """The checkpoint is for another architecture."""


class WeightsUnavailableError(RuntimeError):
    """The hub could not be reached (or has no such file)."""


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    # Only plain data is unpickled; training scripts also store their argparse namespace.
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"could not read {path.name} as a PyTorch checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}). Save its state dict alone "
            "(torch.save(model.state_dict(), ...)) or as .safetensors and pass that."
        ) from error
    for key in _WRAPPERS:
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
            break
    if not isinstance(blob, dict) or not blob:
        raise ValueError(f"{path.name} holds no state dict")
    return {k: v for k, v in blob.items() if isinstance(v, torch.Tensor)}


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in _PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, unwrapped and with `module.`/`model.` prefixes removed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    return _strip_prefixes(_read_file(path))


def _download_file(repo_id: str, filename: str) -> Path:
    """The file from the hub (`HF_ENDPOINT`), or from the local hub cache if the hub does not
    answer. One HEAD request without retries comes first: `hf_hub_download` alone retries a
    failed connection five times with back-off (~25 s when refused, minutes when dropped)."""
    from huggingface_hub import (
        get_hf_file_metadata,
        hf_hub_download,
        hf_hub_url,
        try_to_load_from_cache,
    )

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, filename))
    except Exception:
        cached = try_to_load_from_cache(repo_id, filename)
        if isinstance(cached, str):
            log.warning("hub unreachable: %s from the local hub cache", filename)
            return Path(cached)
        raise
    return Path(hf_hub_download(repo_id=repo_id, filename=filename))


def _download(repo_id: str, filename: str) -> Path:
    try:
        return _download_file(repo_id, filename)
    except Exception as error:
        from huggingface_hub import constants

        # The hub huggingface_hub was pointed at (HF_ENDPOINT, a mirror, when set).
        where = constants.ENDPOINT + (", HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "")
        raise WeightsUnavailableError(
            f"could not fetch {filename} from the Hugging Face hub repo {repo_id} ({where}; "
            f"{type(error).__name__}). Without hub access, download it elsewhere "
            f"(https://huggingface.co/{repo_id}/blob/main/{filename}) and pass the file with "
            "--weights PATH."
        ) from error


def _listing(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")


def classifier_prefix(model: nn.Module) -> str:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get("classifier") or "head"


def load_state(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> list[str]:
    """Load `state` into `model`; returns the head keys left freshly initialised.

    Raises WeightsMismatchError listing missing / unexpected / other-shape keys otherwise.
    """
    target = model.state_dict()
    head = classifier_prefix(model) + "."
    missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in target]
    other_shape = [k for k in state if k in target and state[k].shape != target[k].shape]
    head_missing = [k for k in missing if k.startswith(head)]
    head_other = [k for k in other_shape if k.startswith(head)]
    problems = (
        [k for k in missing if k not in head_missing],
        unexpected,
        [k for k in other_shape if k not in head_other],
    )
    if any(problems):
        details = []
        if problems[0]:
            details.append(f"{len(problems[0])} missing: {_listing(problems[0])}")
        if problems[1]:
            details.append(f"{len(problems[1])} unexpected: {_listing(problems[1])}")
        if problems[2]:
            shapes = [
                f"{k} {tuple(state[k].shape)} vs model {tuple(target[k].shape)}"
                for k in problems[2]
            ]
            details.append(f"{len(shapes)} of another shape: {_listing(shapes)}")
        arch = getattr(model, "pretrained_cfg", {}).get("architecture", type(model).__name__)
        raise WeightsMismatchError(
            f"{name} does not fit {arch} (another architecture?): " + "; ".join(details)
        )
    kept = {k: v for k, v in state.items() if k not in head_other}
    reinitialised = head_missing + head_other
    model.load_state_dict(kept, strict=not reinitialised)
    if reinitialised:
        had = state.get(f"{head}weight")
        log.warning(
            "%s: head re-initialised for %s classes (checkpoint head: %s)",
            name,
            getattr(model, "num_classes", "?"),
            "none" if had is None else f"{had.shape[0]} classes",
        )
    return reinitialised


def load_pretrained(model: nn.Module, source: str | Path) -> str:
    """Load NVIDIA MambaVision weights from a file or the hub; returns the weights source."""
    text = str(source)
    path = Path(text)
    if path.is_file():
        state, weights_source = read_checkpoint(path), f"file:{path.name}"
    elif text.startswith("hf:") or (text.count("/") == 1 and not path.suffix):
        repo_id = text.removeprefix("hf:")
        cfg = getattr(model, "pretrained_cfg", None) or {}
        filename = cfg.get("hf_hub_filename")
        if not filename:
            raise ValueError(f"no hub file name in the model's pretrained cfg for {repo_id}")
        state, weights_source = read_checkpoint(_download(repo_id, filename)), f"hf:{repo_id}"
    else:
        raise FileNotFoundError(
            f"weights file not found: {text} (give a local .pth.tar/.pth/.safetensors "
            "file, or hf:<org>/<repo>)"
        )
    load_state(model, state, weights_source)
    model.weights_source = weights_source
    return weights_source
