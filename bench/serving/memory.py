"""Serving memory under huge-dimension uploads: peak RSS of `flipkart-api serve` while 8 small
PNGs of 6,300 x 6,300 px (about 12 KB each, 40 M pixels) arrive at once.

The service runs the committed production model (artifacts/registry.json) with its default
settings (decode budget, reduced decode, heap trimming), then once more with the decode budget
off (FLIPKART_DECODE_BUDGET_BYTES=0) for comparison. The peak is the kernel's own high-water
mark (VmHWM), reset just before the burst through /proc/<pid>/clear_refs, so nothing between
two samples is missed. Not a timed test: the figures are memory, not speed.

Run from the repository root (Linux):
  uv run --project backend python bench/serving/memory.py
Writes bench/results/serving_memory.json.
"""

import argparse
import asyncio
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from flipkart_contract import layout
from flipkart_contract.testing import image_bytes
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
import run  # the serving benchmark's free port, server start and stop

RESULTS = layout.bench_results("serving_memory")
SIDE = 6300
CONCURRENT = 8
TARGET_PEAK_MIB = 600
PATH_SETTINGS = ("FLIPKART_ARTIFACTS_ROOT", "FLIPKART_DATABASE_PATH")  # not in the results


def huge_png(side: int = SIDE, seed: int = 0) -> bytes:
    """A bilevel PNG: a few KB on the wire, `side`² pixels once decoded."""
    image = Image.new("1", (side, side), 1)
    for x in range(seed, side, 211):
        image.paste(0, (x, 0, x + 1, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)


async def burst(url: str, payloads: list[bytes]) -> list[tuple[int, str]]:
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:

        async def one(data: bytes) -> tuple[int, str]:
            files = {"file": ("huge.png", data, "image/png")}
            response = await client.post("/v1/predict", files=files)
            return response.status_code, response.headers.get("retry-after", "")

        return list(await asyncio.gather(*(one(d) for d in payloads)))


def measure(name: str, env: dict, folder: Path, payloads: list[bytes]) -> dict:
    port = run.free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "flipkart_api", "serve", "--host", "127.0.0.1"]
    log = folder / f"{name}.log"
    server = run.start(command, env | {"PORT": str(port)}, port, log, 180, probe="/ready")
    try:
        pid = server.pid
        warm = {"file": ("warm.png", image_bytes((640, 480)), "image/png")}
        for _ in range(3):  # ONNX Runtime's arenas and the first request's allocations
            httpx.post(f"{url}/v1/predict", files=warm, timeout=60).raise_for_status()
        idle_mib = status_kib(pid, "VmRSS") / 1024
        reset_peak(pid)
        start = time.perf_counter()
        answers = asyncio.run(burst(url, payloads))
        seconds = time.perf_counter() - start
        peak_mib = status_kib(pid, "VmHWM") / 1024
        time.sleep(2.0)
        after_mib = status_kib(pid, "VmRSS") / 1024
    finally:
        run.stop(server)
    statuses = [status for status, _ in answers]
    row = {
        "variant": name,
        "settings": {k: v for k, v in env.items() if k not in PATH_SETTINGS},
        "rss_idle_mib": round(idle_mib, 1),
        "peak_rss_mib": round(peak_mib, 1),
        "rss_2s_after_mib": round(after_mib, 1),
        "peak_over_idle_mib": round(peak_mib - idle_mib, 1),
        "answers": {str(s): statuses.count(s) for s in sorted(set(statuses))},
        "retry_after": sorted({r for s, r in answers if s == 503}),
        "burst_s": round(seconds, 2),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if platform.system() != "Linux":
        sys.exit("Linux only: the peak is read from /proc")
    payloads = [huge_png(seed=i) for i in range(CONCURRENT)]
    with tempfile.TemporaryDirectory(prefix="serving-memory-") as tmp:
        folder = Path(tmp)
        base = {
            "FLIPKART_ARTIFACTS_ROOT": str(layout.repo_root() / "artifacts"),
            "FLIPKART_DATABASE_PATH": str(folder / "predictions.sqlite3"),
            "FLIPKART_PREDICTION_CACHE": "false",
            "FLIPKART_LOG_LEVEL": "WARNING",
        }
        rows = [
            measure("defaults", base, folder, payloads),
            measure(
                "decode_budget_off", base | {"FLIPKART_DECODE_BUDGET_BYTES": "0"}, folder, payloads
            ),
        ]
    defaults = rows[0]
    report = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "uv run --project backend python bench/serving/memory.py",
        "what": f"{CONCURRENT} concurrent POST /v1/predict of {SIDE}x{SIDE} px bilevel PNGs "
        f"({min(map(len, payloads))}-{max(map(len, payloads))} bytes each), production model",
        "how_to_read": "peak_rss_mib is the server's VmHWM during the burst (reset just before "
        "it); rss_2s_after_mib shows what the process still holds once the burst is answered.",
        "machine": {"logical_cores": os.cpu_count(), "python": platform.python_version()},
        "target_peak_rss_mib": TARGET_PEAK_MIB,
        "target_met": defaults["peak_rss_mib"] <= TARGET_PEAK_MIB,
        "results": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"peak RSS {defaults['peak_rss_mib']} MiB (target <= {TARGET_PEAK_MIB})")


if __name__ == "__main__":
    main()
