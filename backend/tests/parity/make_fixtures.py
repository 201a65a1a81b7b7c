"""Export what the two labs' own eval transforms make of a few images (the parity fixtures).

Runs in the PyTorch lab's environment (its transforms import torch); the TensorFlow lab's
`preprocess.py` needs only Pillow and NumPy and is loaded from its file:
  uv run --project notebook-pytorch python backend/tests/parity/make_fixtures.py
Writes backend/tests/parity/lab_views.npz, read by backend/tests/test_parity.py.
"""

import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
from flipkart_torch import transforms as torch_transforms
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
POLICIES = [
    {
        "mode": "crop",
        "size": 64,
        "interpolation": "bicubic",
        "crop_pct": 0.875,
        "pad_color": [255, 255, 255],
    },
    {
        "mode": "pad",
        "size": 96,
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "pad_color": [255, 255, 255],
    },
]


def tf_preprocess():
    path = REPO / "notebook-tf" / "src" / "flipkart_tf" / "preprocess.py"
    spec = importlib.util.spec_from_file_location("tf_lab_preprocess", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def noise_image(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    x = np.linspace(0, 255, w)[None, :]
    y = np.linspace(0, 255, h)[:, None]
    base = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=2)
    array = np.clip(base + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(array, "RGB")


def encode(image: Image.Image, fmt: str, **args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **args)
    return buffer.getvalue()


def cases() -> dict[str, bytes]:
    rgba = noise_image((120, 260), 2).convert("RGBA")
    alpha = np.zeros((260, 120), np.uint8)
    alpha[40:220, 20:100] = 255
    rgba.putalpha(Image.fromarray(alpha, "L"))
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "jpeg_landscape": encode(noise_image((300, 200), 1), "JPEG", quality=90),
        "png_rgba_portrait": encode(rgba, "PNG"),
        "jpeg_exif_rotated": encode(noise_image((200, 120), 3), "JPEG", exif=exif.tobytes()),
        "gif_palette": encode(noise_image((150, 150), 4).convert("P"), "GIF"),
        "png_grey_odd_size": encode(noise_image((97, 61), 5).convert("L"), "PNG"),
        "jpeg_small_upscaled": encode(noise_image((40, 30), 6), "JPEG", quality=95),
    }


def main() -> None:
    tf_lab = tf_preprocess()
    arrays: dict[str, np.ndarray] = {}
    index = []
    for name, data in cases().items():
        arrays[f"{name}/bytes"] = np.frombuffer(data, np.uint8)
        for i, policy in enumerate(POLICIES):
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                torch_view = torch_transforms.eval_transform(policy)(image)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                tf_view = tf_lab.apply_policy(image, tf_lab.ResizePolicy(**policy))
            arrays[f"{name}/{i}/pytorch"] = torch_view
            arrays[f"{name}/{i}/tensorflow"] = tf_view
            index.append({"image": name, "policy": i})
    arrays["index"] = np.frombuffer(
        json.dumps({"policies": POLICIES, "cases": index}).encode(), np.uint8
    )
    np.savez_compressed(HERE / "lab_views.npz", **arrays)
    print(f"wrote {HERE / 'lab_views.npz'} ({len(index)} views per lab)")


if __name__ == "__main__":
    main()
