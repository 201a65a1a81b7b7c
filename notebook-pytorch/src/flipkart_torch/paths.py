"""The lab's own locations; everything shared (data, runs, models, checkpoints, bench results)
is in `flipkart_contract.layout` (override the repository root with FLIPKART_ROOT)."""

from __future__ import annotations

from pathlib import Path

from flipkart_contract import layout

FRAMEWORK = "pytorch"


def cache_dir() -> Path:
    """Decoded, resized images of the split, one `.npy` per policy (git-ignored)."""
    return layout.artifacts_dir() / "tmp" / "image_cache"
