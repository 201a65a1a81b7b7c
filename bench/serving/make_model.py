"""Build the benchmark's model in the PyTorch lab's environment (torch never enters the backend's).

timm `efficientnet_lite0` with 7 classes, white-padded 224 px input, wrapped and exported by the
lab's own export code (`flipkart_torch.export`), so the service is timed on the graph a real
export gives. Weights are random: every service is timed on the same architecture, and speed
does not depend on the weight values.
Writes, under OUT (default bench/tmp/serving):
  model.pt                         the eager model (state dict) for the baseline service
  artifacts/models/<run_id>/{model.onnx, card.json} + artifacts/registry.json for this service

Run: uv run --project notebook-pytorch python bench/serving/make_model.py
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import timm
import torch
from flipkart_contract import ModelCard, Registry, ResizePolicy, make_run_id, write_json_atomic
from flipkart_contract.latency import measure_latency, ort_session
from flipkart_contract.testing import FLIPKART_CLASSES, card_dict
from flipkart_torch.export import PixelsModel, check_parity, export_onnx
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

ARCHITECTURE = "efficientnet_lite0"
# A fixed run id: the benchmark model is rebuilt identically (seeded weights) on every run.
RUN_ID = make_run_id(ARCHITECTURE, "finetune", datetime(2026, 1, 1, tzinfo=UTC))
POLICY = ResizePolicy(method="pad", size=224, interpolation="bicubic")
LATENCY_THREADS = 1


def build_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model(ARCHITECTURE, pretrained=False, num_classes=len(FLIPKART_CLASSES))


def bench_card(onnx_path: Path, wrapper: torch.nn.Module, parameters: int) -> ModelCard:
    """A valid card: latency and ONNX parity measured here; the accuracy figures are the
    contract's placeholders (random weights have none worth measuring), as the notes say."""
    session = ort_session(onnx_path, LATENCY_THREADS)
    pixels = np.random.default_rng(0).uniform(0, 255, (4, POLICY.size, POLICY.size, 3))
    card = card_dict(
        onnx_path.read_bytes(),
        RUN_ID,
        architecture=ARCHITECTURE,
        classes=FLIPKART_CLASSES,
        policy=POLICY,
        latency_ms=measure_latency(session, pixels, threads=LATENCY_THREADS),
        parity=check_parity(wrapper, session, pixels.astype(np.uint8)),
        parameters=parameters,
        weights_source="none",
        notes="serving benchmark: random weights (speed only); metrics are placeholders",
    )
    return ModelCard.model_validate(card)


def main(out: Path) -> None:
    net = build_net().eval()
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "model.pt")
    folder = out / "artifacts" / "models" / RUN_ID
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = PixelsModel(net, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD).eval()
    export_onnx(wrapper, POLICY.size, folder / "model.onnx")
    parameters = sum(p.numel() for p in net.parameters())
    card = bench_card(folder / "model.onnx", wrapper, parameters)
    write_json_atomic(folder / "card.json", card.model_dump(mode="json", exclude_none=True))
    registry = Registry(production=RUN_ID, models=[RUN_ID])
    write_json_atomic(out / "artifacts" / "registry.json", registry.model_dump(mode="json"))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/tmp/serving"))
