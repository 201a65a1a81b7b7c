"""The compose stack of docker-compose.yml, started for a test on loopback ports.

The images are the ones `make images` (deploy/images.sh) built under docker-compose.yml's names;
nothing is built here. Debian's docker-compose (1.29) does not know two keys of the file that
Compose v2 reads (the top-level `name`, `build.additional_contexts`), so the stack runs from a
copy of the file without `name` and without the `build` sections: every service, variable, port,
volume, dependency and health check is the file's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
# Started for the test: the default stack, PostgreSQL, and the monitoring profile's Prometheus.
SERVICES = ["postgres", "backend", "frontend", "tensorboard", "prometheus"]
ADMIN_KEY = "stack-test-admin-key"
VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}")
LOCAL_IMAGES = {  # the images deploy/images.sh builds where no registry is reachable
    "POSTGRES_IMAGE": "flipkart/postgres:local",
    "PROMETHEUS_IMAGE": "flipkart/prometheus:local",
}


def docker() -> str:
    """The docker client deploy/engine.sh picks (DOCKER= overrides it)."""
    if os.environ.get("DOCKER"):
        return os.environ["DOCKER"]
    found = subprocess.run(
        ["bash", str(REPO / "deploy" / "engine.sh"), "client"], capture_output=True, text=True
    )
    return found.stdout.strip() or "docker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_for_v1(text: str) -> dict:
    """docker-compose.yml without what docker-compose 1.29 refuses (`name`, `build`); health is
    polled every second (as deploy/images.sh does) instead of every 30 s, the test and the
    command of each health check unchanged."""
    config = yaml.safe_load(text)
    config.pop("name", None)
    for service in config["services"].values():
        service.pop("build", None)
        service.setdefault("healthcheck", {})["interval"] = "1s"
    return config


def expand(text: str, env: dict[str, str]) -> str:
    """Compose's `${NAME:-default}` substitution."""
    return VARIABLE.sub(lambda m: env.get(m[1]) or m[2], text)


def missing(services: list[str] = SERVICES) -> str | None:
    """Why these services cannot start here, or None."""
    if shutil.which("docker-compose") is None:
        return "no docker-compose (Debian's package; .ci/run installs it with the engine)"
    client = docker()
    try:
        subprocess.run([client, "info"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return f"no Docker engine answers `{client} info` (bash deploy/engine.sh start)"
    config = compose_for_v1(COMPOSE_FILE.read_text())
    needed = [expand(config["services"][name]["image"], LOCAL_IMAGES) for name in services]
    absent = [
        image
        for image in needed
        if subprocess.run([client, "image", "inspect", image], capture_output=True).returncode
    ]
    if absent:
        return f"images not built: {', '.join(absent)} (make images)"
    return None


@dataclass
class Stack:
    folder: Path
    # STACK_PROJECT: .ci/run names it, to remove what a killed test would leave behind.
    project: str = field(
        default_factory=lambda: os.environ.get("STACK_PROJECT") or f"flipkart-stack-{os.getpid()}"
    )
    ports: dict[str, int] = field(default_factory=dict)
    # What `up` starts, and the profile it enables (the scale test: `scale`).
    services: list[str] = field(default_factory=lambda: list(SERVICES))
    profile: str = "monitoring"

    def __post_init__(self) -> None:
        self.ports = {
            name: free_port()
            for name in ("API_PORT", "UI_PORT", "TENSORBOARD_PORT", "PROMETHEUS_PORT", "PROXY_PORT")
        }
        self.file = self.folder / "docker-compose.v1.yml"
        self.file.write_text(yaml.safe_dump(compose_for_v1(COMPOSE_FILE.read_text())))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        self.env |= {k: str(v) for k, v in self.ports.items()}
        self.env |= LOCAL_IMAGES | {
            "BIND_ADDRESS": "127.0.0.1",
            "FLIPKART_ADMIN_KEY_SHA256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            "API_KEY": ADMIN_KEY,
            "POSTGRES_PASSWORD": "stack-test",
        }

    def url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    def compose(self, *args: str, timeout_s: float = 300, check: bool = True) -> str:
        command = ["docker-compose", "-f", str(self.file), "--project-directory", str(REPO)]
        command += ["-p", self.project, "--profile", self.profile, *args]
        result = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=timeout_s
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)}: exit {result.returncode}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def up(self) -> None:
        self.compose("up", "-d", "--no-build", *self.services)

    def health(self, service: str) -> str:
        (container,) = self.compose("ps", "-q", service).split()
        state = subprocess.run(
            [docker(), "inspect", "-f", "{{json .State}}", container],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if state.returncode:
            return "gone"
        state = json.loads(state.stdout)
        return (state.get("Health") or {}).get("Status") or state.get("Status", "?")

    def wait_healthy(self, services: list[str], timeout_s: float = 180) -> dict[str, float]:
        """Seconds each service took to report healthy; a clear error after `timeout_s`."""
        started, seen = time.monotonic(), {}
        while len(seen) < len(services):
            for service in services:
                if service not in seen and self.health(service) == "healthy":
                    seen[service] = round(time.monotonic() - started, 1)
            if time.monotonic() - started > timeout_s:
                late = {s: self.health(s) for s in services if s not in seen}
                raise TimeoutError(f"not healthy within {timeout_s} s: {late}\n{self.logs()}")
            time.sleep(1)
        return seen

    @contextlib.contextmanager
    def running(self) -> Iterator[float]:
        """The services up and healthy for the `with` body (it gets the seconds that took);
        the logs printed if anything fails; everything removed at the end however it ends."""
        try:
            started = time.monotonic()
            self.up()
            healthy = self.wait_healthy(self.services)
            seconds = round(time.monotonic() - started, 1)
            print(f"\n{self.profile} stack: up and healthy in {seconds} s: {healthy}")
            yield seconds
        except BaseException:
            print(self.logs())
            raise
        finally:
            self.down()

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40", timeout_s=60, check=False)

    def down(self) -> None:
        """Containers, networks and volumes (the PostgreSQL data too) removed."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)
