"""A request's image → what the model sees, through `flipkart_contract` (the labs' code path).

Decoding (limits before pixels, EXIF orientation, first frame, every mode to RGB, the JPEG draft
and reduced-decode decisions) and the card's resize policy live in the contract; this module
turns a decode failure into the service's `ApiError` (same status and code), times the two
steps, and splits them so that the service can reserve a decode's memory from its header
(`open_upload`) before decoding (`pixels_of`).
"""

import time

import numpy as np
from flipkart_contract import ImageDecodeError, ResizePolicy, resize, to_pixels
from flipkart_contract.images import decode_cost, finish_decode, open_image
from PIL import Image

from flipkart_api.errors import ApiError


def decode(data: bytes, policy: ResizePolicy, max_pixels: int) -> Image.Image:
    """The RGB image (draft decision taken for `policy`); a bad image raises `ApiError` (4xx)."""
    opened, _ = open_upload(data, policy, max_pixels)
    try:
        return finish_decode(opened, policy)
    except ImageDecodeError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc


def open_upload(data: bytes, policy: ResizePolicy, max_pixels: int) -> tuple[Image.Image, int]:
    """The image's header (nothing decoded yet) and the estimated peak bytes of decoding it."""
    try:
        opened = open_image(data, policy=policy, max_pixels=max_pixels)
    except ImageDecodeError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc
    return opened, decode_cost(opened, policy)


def pixels_of(
    opened: Image.Image,
    policy: ResizePolicy,
    *,
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """Decode an `open_upload` image and apply the policy: float32 `[H, W, 3]`, 0–255.

    The decoded images are closed before returning, so their pixels are freed at once even
    while the caller still holds `opened`.
    """
    start = time.perf_counter()
    try:
        image = finish_decode(opened, policy)
    except ImageDecodeError as exc:
        opened.close()
        raise ApiError(exc.status, exc.code, exc.message) from exc
    decoded = time.perf_counter()
    try:
        pixels = to_pixels(resize(image, policy), np.float32)
    finally:
        image.close()
        opened.close()
    if timings is not None:
        timings["decode"] = (decoded - start) * 1000
        timings["preprocess"] = (time.perf_counter() - decoded) * 1000
    return pixels


def model_input(
    data: bytes,
    policy: ResizePolicy,
    max_pixels: int,
    *,
    timings: dict[str, float] | None = None,
) -> np.ndarray:
    """float32 `[H, W, 3]`, values 0–255, after the policy's resize: one image of `pixels`.

    What the service computes on a request's bytes (without the memory budget: the offline
    tools call this). `timings`, when given, receives `decode` and `preprocess` (the resize) in
    milliseconds; `decode` includes reading the header.
    """
    start = time.perf_counter()
    opened, _ = open_upload(data, policy, max_pixels)
    pixels = pixels_of(opened, policy, timings=timings)
    if timings is not None:
        timings["decode"] = (time.perf_counter() - start) * 1000 - timings["preprocess"]
    return pixels
