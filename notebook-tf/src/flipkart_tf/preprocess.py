"""One image file → what the model sees, through the contract (the same decoding and resize as
the PyTorch lab and the server: `flipkart_contract.model_view`)."""

from __future__ import annotations

import os

import numpy as np
from flipkart_contract import ResizePolicy, model_view


def load_image(path: str | os.PathLike[str], policy: ResizePolicy) -> np.ndarray:
    """Decode one file and apply the card's resize policy: uint8 `[size, size, 3]` RGB.

    A missing file raises FileNotFoundError; an unreadable one `flipkart_contract.ImageDecodeError`
    (a ValueError).
    """
    return model_view(os.fspath(path), policy)
