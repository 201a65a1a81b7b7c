"""docker-compose.yml's `scale` profile and the proxy's nginx.conf hold together (no Docker: the
profile runs for real in deploy/stack/test_scale.py, `make test-scale`).

With nginx on PATH (or NGINX=…: `apt-get download nginx nginx-common` and `dpkg-deb -x` both
is enough), `nginx -t` checks the configuration itself.
"""

import ipaddress
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROXY = ROOT / "deploy" / "proxy"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
REPLICAS = ["backend-a", "backend-b"]
NGINX_CONF = (PROXY / "nginx.conf").read_text()
VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}")


def default(text: str) -> str:
    """Compose's `${NAME:-default}` with every variable unset."""
    return VARIABLE.sub(lambda m: m[2], str(text))


def directives(name: str) -> list[str]:
    """The arguments of every `name ...;` directive in nginx.conf (comments dropped)."""
    text = re.sub(r"#[^\n]*", "", NGINX_CONF)
    return [m.strip() for m in re.findall(rf"(?m)^\s*{name}\s+([^;]*);", text)]


def address(service: str) -> ipaddress.IPv4Address:
    return ipaddress.ip_address(default(SERVICES[service]["networks"]["scale"]["ipv4_address"]))


def test_the_profile_is_two_replicas_and_a_proxy():
    in_scale = sorted(n for n, s in SERVICES.items() if "scale" in s.get("profiles", []))
    assert in_scale == ["backend-a", "backend-b", "proxy"]
    assert "profiles" not in SERVICES["backend"]  # a plain `up` is unchanged


def test_the_replicas_are_the_backend_on_the_one_postgres():
    backend = SERVICES["backend"]
    for name in REPLICAS:
        replica = SERVICES[name]
        assert replica["image"] == backend["image"]
        assert replica["build"] == backend["build"]
        # One store: the prediction cache, the predictions and the token key are shared.
        assert replica["environment"]["DATABASE_URL"] == backend["environment"]["DATABASE_URL"]
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in replica, f"{name} is reached through the proxy only"
        assert set(replica["networks"]) == {"default", "scale"}  # PostgreSQL is on default
        assert replica["restart"] == "unless-stopped"
    assert "ports" not in SERVICES["postgres"]


def test_the_proxy_is_published_on_loopback_and_waits_for_both_replicas():
    proxy = SERVICES["proxy"]
    (published,) = proxy["ports"]
    host, host_port, container_port = default(published).split(":")
    assert (host, host_port) == ("127.0.0.1", "8080")
    assert published.startswith("${BIND_ADDRESS:-127.0.0.1}:${PROXY_PORT:-")
    assert directives("listen") == [container_port]
    assert f"EXPOSE {container_port}" in (PROXY / "Dockerfile").read_text()
    assert set(proxy["networks"]) == {"scale"}  # the replicas see it at its fixed address only
    for name in REPLICAS:
        assert proxy["depends_on"][name]["condition"] == "service_healthy"


def test_the_replicas_trust_the_proxy_address_alone():
    subnet = ipaddress.ip_network(
        default(COMPOSE["networks"]["scale"]["ipam"]["config"][0]["subnet"])
    )
    addresses = [address(n) for n in ["proxy", *REPLICAS]]
    assert len(set(addresses)) == 3 and all(a in subnet for a in addresses)
    # Docker gives the subnet's first address to the gateway (the host's side).
    assert next(subnet.hosts()) not in addresses
    for name in REPLICAS:
        trusted = default(SERVICES[name]["environment"]["FLIPKART_TRUSTED_PROXIES"])
        assert ipaddress.ip_address(trusted) == address("proxy"), name
    # ... and the proxy overwrites the header, so a client cannot choose its rate-limit key.
    assert "X-Forwarded-For $remote_addr" in directives("proxy_set_header")
    assert "$proxy_add_x_forwarded_for" not in NGINX_CONF


def test_nginx_balances_the_replicas_and_retries_on_the_other():
    upstream = re.search(r"upstream api \{(.*?)\}", NGINX_CONF, re.DOTALL)[1]
    servers = [
        line.split()[1] for line in upstream.splitlines() if line.strip().startswith("server ")
    ]
    ports = {n: default(SERVICES[n]["environment"]["PORT"]) for n in REPLICAS}
    assert servers == [f"{n}:{ports[n]}" for n in REPLICAS]
    assert "ip_hash" not in upstream and "hash " not in upstream  # not sticky
    assert directives("proxy_pass") == ["http://api"]
    (retry,) = directives("proxy_next_upstream")
    assert set(retry.split()) >= {"error", "timeout", "http_502", "http_503", "non_idempotent"}
    (tries,) = directives("proxy_next_upstream_tries")
    assert 2 <= int(tries) <= len(REPLICAS)
    assert directives("proxy_request_buffering") == ["on"]  # a body can be sent again


def test_the_body_limit_is_the_backends():
    settings = (ROOT / "backend" / "src" / "flipkart_api" / "settings.py").read_text()
    expression = re.search(r"max_batch_bytes: int = ([\d *]+)", settings)[1]
    limit = math.prod(int(factor) for factor in expression.split("*"))
    assert directives("client_max_body_size") == [f"{limit // 2**20}m"]
    assert f"over {limit} bytes" in NGINX_CONF  # the 413's message


def test_nginx_answers_its_errors_as_the_api_does():
    pages = dict(d.split(maxsplit=1) for d in directives("error_page"))
    assert set(pages) == {"413", "502", "503", "504"}
    for status, location in pages.items():
        body = re.search(rf"location {location} \{{(.*?)\}}", NGINX_CONF, re.DOTALL)[1]
        assert f'return {status} \'{{"error": {{"code": ' in body, status
        assert "default_type application/json;" in body


def test_the_health_check_path_is_served_by_nginx_itself():
    dockerfile = (PROXY / "Dockerfile").read_text()
    path = re.search(r"http://127\.0\.0\.1:8080(/\S+)\"", dockerfile)[1]
    assert f"location = {path} {{" in NGINX_CONF
    assert re.search(r"^USER (?!root|0)\S+", dockerfile, re.MULTILINE)
    assert not directives("user")  # nginx runs as the image's user


def nginx() -> str | None:
    return os.environ.get("NGINX") or shutil.which("nginx") or shutil.which("/usr/sbin/nginx")


@pytest.mark.skipif(nginx() is None, reason="no nginx (NGINX=… or Debian's nginx package)")
def test_nginx_accepts_the_configuration(tmp_path):
    # The replicas' names only resolve in compose: the loopback stands for them; the paths
    # the image provides (/tmp/nginx, mime.types) are made in tmp_path.
    binary = Path(nginx()).resolve()
    mime = binary.parents[2] / "etc" / "nginx" / "mime.types"
    (tmp_path / "mime.types").write_text(mime.read_text() if mime.is_file() else "types {}\n")
    text = NGINX_CONF.replace("/tmp/nginx", str(tmp_path))
    text = text.replace("/etc/nginx/mime.types", str(tmp_path / "mime.types"))
    for name in REPLICAS:
        text = text.replace(f"server {name}:", "server 127.0.0.1:")
    (tmp_path / "nginx.conf").write_text(text)
    result = subprocess.run(
        [
            str(binary),
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            "stderr",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
