"""docker-compose.yml's `scale` profile in Docker: two API replicas (backend-a, backend-b) on one
PostgreSQL behind the nginx proxy, as App Service scales a WebApp out to two instances.

A load test through the proxy (240 predictions, 12 at a time, half of them new images): no
error, both replicas answer, an image one replica classified is answered from the shared cache
by the other, and every prediction acknowledged by either replica is in the shared store and
reads back through the other one. Then a rolling restart under load (`docker-compose restart
backend-a`, then backend-b once the proxy sends it requests again): no request fails. The
figures go to deploy/results/scale.json (SCALE_RESULTS=).

`make test-scale` runs it (after `make images`); it skips without Docker, docker-compose or the
images, unless STACK_REQUIRED=1 (.ci/run). Everything is removed at the end however it ends.
"""

import json
import os
import platform
import socket
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import load
import pytest
import yaml
from stack import ADMIN_KEY, COMPOSE_FILE, REPO, Stack, docker, expand, missing

SERVICES = ["postgres", "backend-a", "backend-b", "proxy"]
REPLICAS = ["backend-a", "backend-b"]
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
REQUESTS, CONCURRENCY = 240, 12
RESULTS = Path(os.environ.get("SCALE_RESULTS") or REPO / "deploy" / "results" / "scale.json")
CONFIG = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
# X-Upstream's address -> the replica's name (the fixed addresses on the `scale` network).
NAMES = {
    expand(CONFIG[name]["networks"]["scale"]["ipv4_address"], dict(os.environ)) + ":8000": name
    for name in REPLICAS
}

if why := missing(SERVICES):
    if os.environ.get("STACK_REQUIRED") == "1":
        raise RuntimeError(f"STACK_REQUIRED=1 but the scale profile cannot run: {why}")
    pytest.skip(why, allow_module_level=True)

FIGURES: dict = {}
ANSWERS: list[load.Answer] = []  # every prediction of the module, for the store's tally


@pytest.fixture(scope="module")
def scale(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("scale"), services=SERVICES, profile="scale")
    # One client (this test) sends everything: the per-client limit would answer 429.
    stack.env["RATE_LIMIT_PER_MINUTE"] = "60000"
    try:
        with stack.running() as seconds:
            FIGURES["up_and_healthy_s"] = seconds
            yield stack
    finally:
        write_figures()


@pytest.fixture(scope="module")
def proxy(scale):
    with httpx.Client(base_url=scale.url("PROXY_PORT"), timeout=60) as client:
        yield client


