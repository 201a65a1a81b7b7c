"""URL fetching: refused addresses never get a connection; real fetches only on 127.0.0.1."""

import base64
import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from flipkart_api import fetch
from flipkart_api.app import create_app
from flipkart_api.errors import ApiError
from flipkart_contract.testing import image_bytes

PNG = image_bytes()


@pytest.fixture
def no_connections(monkeypatch):
    """Fails the test if anything tries to open a socket through the fetcher."""
    attempts = []

    async def refuse(self, host, port, *args, **kwargs):
        attempts.append((host, port))
        raise AssertionError(f"connected to {host}:{port}")

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", refuse)
    return attempts


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert fetch.refusal(ipaddress.ip_address(address), allow_private=False) is not None


def test_public_addresses_are_allowed_and_metadata_never() -> None:
    assert fetch.refusal(ipaddress.ip_address("93.184.216.34"), allow_private=False) is None
    assert fetch.refusal(ipaddress.ip_address("127.0.0.1"), allow_private=True) is None
    for metadata in ("169.254.169.254", "fd00:ec2::254"):
        assert fetch.refusal(ipaddress.ip_address(metadata), allow_private=True) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.png",
        "http://[::1]/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/x.png",
        "http://localhost/x.png",
        "https://0x7f000001/x.png",
    ],
)
def test_api_refuses_private_urls_before_connecting(client, no_connections, url: str) -> None:
    response = client.post("/v1/predict", json={"url": url})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "url_forbidden"
    assert no_connections == []


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x.png", "file:///etc/passwd", "http://", "http://u:p@example.com/"]
)
def test_bad_schemes_and_urls_are_refused(client, no_connections, url: str) -> None:
    response = client.post("/v1/predict", json={"url": url})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_url"
    assert no_connections == []


def test_unresolvable_host_is_422(client, monkeypatch, no_connections) -> None:
    async def fail(host, port):
        raise ApiError(422, "url_unreachable", f"Cannot resolve host {host!r}.")

    monkeypatch.setattr(fetch, "resolve", fail)
    response = client.post("/v1/predict", json={"url": "http://no-such-host.invalid/x.png"})
    assert response.json()["error"]["code"] == "url_unreachable"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the timeout test)

    def do_GET(self) -> None:
        path = self.path
        if path == "/img.png":
            self.send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/redirect":
            self.send(302, headers={"Location": "/img.png"})
        elif path == "/loop":
            self.send(302, headers={"Location": "/loop"})
        elif path == "/to-metadata":
            self.send(302, headers={"Location": "http://169.254.169.254/latest/"})
        elif path == "/text":
            self.send(200, b"<html>not an image</html>", {"Content-Type": "image/png"})
        elif path == "/big":
            self.send(200, b"\x00" * 50_000)
        elif path == "/slow":
            time.sleep(3.0)
            self.send(200, PNG)
        else:
            self.send(404, b"missing")


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def loopback_client(artifacts):
    settings = make_settings(
        artifacts, url_allow_private=True, url_timeout_s=1.0, max_upload_bytes=20_000
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_loopback_is_refused_by_default_even_with_a_server(client, server) -> None:
    response = client.post("/v1/predict", json={"url": f"{server}/img.png"})
    assert response.json()["error"]["code"] == "url_forbidden"


def test_fetch_by_url_equals_upload(loopback_client, server) -> None:
    by_url = loopback_client.post("/v1/predict", json={"url": f"{server}/img.png"})
    assert by_url.status_code == 200, by_url.text
    upload = loopback_client.post("/v1/predict", json={"image": base64.b64encode(PNG).decode()})
    assert by_url.json()["probabilities"] == upload.json()["probabilities"]


def test_redirects_are_followed(loopback_client, server) -> None:
    response = loopback_client.post("/v1/predict", json={"url": f"{server}/redirect"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/loop", 422, "too_many_redirects"),
        ("/to-metadata", 422, "url_forbidden"),
        ("/text", 422, "not_an_image"),
        ("/big", 413, "payload_too_large"),
        ("/slow", 422, "url_timeout"),
        ("/missing", 422, "url_unreachable"),
    ],
)
def test_url_failures(loopback_client, server, path: str, status: int, code: str) -> None:
    response = loopback_client.post("/v1/predict", json={"url": f"{server}{path}"})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_closed_port_is_unreachable(loopback_client) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    response = loopback_client.post("/v1/predict", json={"url": f"http://127.0.0.1:{port}/x"})
    assert response.json()["error"]["code"] == "url_unreachable"


def test_batch_of_urls_fails_per_slot(loopback_client, server) -> None:
    urls = [f"{server}/img.png", f"{server}/text", "ftp://x"]
    results = loopback_client.post("/v1/predict/batch", json={"urls": urls}).json()["results"]
    assert "label" in results[0]
    assert results[1]["error"]["code"] == "not_an_image"
    assert results[2]["error"]["code"] == "invalid_url"


def test_every_resolved_address_is_checked_then_tried_in_order(
    loopback_client, server, monkeypatch
) -> None:
    port = server.rsplit(":", 1)[1]
    tried = []

    async def two_addresses(host, port_):
        tried.append(host)
        return [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(fetch, "resolve", two_addresses)
    # 127.0.0.2 refuses the connection (the server listens on 127.0.0.1 only): the next is used.
    response = loopback_client.post(
        "/v1/predict", json={"url": f"http://multi.test:{port}/img.png"}
    )
    assert response.status_code == 200, response.text
    assert tried == ["multi.test"]


def test_one_forbidden_address_among_several_refuses_the_host(client, monkeypatch) -> None:
    async def mixed(host, port):
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")]

    monkeypatch.setattr(fetch, "resolve", mixed)
    response = client.post("/v1/predict", json={"url": "http://mixed.test/x.png"})
    assert response.json()["error"]["code"] == "url_forbidden"
