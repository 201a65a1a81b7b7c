"""Selective-scan benchmark: our scan vs the naive per-token loop, MambaVision-T stage 3.

Forward is timed without gradients (on CPU the streamed scan, `_streamed_scan`), forward+backward
with them (on CPU its autograd function, `_StreamedScan`); `speedup_*_rounds` give the spread
of the ratio over the interleaved rounds (min, median, max). The naive loop is
`selective_scan_reference`, unchanged.

`run_scan_benchmark()` returns the figures; `python -m flipkart_torch.bench_scan` also writes
them to `bench/results/pytorch_scan.json` (at the repository root).
Timings are medians of interleaved repetitions (ours, loop, ours, loop, ...), so a change in
machine load hits both sides alike; the load average is recorded with them. By default torch
runs one thread here: on the shared 2-core lab machine two OpenMP threads made every large op
~10x slower (busy cores), while the loop's small per-token ops are single-threaded anyway.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from flipkart_contract import layout, write_json_atomic
from flipkart_contract.latency import cpu_name

from flipkart_torch.models.mambavision import VARIANTS
from flipkart_torch.ops.selective_scan import (
    mamba_ssm_available,
    selective_scan_fn,
    selective_scan_reference,
    selective_scan_torch,
)

DEFAULT_OUTPUT = layout.bench_results("pytorch_scan")
KINDS = ("forward", "forward_backward")


def stage3_scan_shape(image_size: int = 224, batch: int = 8) -> dict[str, int]:
    """The scan's (batch, d, n, L) in MambaVision-T's stage 3, from the architecture table."""
    config = VARIANTS["mambavision_t"][0]
    side = -(-image_size // 16)  # stem /4, then two stride-2 downsamples
    window = config.window_size[2]
    windows = (-(-side // window)) ** 2  # windows per image after padding to whole windows
    d_model = config.dim * 4  # expand = 1: d_inner = d_model, half of it goes through the scan
    return {"batch": batch * windows, "d": d_model // 2, "n": 8, "L": window * window}


def observed_stage3_shape(image_size: int = 224) -> dict[str, int]:
    """The same shape, seen by hooking the first mixer of a real mambavision_t forward (batch 1)."""
    import timm

    model = timm.create_model("mambavision_t").eval()
    seen = {}

    def hook(module, inputs, output):
        tokens = inputs[0]
        seen.update(windows=tokens.shape[0], L=tokens.shape[1], d=module.d_inner // 2)
        seen["n"] = module.d_state

    handle = model.levels[2].blocks[0].mixer.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    handle.remove()
    return seen


def make_inputs(batch: int, d: int, n: int, length: int, device: str = "cpu", seed: int = 0):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(device)

    return {
        "u": randn(batch, d, length),
        "delta": randn(batch, d, length),
        "A": -torch.exp(torch.log(torch.arange(1, n + 1.0)).repeat(d, 1)).to(device),
        "B": randn(batch, n, length),
        "C": randn(batch, n, length),
        "D": randn(d),
        "delta_bias": randn(d) - 2.0,
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved_times(
    fns: dict[str, Callable[[], object]],
    reps: int,
    device: str = "cpu",
    warmup: int = 1,
    settle: int = 0,
) -> dict[str, list[float]]:
    """Milliseconds of each call, `reps` rounds of every function in turn after `warmup` rounds.

    `settle` untimed calls precede each timed one: when the functions use different thread
    pools (torch's OpenMP, ONNX Runtime's), the pool that just ran keeps spinning for a while
    and would slow down the other's timed call.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    for _ in range(reps):
        for key, fn in fns.items():
            for _ in range(settle):
                fn()
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[key].append((time.perf_counter() - start) * 1000)
    return times


def _interleaved(
    fns: dict[str, Callable[[], object]], reps: int, device: str
) -> dict[str, list[float]]:
    return interleaved_times(fns, reps, device)


def _medians(times: dict[str, list[float]]) -> dict[str, float]:
    return {k: round(statistics.median(v), 3) for k, v in times.items()}


def _speedups(times: dict[str, list[float]]) -> dict[str, float]:
    """The loop's time over ours, round by round (each round times both back to back)."""
    ratios = sorted(
        loop / ours for loop, ours in zip(times["naive_loop"], times["ours"], strict=True)
    )
    return {
        "min": round(ratios[0], 2),
        "median": round(statistics.median(ratios), 2),
        "max": round(ratios[-1], 2),
    }