def write_figures() -> None:
    if not FIGURES.get("load"):
        return
    engine = subprocess.run(
        [docker(), "version", "-f", "{{.Server.Version}}"], capture_output=True, text=True
    ).stdout.strip()
    compose = subprocess.run(
        ["docker-compose", "version", "--short"], capture_output=True, text=True
    ).stdout.strip()
    FIGURES["date"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    FIGURES["machine"] = (
        f"{os.cpu_count()} cores, {platform.machine()}, engine {engine}, docker-compose {compose}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(FIGURES, indent=2) + "\n")
    print(f"scale: figures in {RESULTS}")


def post(client: httpx.Client, data: bytes) -> load.Answer:
    answer = load.predict(client, -1, data)
    assert answer.ok, (answer.status, answer.error, answer.body)
    ANSWERS.append(answer)
    return answer


def test_load_across_the_replicas_has_no_error(scale):
    started = time.perf_counter()
    answers = load.run(scale.url("PROXY_PORT"), REQUESTS, CONCURRENCY)
    ANSWERS.extend(a for a in answers if a.ok)
    figures = load.summary(answers, NAMES, time.perf_counter() - started)
    FIGURES["load"] = {"concurrency": CONCURRENCY, "unique_share": 0.5, **figures}
    print(f"\nscale: load {json.dumps(figures)}")
    assert figures["errors"] == 0, figures
    assert set(figures["per_replica"]) == set(REPLICAS), figures
    # Round robin: neither replica idles (each gets at least a quarter).
    assert min(figures["per_replica"].values()) >= REQUESTS // 4, figures


def test_an_image_is_answered_from_the_shared_cache_by_the_other_replica(proxy):
    photo = sorted((REPO / "frontend" / "assets" / "images").glob("*.jpg"))[0]
    data = photo.read_bytes() + f"\ncache-{time.time_ns()}".encode()
    first = post(proxy, data)
    assert first.body["cached"] is False and first.body["id"]
    for _ in range(10):  # round robin: the next request or so goes to the other replica
        again = post(proxy, data)
        if again.replica != first.replica:
            break
    assert again.replica != first.replica, "the proxy sent every request to one replica"
    assert again.body["cached"] is True
    assert again.body["id"] == first.body["id"]
    assert again.body["label"] == first.body["label"]
    FIGURES["shared_cache"] = {
        "first": NAMES[first.replica],
        "cached_answer_by": NAMES[again.replica],
        "same_id": True,
    }


def test_predictions_of_both_replicas_are_in_the_shared_store(proxy):
    by_replica = {}
    for answer in ANSWERS:
        if answer.body.get("id") and answer.body.get("feedback_token"):
            by_replica.setdefault(answer.replica, answer)
    assert set(by_replica) == set(NAMES), by_replica.keys()
    for made_by, answer in by_replica.items():
        # Read back until the other replica answers: its store and its token key are the same.
        headers = {"X-Feedback-Token": answer.body["feedback_token"]}
        for _ in range(10):
            read = proxy.get(f"/v1/predictions/{answer.body['id']}", headers=headers)
            assert read.status_code == 200, read.text
            if read.headers["x-upstream"].split(",")[-1].strip() != made_by:
                break
        assert read.headers["x-upstream"].split(",")[-1].strip() != made_by
        assert read.json()["label"] == answer.body["label"]
    # Every prediction acknowledged with an id is in the one store, and nothing else is.
    ids = {a.body["id"] for a in ANSWERS}
    assert None not in ids
    stats = proxy.get("/v1/stats", headers=ADMIN)
    assert stats.status_code == 200, stats.text
    assert stats.json()["predictions"] == len(ids)
    FIGURES["store"] = {"predictions": len(ids), "answers": len(ANSWERS)}


def test_the_proxy_answers_its_own_errors_as_the_api_does(scale):
    """A body over the backend's limit is refused by nginx (Content-Length alone), as JSON."""
    with socket.create_connection(("127.0.0.1", scale.ports["PROXY_PORT"]), timeout=30) as s:
        s.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            b"Content-Length: 70000000\r\nConnection: close\r\n\r\n"
        )
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(body)["error"]["code"] == "payload_too_large"


def served_by(answers: list[load.Answer], name: str, after: int) -> bool:
    return any(NAMES.get(a.replica) == name for a in answers[after:] if a.ok)


def test_a_rolling_restart_loses_no_request(scale):
    stop, answers = threading.Event(), []
    seen: list[load.Answer] = []  # as they come: is the proxy using a restarted replica again?

    def keep_loading() -> None:
        url = scale.url("PROXY_PORT")
        answers.extend(load.run(url, None, 4, stop=stop, on_answer=seen.append))

    thread = threading.Thread(target=keep_loading)
    started = time.perf_counter()
    thread.start()
    restarts = {}
    try:
        time.sleep(2)
        for name in REPLICAS:
            t0 = time.monotonic()
            scale.compose("restart", "-t", "10", name, timeout_s=120)
            restarted = time.monotonic() - t0
            scale.wait_healthy([name], timeout_s=120)
            healthy = time.monotonic() - t0
            mark = len(seen)
            # A rolling restart moves on once the load balancer uses the replica again.
            deadline = time.monotonic() + 30
            while not served_by(seen, name, mark):
                assert time.monotonic() < deadline, f"the proxy never went back to {name}"
                time.sleep(0.2)
            restarts[name] = {
                "restart_s": round(restarted, 1),
                "healthy_s": round(healthy, 1),
                "back_in_rotation_s": round(time.monotonic() - t0, 1),
            }
        time.sleep(1)
    finally:
        stop.set()
        thread.join(timeout=120)
    ANSWERS.extend(a for a in answers if a.ok)
    figures = load.summary(answers, NAMES, time.perf_counter() - started)
    FIGURES["rolling_restart"] = {"concurrency": 4, "replicas": restarts, **figures}
    print(f"\nscale: rolling restart {json.dumps(FIGURES['rolling_restart'])}")
    assert figures["requests"] > 0
    assert figures["errors"] == 0, figures
    assert set(figures["per_replica"]) == set(REPLICAS), figures
