"""The contracts between the parts of the monorepo, written once.

Every project (both labs, the backend, the frontend, `data/prepare.py`, the benchmarks)
depends on this package through a uv path source; nothing here imports a training or
serving framework.
"""

from flipkart_contract.classes import class_names, read_splits
from flipkart_contract.files import read_json_object, sha256_bytes, sha256_file, write_json_atomic
from flipkart_contract.images import (
    DEFAULT_MAX_PIXELS,
    ImageDecodeError,
    decode_image,
    model_view,
    open_image_file,
    to_rgb,
)
from flipkart_contract.resize import ResizePolicy, resize, to_pixels
from flipkart_contract.run_id import make_run_id, parse_run_id
from flipkart_contract.schema import (
    SCHEMA_VERSION,
    LeaderboardRow,
    ModelCard,
    Registry,
    RunMetrics,
    load_card,
    load_metrics,
    load_registry,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SCHEMA_VERSION",
    "ImageDecodeError",
    "LeaderboardRow",
    "ModelCard",
    "Registry",
    "ResizePolicy",
    "RunMetrics",
    "class_names",
    "decode_image",
    "load_card",
    "load_metrics",
    "load_registry",
    "make_run_id",
    "model_view",
    "open_image_file",
    "parse_run_id",
    "read_json_object",
    "read_splits",
    "resize",
    "sha256_bytes",
    "sha256_file",
    "to_pixels",
    "to_rgb",
    "write_json_atomic",
]
