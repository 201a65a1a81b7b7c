"""What an explanation costs: one in-process service (the real app, store and rate limit off,
driven through its ASGI interface: the service's own time, no sockets) on the production model
of the artifacts; each photo sent to `/v1/predict` and to `/v1/explain` at each grid, in turn,
`--rounds` times. The report gives each request's median and p95 latency, the inference share
and the images run, so the cost per occluded image can be compared with a prediction.

Photos: the test split's (`data/images`), else synthetic JPEGs.

Run from the repository root:
  uv run --project backend python bench/serving/explain.py [--count N] [--rounds N]
"""

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import run  # the image sets and the machine description of the serving benchmark
from flipkart_api.app import create_app
from flipkart_api.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def summary(values: list[float]) -> dict:
    return {
        "median": round(statistics.median(values), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
        "n": len(values),
    }


async def measure(images: list[bytes], grids: list[int], rounds: int) -> dict:
    settings = Settings(store_enabled=False, rate_limit_per_minute=0, json_logs=False)
    app = create_app(settings)
    app.state.catalog.load()
    production = app.state.catalog.current.production
    transport = httpx.ASGITransport(app=app)
    routes = [("predict", "/v1/predict", {})] + [
        (f"explain_grid{g}", "/v1/explain", {"grid": g}) for g in grids
    ]
    total: dict[str, list[float]] = {name: [] for name, _, _ in routes}
    inference: dict[str, list[float]] = {name: [] for name, _, _ in routes}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for data in images[:2]:  # warm-up
            for _, path, params in routes:
                await client.post(path, files={"file": ("x.jpg", data)}, params=params)
        for _ in range(rounds):
            for data in images:
                for name, path, params in routes:
                    start = time.perf_counter()
                    response = await client.post(
                        path, files={"file": ("x.jpg", data)}, params=params
                    )
                    elapsed = (time.perf_counter() - start) * 1000
                    response.raise_for_status()
                    total[name].append(elapsed)
                    inference[name].append(response.json()["latency_ms"]["inference"])
    await app.state.catalog.close()
    return {
        "model": production,
        "requests_ms": {name: summary(values) for name, values in total.items()},
        "inference_ms": {name: summary(values) for name, values in inference.items()},
        "images_run": {"predict": 1, **{f"explain_grid{g}": g * g + 1 for g in grids}},
        "explain_batch": settings.explain_batch,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--grids", type=int, nargs="+", default=[4, 8])
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "serving_explain.json"
    )
    args = parser.parse_args()
    images = run.flipkart_images(args.count)
    image_set = "the test split's photos"
    if not images:
        images, image_set = run.synthetic_jpegs(args.count, size=800), "synthetic 800 px JPEGs"
    result = asyncio.run(measure(images, args.grids, args.rounds))
    result["machine"] = run.machine()
    result["photos"] = f"{len(images)} ({image_set})"
    result["rounds"] = args.rounds
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
