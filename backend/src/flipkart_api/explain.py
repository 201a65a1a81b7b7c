"""Occlusion explanations, framework-free: which parts of what the model sees hold up its answer.

The model's view of the image (`model_input`, after the card's resize policy) is cut into a
fixed `grid × grid` of patches; each patch in turn is painted with the card's pad colour (the
colour the model already takes for "nothing", from the padding) and every occluded copy goes
through the ONNX graph, in batches of `chunk`. A patch's score is the probability the class
loses when that patch is hidden: `p(full) − p(occluded)`; positive means the patch supports
the class, negative means it argues against it. The cost is fixed by the grid: `grid² + 1`
images per explanation, whatever the upload.
"""

import io
from collections.abc import Callable

import numpy as np
from PIL import Image

RunBatch = Callable[[np.ndarray], np.ndarray]

MIN_GRID = 2
MAX_GRID = 12

# Cividis (matplotlib's values at 0, 0.2, … 1): readable with the common colour-vision
# deficiencies, the same scale as the app's confusion matrix.
CIVIDIS = np.array(
    [
        [0, 34, 78],
        [59, 73, 108],
        [112, 113, 115],
        [161, 156, 117],
        [212, 202, 102],
        [254, 232, 56],
    ],
    np.float64,
)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def patch_edges(length: int, grid: int) -> np.ndarray:
    """`grid + 1` integer boundaries that cut `length` pixels into `grid` near-equal patches."""
    return np.linspace(0, length, grid + 1).round().astype(int)


def occluded(
    pixels: np.ndarray, grid: int, colour: tuple[int, int, int], cells: range
) -> np.ndarray:
    """`[len(cells), H, W, 3]`: `pixels` with patch `cell` (row-major) painted in `colour`."""
    rows, cols = patch_edges(pixels.shape[0], grid), patch_edges(pixels.shape[1], grid)
    batch = np.repeat(pixels[None], len(cells), axis=0)
    fill = np.asarray(colour, pixels.dtype)
    for i, cell in enumerate(cells):
        r, c = divmod(cell, grid)
        batch[i, rows[r] : rows[r + 1], cols[c] : cols[c + 1]] = fill
    return batch


def occlusion_probabilities(
    run_batch: RunBatch,
    pixels: np.ndarray,
    grid: int,
    colour: tuple[int, int, int],
    chunk: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities of the full image `[C]`, of each occluded copy `[grid, grid, C]`)."""
    full = softmax_rows(run_batch(pixels[None]))[0]
    cells = grid * grid
    rows = []
    for start in range(0, cells, max(1, chunk)):
        part = range(start, min(cells, start + max(1, chunk)))
        rows.append(softmax_rows(run_batch(occluded(pixels, grid, colour, part))))
    return full, np.concatenate(rows).reshape(grid, grid, -1)


def colourise(heat: np.ndarray) -> np.ndarray:
    """uint8 RGB `[..., 3]` of values in 0..1 on the Cividis scale."""
    position = np.clip(heat, 0.0, 1.0) * (len(CIVIDIS) - 1)
    low = np.floor(position).astype(int).clip(0, len(CIVIDIS) - 2)
    frac = (position - low)[..., None]
    return (CIVIDIS[low] * (1 - frac) + CIVIDIS[low + 1] * frac).round().astype(np.uint8)


def overlay_png(pixels: np.ndarray, drops: np.ndarray, opacity: float = 0.55) -> bytes:
    """The model's view with the patches' support for the class laid over it, as PNG.

    The heat is the positive drop scaled to the largest one (a patch whose hiding helps the
    class shows as no heat); patch edges are kept sharp: the explanation is per patch.
    """
    height, width = pixels.shape[:2]
    support = np.clip(drops, 0.0, None)
    peak = float(support.max())
    heat = support / peak if peak > 0 else support
    grid = drops.shape[0]
    rows, cols = patch_edges(height, grid), patch_edges(width, grid)
    per_pixel = np.repeat(np.repeat(heat, np.diff(rows), axis=0), np.diff(cols), axis=1)
    view = np.clip(pixels, 0, 255).astype(np.float64)
    blended = view * (1 - opacity) + colourise(per_pixel).astype(np.float64) * opacity
    buffer = io.BytesIO()
    Image.fromarray(blended.round().astype(np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()
