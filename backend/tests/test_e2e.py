"""End to end: `python -m flipkart_api serve` as a real uvicorn process on 127.0.0.1."""

import asyncio
import base64
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import PROD, make_settings
from flipkart_api import deps
from flipkart_api.app import create_app
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


def multipart(parts: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "e2e-boundary-16"
    body = b""
    for name, data in parts:
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="x.png"'
        body += f"{head}\r\nContent-Type: image/png\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def bad_requests() -> dict[str, tuple[str, str, bytes, str]]:
    """Requests that answered 500 and dropped the connection before issue 16."""
    two_files, form_type = multipart([("file", image_bytes()), ("file", image_bytes())])
    nested = b'{"image": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    digits = b'{"image": ' + b"1" * 5000 + b"}"
    return {
        "two file parts": ("POST", "/v1/predict", two_files, form_type),
        "JSON nested 100000 deep": ("POST", "/v1/predict/batch", nested, "application/json"),
        "5000-digit integer": ("POST", "/normalize", digits, "application/json"),
        "malformed admin body without key": ("POST", "/v1/admin/promote", b"{", "application/json"),
        "wrong method": ("PUT", "/v1/predict", b"{}", "application/json"),
    }


def exchange(connection: http.client.HTTPConnection, method: str, path: str, body: bytes, kind):
    connection.request(method, path, body=body, headers={"Content-Type": kind})
    response = connection.getresponse()
    return response, response.read()


GOOD = json.dumps({"image": base64.b64encode(image_bytes()).decode()}).encode()


@pytest.mark.parametrize("name", list(bad_requests()))
def test_a_refused_request_leaves_the_keep_alive_connection_usable(server, name) -> None:
    method, path, body, kind = bad_requests()[name]
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        response, payload = exchange(connection, method, path, body, kind)
        assert 400 <= response.status < 500, payload
        assert response.getheader("content-type") == "application/json"
        assert set(json.loads(payload)) == {"error"}
        sock = connection.sock
        assert sock is not None  # the server did not ask to close the connection
        good, payload = exchange(connection, "POST", "/v1/predict", GOOD, "application/json")
        assert good.status == 200, payload
        assert connection.sock is sock  # answered on the same connection, not a new one
    finally:
        connection.close()


@pytest.fixture(params=["httptools", "h11"])
def in_process_server(request, tmp_path):
    """A real uvicorn server on 127.0.0.1 in this process, so a test can inject a fault."""
    root = tmp_path / "artifacts"
    write_model(root, PROD, method="crop")
    write_registry(root, PROD, [PROD])
    app = create_app(make_settings(root, database_path=tmp_path / "predictions.db"))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), http=request.param, log_config=None
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield config.port
    finally:
        running.should_exit = True
        thread.join(30)


def test_an_unexpected_exception_answers_500_and_keeps_the_connection(
    in_process_server, monkeypatch
) -> None:
    calls = []

    async def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("injected parsing failure")
        return await read_sources(*args, **kwargs)

    read_sources = deps.read_sources
    monkeypatch.setattr(deps, "read_sources", broken)
    connection = http.client.HTTPConnection("127.0.0.1", in_process_server, timeout=30)
    try:
        response, payload = exchange(connection, "POST", "/v1/predict", GOOD, "application/json")
        assert response.status == 500
        assert json.loads(payload)["error"]["code"] == "internal_error"
        sock = connection.sock
        assert sock is not None
        good, payload = exchange(connection, "POST", "/v1/predict", GOOD, "application/json")
        assert good.status == 200, payload
        assert connection.sock is sock
    finally:
        connection.close()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")
