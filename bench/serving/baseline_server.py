"""The baseline, built the way the original app was: FastAPI + PyTorch eager, one image per call,
the image as base64 JSON (`POST /predict {"image": "..."}`), PIL + torch preprocessing (the
white padding is the contract's `pad` resize policy, the same Pillow work as the service's).

Run from the repository root (torch stays out of the backend's environment):
  uv run --project notebook-pytorch --with fastapi --with uvicorn \
      python bench/serving/baseline_server.py bench/tmp/serving/model.pt PORT
"""

import base64
import io
import sys

import timm
import torch
import uvicorn
from fastapi import FastAPI
from flipkart_contract import ResizePolicy, resize
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

SIZE = 224
PAD = ResizePolicy(method="pad", size=SIZE, interpolation="bicubic")
MEAN = torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1)
CLASSES = 7


def create_app(weights: str) -> FastAPI:
    net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=CLASSES)
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()
    app = FastAPI()

    @app.post("/predict")
    def predict(payload: dict) -> dict:
        image = Image.open(io.BytesIO(base64.b64decode(payload["image"]))).convert("RGB")
        pixels = torch.frombuffer(bytearray(resize(image, PAD).tobytes()), dtype=torch.uint8)
        x = pixels.view(SIZE, SIZE, 3).permute(2, 0, 1).float().div(255)
        x = ((x - MEAN) / STD).unsqueeze(0)
        with torch.no_grad():
            probabilities = torch.softmax(net(x), dim=1)[0]
        best = int(probabilities.argmax())
        return {"label": best, "confidence": float(probabilities[best])}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    app = create_app(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
