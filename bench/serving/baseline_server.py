"""The baseline, built the way the original app was: FastAPI + PyTorch eager, one image per call,
the image as base64 JSON (`POST /predict {"image": "..."}`), PIL + torch preprocessing.

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
from PIL import Image

SIZE = 224
MEAN = torch.tensor((0.485, 0.456, 0.406)).view(3, 1, 1)
STD = torch.tensor((0.229, 0.224, 0.225)).view(3, 1, 1)
CLASSES = 7


def pad_to_square(image: Image.Image) -> Image.Image:
    width, height = image.size
    scale = SIZE / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = image.resize(new, Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    canvas.paste(image, ((SIZE - new[0]) // 2, (SIZE - new[1]) // 2))
    return canvas


def create_app(weights: str) -> FastAPI:
    net = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=CLASSES)
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()
    app = FastAPI()

    @app.post("/predict")
    def predict(payload: dict) -> dict:
        image = Image.open(io.BytesIO(base64.b64decode(payload["image"]))).convert("RGB")
        pixels = torch.frombuffer(bytearray(pad_to_square(image).tobytes()), dtype=torch.uint8)
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
