"""A load generator for the API behind the `scale` profile's proxy (or any URL): product photos
posted to /v1/predict by `concurrency` threads, each answer's status, latency and replica kept.

    uv run --project frontend python deploy/stack/load.py http://127.0.0.1:8080 \\
        --requests 240 --concurrency 12

The photos are frontend/assets/images/ in turn. A share of them (`--unique`, default 0.5) is
made distinct by bytes appended after the JPEG's end (the decoder ignores them, the store's
sha256 differs): those miss the prediction cache and run the model; the others repeat and are
answered from the shared store. The replica is read from the proxy's `X-Upstream` header (the
addresses of the replicas tried, the last one answered); `--replica ADDRESS=NAME` names them.
Prints the summary as JSON: requests, errors, statuses, per replica, retried, cached, p50/p95.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

IMAGES = Path(__file__).resolve().parents[2] / "frontend" / "assets" / "images"


@dataclass
class Answer:
    status: int  # 0: no HTTP answer at all
    seconds: float
    upstream: str = ""  # X-Upstream: "a:8000" or "a:8000, b:8000" (retried on b)
    body: dict | None = None
    error: str = ""
    payload: int = -1  # which payload was sent

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def replica(self) -> str:
        return self.upstream.split(",")[-1].strip()


class Payloads:
    """Request i's image: the photos in turn, the unique share made distinct."""

    def __init__(self, folder: Path = IMAGES, unique: float = 0.5) -> None:
        self.photos = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))]
        if not self.photos:
            raise FileNotFoundError(f"no .jpg in {folder}")
        self.unique = unique
        self.nonce = uuid.uuid4().hex

    def __call__(self, i: int) -> tuple[int, bytes]:
        """(payload key, bytes): equal keys are equal bytes."""
        # Spread the unique ones evenly: request i is unique when the running share drops below.
        if int((i + 1) * self.unique) > int(i * self.unique):
            photo = self.photos[i % len(self.photos)]
            return len(self.photos) + i, photo + f"\n{self.nonce}-{i}".encode()
        repeats_before = i - int(i * self.unique)  # every photo in turn among the repeats
        key = repeats_before % len(self.photos)
        return key, self.photos[key]


def predict(client: httpx.Client, key: int, data: bytes) -> Answer:
    started = time.perf_counter()
    try:
        response = client.post("/v1/predict", files={"file": ("photo.jpg", data, "image/jpeg")})
    except httpx.HTTPError as exc:
        return Answer(0, time.perf_counter() - started, error=repr(exc), payload=key)
    answer = Answer(
        response.status_code,
        time.perf_counter() - started,
        response.headers.get("x-upstream", ""),
        payload=key,
    )
    try:
        answer.body = response.json()
    except ValueError:
        answer.error = f"not JSON: {response.text[:200]!r}"
    return answer


def run(
    url: str,
    requests: int | None = None,
    concurrency: int = 12,
    payloads: Payloads | None = None,
    stop: threading.Event | None = None,
    timeout_s: float = 60,
    on_answer: Callable[[Answer], None] | None = None,
) -> list[Answer]:
    """`requests` predictions, or as many as fit until `stop` is set; every answer, in order
    (and each to `on_answer` as it comes)."""
    if requests is None and stop is None:
        raise ValueError("give a number of requests or a stop event")
    payloads = payloads or Payloads()
    counter = iter(range(requests)) if requests is not None else itertools.count()
    lock = threading.Lock()
    answers: list[tuple[int, Answer]] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    def worker(client: httpx.Client) -> None:
        while stop is None or not stop.is_set():
            with lock:
                i = next(counter, None)
            if i is None:
                return
            key, data = payloads(i)
            answer = predict(client, key, data)
            with lock:
                answers.append((i, answer))
            if on_answer is not None:
                on_answer(answer)

    with (
        httpx.Client(base_url=url, timeout=timeout_s, limits=limits) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        for future in [pool.submit(worker, client) for _ in range(concurrency)]:
            future.result()
    return [answer for _, answer in sorted(answers, key=lambda pair: pair[0])]


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def summary(answers: list[Answer], names: dict[str, str], seconds: float) -> dict:
    """The figures of a run; replicas by name (`names`: address -> name)."""
    latencies = sorted(a.seconds * 1000 for a in answers if a.ok)
    served = Counter(names.get(a.replica, a.replica or "none") for a in answers if a.ok)
    return {
        "requests": len(answers),
        "errors": sum(not a.ok for a in answers),
        "statuses": dict(Counter(str(a.status) for a in answers)),
        "per_replica": dict(sorted(served.items())),
        "retried": sum("," in a.upstream for a in answers),
        "cached": sum(bool(a.body and a.body.get("cached")) for a in answers if a.ok),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(answers) / seconds, 1) if seconds else None,
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "max_ms": round(latencies[-1], 1) if latencies else None,
        "error_samples": [f"{a.status} {a.error or a.body}"[:300] for a in answers if not a.ok][:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the proxy, e.g. http://127.0.0.1:8080")
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--unique", type=float, default=0.5, help="share of cache misses")
    parser.add_argument("--images", type=Path, default=IMAGES, help="a folder of .jpg photos")
    parser.add_argument(
        "--replica",
        action="append",
        default=[],
        metavar="ADDRESS=NAME",
        help="e.g. 172.29.18.11:8000=backend-a",
    )
    args = parser.parse_args()
    names = dict(item.split("=", 1) for item in args.replica)
    started = time.perf_counter()
    answers = run(args.url, args.requests, args.concurrency, Payloads(args.images, args.unique))
    print(json.dumps(summary(answers, names, time.perf_counter() - started), indent=2))


if __name__ == "__main__":
    main()
