"""Build the benchmark's model in the PyTorch lab's environment (torch never enters the backend's).

timm `efficientnet_lite0` with 7 classes, white-padded 224 px input. Weights are random: every
service is timed on the same architecture, and speed does not depend on the weight values.
Writes, under OUT (default bench/tmp/serving):
  model.pt                         the eager model (state dict) for the baseline service
  artifacts/models/<run_id>/{model.onnx, card.json} + artifacts/registry.json for this service

Run: uv run --project notebook-pytorch python bench/serving/make_model.py
"""

import hashlib
import json
import sys
from pathlib import Path

import timm
import torch

CLASSES = [
    "Baby Care",
    "Beauty and Personal Care",
    "Computers",
    "Home Decor & Festive Needs",
    "Home Furnishing",
    "Kitchen & Dining",
    "Watches",
]
RUN_ID = "bench_efficientnet_lite0_random"
SIZE = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class WithPreprocessing(torch.nn.Module):
    """NHWC 0-255 → ImageNet-normalised NCHW → the network (the exported-model contract)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.permute(0, 3, 1, 2)
        return self.net((x - self.mean) / self.std)


def build_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return timm.create_model("efficientnet_lite0", pretrained=False, num_classes=len(CLASSES))


def main(out: Path) -> None:
    net = build_net().eval()
    out.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), out / "model.pt")
    folder = out / "artifacts" / "models" / RUN_ID
    folder.mkdir(parents=True, exist_ok=True)
    model = WithPreprocessing(net).eval()
    example = torch.rand(1, SIZE, SIZE, 3) * 255
    torch.onnx.export(
        model,
        (example,),
        str(folder / "model.onnx"),
        input_names=["pixels"],
        output_names=["logits"],
        dynamic_axes={"pixels": {0: "N"}, "logits": {0: "N"}},
        opset_version=17,
        dynamo=False,
    )
    data = (folder / "model.onnx").read_bytes()
    card = {
        "schema_version": 1,
        "name": "efficientnet_lite0",
        "framework": "pytorch",
        "run_id": RUN_ID,
        "mode": "benchmark",
        "classes": CLASSES,
        "input": {
            "name": "pixels",
            "layout": "NHWC",
            "dtype": "float32",
            "value_range": [0, 255],
            "height": SIZE,
            "width": SIZE,
        },
        "output": {"name": "logits"},
        "preprocessing": {
            "mode": "pad",
            "size": SIZE,
            "interpolation": "bicubic",
            "crop_pct": 1.0,
            "pad_color": [255, 255, 255],
        },
        "metrics": {},
        "weights_source": "none (random init: benchmark of speed only)",
        "onnx": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "opset": 17,
        },
    }
    (folder / "card.json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    registry = {"schema_version": 1, "production": RUN_ID, "models": [RUN_ID], "history": []}
    (out / "artifacts" / "registry.json").write_text(json.dumps(registry), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/tmp/serving"))
