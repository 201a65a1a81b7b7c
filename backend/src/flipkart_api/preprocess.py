"""A request's image → what the model sees, through `flipkart_contract` (the labs' code path).

Decoding (limits before pixels, EXIF orientation, first frame, every mode to RGB, the JPEG draft
decision) and the card's resize policy live in the contract; this module only turns a decode
failure into the service's `ApiError` (same status and code) and times the two steps.
"""

import time

import numpy as np
from flipkart_contract import ImageDecodeError, ResizePolicy, decode_image, resize, to_pixels
from PIL import Image

from flipkart_api.errors import ApiError


def decode(data: bytes, policy: ResizePolicy, max_pixels: int) -> Image.Image:
    """The RGB image (draft decision taken for `policy`); a bad image raises `ApiError` (4xx)."""
    try:
        return decode_image(data, policy=policy, max_pixels=max_pixels)
    except ImageDecodeError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc


def model_input(
    data: bytes,
    policy: ResizePolicy,
    max_pixels: int,
    *,
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """float32 `[H, W, 3]`, values 0–255, after the policy's resize: one image of `pixels`.

    The one function the service runs on a request's bytes (predictions and the preview).
    `timings`, when given, receives `decode` and `preprocess` (the resize) in milliseconds.
    """
    start = time.perf_counter()
    image = decode(data, policy, max_pixels)
    decoded = time.perf_counter()
    pixels = to_pixels(resize(image, policy), np.float32)
    if timings is not None:
        timings["decode"] = (decoded - start) * 1000
        timings["preprocess"] = (time.perf_counter() - decoded) * 1000
    return pixels