def _scan_timings(scans: dict, inputs: dict, reps: int, backward_reps: int, device: str) -> dict:
    def forward(scan):
        def run():
            with torch.no_grad():
                scan(**inputs, delta_softplus=True)

        return run

    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}

    def forward_backward(scan):
        def run():
            scan(**leaves, delta_softplus=True).square().mean().backward()

        return run

    forwards = {k: forward(s) for k, s in scans.items()}
    timings = {
        "forward": _interleaved(forwards, reps, device),
        "forward_backward": _interleaved(
            {k: forward_backward(s) for k, s in scans.items()}, backward_reps, device
        ),
    }
    result: dict = {"forward_page_faults_per_call": _page_faults_per_call(forwards)}
    for kind, times in timings.items():
        ms = _medians(times)
        result[f"{kind}_ms"] = ms
        result[f"speedup_{kind}"] = round(ms["naive_loop"] / ms["ours"], 2)
        result[f"speedup_{kind}_rounds"] = _speedups(times)
    return result


def _page_faults_per_call(fns: dict[str, Callable[[], object]], calls: int = 5) -> dict:
    """Minor page faults per call, median over `calls` interleaved calls made after the
    timings, in the same process (None off Unix).

    Why: the loop's ~16 MB of temporaries are, depending on the state glibc's allocator is
    in, either reused or mapped afresh on every call (~3900 faults); the latter made it ~2x
    slower on the lab's EPYC (15-16 against 25-37 ms), and with it the ratio ~1.5x higher."""
    try:
        import resource
    except ImportError:  # Windows
        return {k: None for k in fns}
    faults: dict[str, list[int]] = {k: [] for k in fns}
    for _ in range(calls):
        for key, fn in fns.items():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            fn()
            faults[key].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return {k: statistics.median(v) for k, v in faults.items()}


def run_scan_benchmark(
    batch: int = 8,
    reps: int = 15,
    backward_reps: int = 5,
    image_size: int = 224,
    threads: int | None = 1,
) -> dict:
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run(batch, reps, backward_reps, image_size)
    finally:
        torch.set_num_threads(previous_threads)


def _run(batch: int, reps: int, backward_reps: int, image_size: int) -> dict:
    load_at_start = round(os.getloadavg()[0], 2)
    shape = stage3_scan_shape(image_size, batch)
    observed = observed_stage3_shape(image_size)
    inputs = make_inputs(shape["batch"], shape["d"], shape["n"], shape["L"])
    with torch.no_grad():
        ours = selective_scan_torch(**inputs, delta_softplus=True)
        loop = selective_scan_reference(**inputs, delta_softplus=True)
    scans = {"ours": selective_scan_torch, "naive_loop": selective_scan_reference}
    cpu = _scan_timings(scans, inputs, reps, backward_reps, "cpu")
    result = {
        "benchmark": "selective_scan",
        "what": (
            "ours (pure PyTorch: streamed in-place scan over cache-sized token blocks, exp2 "
            "decays; with gradients its autograd function, adjoint recurrence in backward) vs "
            "the naive per-token loop, MambaVision-T stage 3"
        ),
        "shape": {**shape, "image_size": image_size, "images": batch},
        "observed_in_mambavision_t": observed,
        "max_abs_diff_vs_loop": float((ours - loop).abs().max()),
        "cpu": cpu,
        "target_speedup": 5.0,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {cpu_name()}, {os.cpu_count()} logical CPUs",
        "load_average_1m_at_start": load_at_start,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if torch.cuda.is_available():
        cuda_inputs = {k: v.cuda() for k, v in inputs.items()}
        if mamba_ssm_available():
            scans["mamba_ssm"] = selective_scan_fn
        result["cuda"] = _scan_timings(scans, cuda_inputs, reps, backward_reps, "cuda")
        result["cuda"]["device"] = torch.cuda.get_device_name()
    result["mamba_ssm_installed"] = mamba_ssm_available()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--batch", type=int, default=8, help="images per batch")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--backward-reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: leave as is)")
    args = parser.parse_args(argv)
    result = run_scan_benchmark(args.batch, args.reps, args.backward_reps, threads=args.threads)
    write_json_atomic(args.output, result)
    cpu = result["cpu"]
    rounds = {k: "-".join(str(v) for v in cpu[f"speedup_{k}_rounds"].values()) for k in KINDS}
    print(
        f"selective scan {result['shape']}: forward {cpu['forward_ms']} "
        f"(x{cpu['speedup_forward']}, rounds min-median-max {rounds['forward']}), "
        f"forward+backward {cpu['forward_backward_ms']} (x{cpu['speedup_forward_backward']}, "
        f"rounds {rounds['forward_backward']}), load average "
        f"{result['load_average_1m_at_start']}-{result['load_average_1m_at_end']} -> {args.output}"
    )


if __name__ == "__main__":
    main()
