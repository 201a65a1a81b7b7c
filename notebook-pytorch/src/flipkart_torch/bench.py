"""`flipkart-torch bench`: training throughput and inference latency (PyTorch eager vs ONNX
Runtime) of every committed PyTorch model, plus the selective-scan benchmark, in one run.

Per model (`artifacts/models/*/card.json` with `framework: pytorch` and its `model.onnx`
present): the eager model is rebuilt from the card's architecture and class count with random
weights (speed does not depend on weights) and wrapped like the export (NHWC 0-255 pixels in,
normalisation inside), so both engines take the same input; ONNX Runtime runs the committed
`model.onnx`. Both run with the same number of threads, in alternation (eager, ORT, eager, ...)
so a change in the shared machine's load hits both alike, each timed call preceded by an untimed
one so that the other engine's spinning threads have gone quiet; figures are the median and 90th
percentile of the repeats after warm-up, and the ORT/eager ratios are computed within the run.
Inputs are random pixels. `latency_ms` is the card's own figure (`flipkart_contract.latency`,
the measurement of export, leaderboard and promotion), taken on this machine.

One thread by default, as in `bench_scan`: on the shared 2-core lab machine, with other jobs
running (load average ~5), two torch threads made eager EfficientNet-Lite0 ~100x slower at
batch 1 (1.4 s instead of 13 ms; OpenMP threads waiting on busy cores) while ORT held up, a ratio
that says more about the machine than the engines. Use `threads=2` where the cores are free.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from flipkart_contract import ModelCard, layout, load_card, sha256_file, write_json_atomic
from flipkart_contract.latency import cpu_name, measure_latency, ort_session, synthetic_pixels

from flipkart_torch.augment import augment_batch, mix, one_hot, recipe
from flipkart_torch.bench_scan import interleaved_times, run_scan_benchmark
from flipkart_torch.export import PixelsModel
from flipkart_torch.models.factory import create_model
from flipkart_torch.optim import head_parameters, set_train_mode
from flipkart_torch.paths import FRAMEWORK
from flipkart_torch.run_log import utc_now
from flipkart_torch.transforms import model_norm

BATCH_SIZES = (1, 16)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def machine(threads: int) -> dict[str, Any]:
    import onnxruntime

    return {
        "cpu": cpu_name(),
        "architecture": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "cuda_available": torch.cuda.is_available(),
        "load_average_1min_at_start": round(os.getloadavg()[0], 2),
    }


def summary(times_ms: list[float]) -> dict[str, float]:
    """Median and 90th percentile (nearest rank) of some timings."""
    ordered = sorted(times_ms)
    p90 = ordered[min(len(ordered) - 1, max(0, round(0.9 * len(ordered)) - 1))]
    return {"median": round(statistics.median(ordered), 3), "p90": round(p90, 3)}


def pytorch_cards(
    models_dir: str | Path, only: list[str] | None = None
) -> list[tuple[ModelCard, Path]]:
    """(card, folder) of the PyTorch models under `models_dir`; `only` keeps those whose run_id
    contains one of its strings or whose architecture is one of them."""
    cards = []
    for path in sorted(Path(models_dir).glob("*/card.json")):
        card = load_card(path)
        if card.framework != FRAMEWORK:
            continue
        if only and not any(s in card.run_id or s == card.architecture for s in only):
            continue
        cards.append((card, path.parent))
    return cards


def train_throughput(
    model: torch.nn.Module,
    training_mode: str,
    size: int,
    num_classes: int,
    batch_size: int,
    steps: int,
    warmup: int = 2,
) -> dict[str, Any]:
    """Optimizer steps (AdamW, label-smoothed cross-entropy) on random tensors, as train() does
    them: in `freeze` mode only the classifier learns and the backbone's BatchNorm stays frozen."""
    freeze = training_mode == "freeze"
    trainable = head_parameters(model) if freeze else list(model.parameters())
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parameter in trainable:
        parameter.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=0.05)
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 3, size, size, generator=generator)
    labels = torch.randint(0, num_classes, (batch_size,), generator=generator)
    set_train_mode(model, training_mode)

    def step() -> None:
        loss = F.cross_entropy(model(inputs), labels, label_smoothing=0.1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step_ms = interleaved_times({"step": step}, steps, warmup=warmup)["step"]
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    model.eval()
    stats = summary(step_ms)
    return {
        "training_mode": training_mode,
        "batch_size": batch_size,
        "timed_steps": steps,
        "warmup_steps": warmup,
        "optimizer": "AdamW",
        "step_ms": stats,
        "images_per_s": round(1000 * batch_size / stats["median"], 2),
    }


def inference_latency(
    wrapper: torch.nn.Module, session, size: int, repeats: int, warmup: int = 3
) -> dict[str, Any]:
    """Eager vs ORT on the same random pixels at each batch size, calls interleaved."""
    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    for batch in BATCH_SIZES:
        pixels = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
        tensor = torch.from_numpy(pixels)

        def eager(tensor: torch.Tensor = tensor) -> np.ndarray:
            with torch.inference_mode():
                return wrapper(tensor).numpy()

        def ort(pixels: np.ndarray = pixels) -> np.ndarray:
            return session.run(["logits"], {"pixels": pixels})[0]

        engines = {"eager": eager, "onnxruntime": ort}
        times = interleaved_times(engines, repeats, warmup=warmup, settle=1)
        entry: dict[str, Any] = {k: summary(v) for k, v in times.items()}
        for engine in ("eager", "onnxruntime"):
            entry[engine]["median_per_image"] = round(entry[engine]["median"] / batch, 3)
        entry["ort_over_eager"] = {
            stat: round(entry["onnxruntime"][stat] / entry["eager"][stat], 3)
            for stat in ("median", "p90")
        }
        results[f"batch_{batch}"] = entry
    results["repeats"] = repeats
    results["warmup"] = warmup
    return results


def bench_model(
    card: ModelCard, onnx_path: Path, threads: int, repeats: int, train_steps: int, batch_size: int
) -> dict[str, Any]:
    if sha256_file(onnx_path) != card.onnx.sha256:
        raise ValueError(f"{onnx_path}: sha256 differs from its card; re-export the model")
    size = card.input.height
    num_classes = len(card.classes)
    torch.manual_seed(0)
    model = create_model(card.architecture, num_classes=num_classes)
    mean, std = model_norm(model)
    label = f"{card.run_id} ({card.architecture} @{size}px)"
    log(f"{label}: training throughput, batch {batch_size}, {train_steps} steps")
    train = train_throughput(model, card.training_mode, size, num_classes, batch_size, train_steps)
    log(f"{label}: {train['images_per_s']:.1f} images/s; eager vs ONNX Runtime latency")
    wrapper = PixelsModel(model, mean, std).eval()
    session = ort_session(onnx_path, threads)
    inference = inference_latency(wrapper, session, size, repeats)
    latency = measure_latency(session, synthetic_pixels(1, size), threads=threads, repeats=repeats)
    for batch in BATCH_SIZES:
        entry = inference[f"batch_{batch}"]
        log(
            f"{label}: batch {batch} eager {entry['eager']['median']:.1f} ms, "
            f"ORT {entry['onnxruntime']['median']:.1f} ms "
            f"(ORT/eager {entry['ort_over_eager']['median']:.2f})"
        )
    return {
        "run_id": card.run_id,
        "architecture": card.architecture,
        "training_mode": card.training_mode,
        "image_size": size,
        "num_classes": num_classes,
        "parameters": sum(p.numel() for p in model.parameters()),
        "onnx": {"file": onnx_path.name, "sha256": card.onnx.sha256},
        "train": train,
        "inference_ms": inference,
        "latency_ms": latency,
    }


def measure(
    models_dir: str | Path | None = None,
    models: list[str] | None = None,
    repeats: int = 20,
    train_steps: int = 5,
    batch_size: int = 16,
    threads: int = 1,
    scan: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every figure of `bench/results/pytorch.json`; `scan=None` skips the selective scan, a
    dict gives `run_scan_benchmark`'s arguments ({} for its defaults)."""
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        description = machine(threads)
        folder = models_dir or layout.models_dir()
        cards = pytorch_cards(folder, models)
        present = [(c, d / c.onnx.file) for c, d in cards if (d / c.onnx.file).is_file()]
        skipped = [c.run_id for c, d in cards if not (d / c.onnx.file).is_file()]
        for run_id in skipped:  # git tracks only the production model's ONNX
            log(f"{run_id}: no ONNX file beside its card, skipped")
        if not present:
            raise FileNotFoundError(
                f"no PyTorch model (card.json with framework pytorch and its ONNX file) under "
                f"{folder}" + (f" matching {models}" if models else "")
            )
        log(f"{len(present)} models, {threads} threads, {repeats} repeats")
        results = [
            bench_model(card, path, threads, repeats, train_steps, batch_size)
            for card, path in present
        ]
    finally:
        torch.set_num_threads(previous_threads)
    log("augmentation throughput (per-image loop vs batched)")
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    augmentation = [augmentation_throughput(device=device) for device in devices]
    selective_scan = None
    if scan is not None:
        log("selective scan (flipkart_torch.bench_scan)")
        selective_scan = run_scan_benchmark(**scan)
        cpu = selective_scan["cpu"]
        log(
            f"selective scan: forward x{cpu['speedup_forward']}, "
            f"forward+backward x{cpu['speedup_forward_backward']} vs the naive loop"
        )
    return {
        "schema_version": 1,
        "framework": "pytorch",
        "what": (
            "training throughput and inference latency, PyTorch eager vs ONNX Runtime, of every "
            "exported PyTorch model; selective-scan benchmark"
        ),
        "method": (
            "random weights (speed does not depend on them) and random inputs; eager model "
            "wrapped like the export (NHWC 0-255 pixels in); ORT runs the committed model.onnx "
            "(CPUExecutionProvider); same threads for both; engines alternated, each timed call "
            "after an untimed one; median and p90 (nearest rank) of the repeats after warm-up; "
            "ratios ORT/eager within this run"
        ),
        "machine": {**description, "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "settings": {
            "threads": threads,
            "repeats": repeats,
            "train_steps": train_steps,
            "train_batch_size": batch_size,
            "inference_batch_sizes": list(BATCH_SIZES),
        },
        "models": results,
        "augmentation": augmentation,
        "skipped_without_onnx": skipped,
        "selective_scan": selective_scan,
        "wall_time_s": round(time.perf_counter() - started, 1),
        "measured_at": utc_now().isoformat().replace("+00:00", "Z"),
    }


def run_bench(output: str | Path | None = None, **kwargs: Any) -> Path:
    path = Path(output or layout.bench_results(FRAMEWORK))
    write_json_atomic(path, measure(**kwargs))
    log(f"-> {path}")
    return path


# ---------------------------------------------------------------- augmentation throughput


def legacy_augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The lab's augmentation before it was batched, kept as the benchmark's "before": random
    resized crop (scale 0.6-1, ratio 3/4-4/3), flip, brightness/contrast, one image at a time."""
    n, h, w, _ = batch.shape
    x = batch.permute(0, 3, 1, 2)
    out = torch.empty_like(x)
    rand = torch.rand(n, 6, generator=generator)
    for i in range(n):
        area = (0.6 + 0.4 * rand[i, 0].item()) * h * w
        ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * rand[i, 1].item())
        ch = min(h, max(1, round(math.sqrt(area / ratio))))
        cw = min(w, max(1, round(math.sqrt(area * ratio))))
        top = int(rand[i, 2].item() * (h - ch + 1))
        left = int(rand[i, 3].item() * (w - cw + 1))
        crop = x[i : i + 1, :, top : top + ch, left : left + cw]
        crop = F.interpolate(
            crop, size=(h, w), mode="bilinear", align_corners=False, antialias=True
        )
        if rand[i, 4].item() < 0.5:
            crop = crop.flip(-1)
        out[i] = crop[0]
    jitter = torch.rand(n, 2, generator=generator)
    brightness = (0.8 + 0.4 * jitter[:, 0]).view(n, 1, 1, 1)
    contrast = (0.8 + 0.4 * jitter[:, 1]).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = ((out - mean) * contrast + mean) * brightness
    return out.clamp(0, 255).permute(0, 2, 3, 1)


def augmentation_throughput(
    size: int = 224, batch_size: int = 32, steps: int = 5, device: str = "cpu"
) -> dict[str, Any]:
    """Images/s of training augmentation alone on one cached uint8 batch: the former per-image
    loop (on the CPU, where it ran) against the batched module on `device`, basic and
    catalogue recipes (+ mixing)."""
    generator = torch.Generator().manual_seed(0)
    cpu_batch = torch.randint(0, 256, (batch_size, size, size, 3), generator=generator)
    cpu_batch = cpu_batch.to(torch.uint8)
    cpu_batch[:, : size // 5] = 255  # a white band: the background compositing has work to do
    batch = cpu_batch.to(device)
    aug_generator = torch.Generator(device=device).manual_seed(0)
    batch_rng = np.random.default_rng(0)
    targets = one_hot(torch.zeros(batch_size, dtype=torch.long, device=device), 7, 0.1)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def batched(name: str, with_mix: bool):
        config = recipe(name)

        def call() -> None:
            out = augment_batch(batch, config, aug_generator, batch_rng)
            if with_mix:
                mix(out, targets, batch_rng, prob=1.0)
            sync()

        return call

    calls = {
        "per_image_loop_cpu": lambda: legacy_augment(cpu_batch.float(), generator),
        "batched_basic": batched("basic", False),
        "batched_catalogue_mix": batched("catalogue", True),
    }
    times = interleaved_times(calls, steps, warmup=1)
    return {
        "device": device,
        "image_size": size,
        "batch_size": batch_size,
        "images_per_s": {
            name: round(1000 * batch_size / summary(ms)["median"], 1) for name, ms in times.items()
        },
    }
