"""End to end: `python -m flipkart_api serve` as a real uvicorn process on 127.0.0.1."""

import asyncio
import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import PROD
from flipkart_contract.testing import gradient_image, image_bytes
from helpers import write_model, write_registry

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Server:
    def __init__(self, root: Path, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {
            **os.environ,
            "PORT": str(self.port),
            "FLIPKART_ARTIFACTS_ROOT": str(root),
            "FLIPKART_INFERENCE_THREADS": "1",
            **env,
        }
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flipkart_api", "serve", "--host", "127.0.0.1"],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_started(self) -> "Server":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start in 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def log_lines(self) -> list[dict]:
        lines = []
        for raw in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """A ready server and one without a registry, started side by side (start-up is slow)."""
    root = tmp_path_factory.mktemp("e2e") / "artifacts"
    write_model(root, PROD, method="crop", size=64)
    write_registry(root, PROD, [PROD])
    empty = tmp_path_factory.mktemp("e2e-empty")
    started = [
        Server(
            root,
            root.parent / "server.log",
            FLIPKART_BATCH_MAX_WAIT_MS="2",
            FLIPKART_PREDICTION_CACHE="false",  # the load test repeats images: run the model
            FLIPKART_RATE_LIMIT_PER_MINUTE="0",  # the load test is one client
        ),
        Server(empty, empty / "server.log"),
    ]
    try:
        yield [s.wait_started() for s in started]
    finally:
        for running in started:
            running.stop()


@pytest.fixture(scope="module")
def server(servers):
    return servers[0]


def test_serves_the_production_model(server) -> None:
    assert httpx.get(f"{server.url}/ready").json() == {"status": "ready", "model": PROD}
    files = {"file": ("x.png", image_bytes(), "image/png")}
    response = httpx.post(f"{server.url}/v1/predict?top_k=2", files=files)
    assert response.status_code == 200
    assert len(response.json()["probabilities"]) == 2


def test_logs_are_json_with_the_request_id(server) -> None:
    httpx.get(f"{server.url}/health", headers={"x-request-id": "trace-e2e-42"})
    time.sleep(0.2)
    lines = [line for line in server.log_lines() if line.get("request_id") == "trace-e2e-42"]
    assert lines and lines[0]["path"] == "/health" and lines[0]["status"] == 200


def test_not_ready_server_still_starts(servers) -> None:
    running = servers[1]
    ready = httpx.get(f"{running.url}/ready")
    assert ready.status_code == 503 and "no registry" in ready.json()["reason"]
    assert any("no registry" in str(line.get("reason")) for line in running.log_lines())


async def test_load_2000_requests_at_concurrency_32(server) -> None:
    """Zero errors, requests batched together, and the server's memory stays bounded."""
    payloads = [
        base64.b64encode(image_bytes((90 + i, 70), fmt="JPEG", color=(i * 40, 90, 200))).decode()
        for i in range(6)
    ]
    buffer = io.BytesIO()
    gradient_image((300, 200)).save(buffer, format="PNG")
    payloads.append(base64.b64encode(buffer.getvalue()).decode())
    # Forget idle connections before uvicorn's 5 s keep-alive timeout closes them (httpx also
    # waits 5 s by default: a request sent on a connection being closed fails with ReadError).
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:

        async def run(total: int) -> list[int]:
            counter = iter(range(total))
            statuses: list[int] = []

            async def worker() -> None:
                for i in counter:
                    body = {"image": payloads[i % len(payloads)]}
                    statuses.append((await client.post("/v1/predict", json=body)).status_code)

            await asyncio.gather(*(worker() for _ in range(32)))
            return statuses

        await run(200)  # warm-up: allocator pools, ONNX Runtime arenas
        before = rss_kib(server.process.pid)
        statuses = await run(2000)
        after = rss_kib(server.process.pid)
        metrics = (await client.get("/metrics")).text
    assert len(statuses) == 2000 and set(statuses) == {200}
    assert after - before < 40 * 1024, f"RSS grew by {(after - before) / 1024:.1f} MiB"
    count = _metric(metrics, f'inference_batch_size_count{{model="{PROD}"}}')
    total = _metric(metrics, f'inference_batch_size_sum{{model="{PROD}"}}')
    assert total >= 2200 and total / count > 1.0  # some requests shared a batch


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")
