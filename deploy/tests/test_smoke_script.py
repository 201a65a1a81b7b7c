"""deploy/ci/smoke.sh, the deploy workflows' smoke test, against a server on loopback."""

import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "ci" / "smoke.sh"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="smoke.sh needs curl")


class Handler(BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        count = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/ok":
            status, body = 200, b'{"status": "ok"}'
        elif self.path == "/warming":  # 503 twice, then up: a WebApp swapping its image
            status, body = (503, b"starting") if count <= 2 else (200, b'{"status": "ok"}')
        elif self.path == "/other":
            status, body = 200, b"<html>nginx default page</html>"
        else:
            status, body = 503, b"down"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def smoke(url: str, timeout_s: int, text: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), url, str(timeout_s), text],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SMOKE_INTERVAL_S": "0.2"},
    )


def test_passes_on_200_with_the_expected_text(base_url):
    assert smoke(f"{base_url}/ok", 5, '"ok"').returncode == 0


def test_waits_for_a_service_that_comes_up(base_url):
    result = smoke(f"{base_url}/warming", 10, "ok")
    assert result.returncode == 0, result.stderr
    assert Handler.hits["/warming"] == 3


def test_fails_when_down_or_serving_something_else(base_url):
    down = smoke(f"{base_url}/down", 1)
    assert down.returncode == 1 and "HTTP 503" in down.stderr
    other = smoke(f"{base_url}/other", 1, "gradio")
    assert other.returncode == 1 and 'without "gradio"' in other.stderr


def test_fails_when_nothing_listens():
    result = smoke("http://127.0.0.1:9/health", 1)
    assert result.returncode == 1 and "HTTP 000" in result.stderr
