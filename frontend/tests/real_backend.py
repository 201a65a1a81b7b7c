"""The real backend for the tests that must not fake it: `flipkart-api serve` started in the
backend's own uv environment on 127.0.0.1, serving the committed production model
(artifacts/registry.json), with its prediction store in a temporary folder; or, from
`production_artifacts`, the same model alone or with a listing (the contract's tiny text model
fused with it), so that titles and descriptions are read or not.

No test helper here: tests import `RealBackend`, `production_artifacts` and `missing` (why it
cannot run, or None).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
from fake_backend import free_port
from flipkart_contract import ModelCard, read_json_object, write_json_atomic
from flipkart_contract.testing import LISTING_ID, registry_dict, write_listing

REPO = Path(__file__).resolve().parents[2]
UV = os.environ.get("UV") or shutil.which("uv") or str(REPO / ".tools" / "bin" / "uv")
REGISTRY = REPO / "artifacts" / "registry.json"
ADMIN_KEY = "real-backend-admin-key"  # configured as its sha256; reads the private statistics


def missing() -> str | None:
    if not Path(UV).is_file():
        return f"no uv at {UV}: it starts the backend in its own environment (`make uv`)"
    if not REGISTRY.is_file():
        return "no production model committed (artifacts/registry.json; `make promote`)"
    return None


def production_artifacts(folder: Path, listing: bool) -> Path:
    """An artifacts folder in `folder`: the committed production model (copied), and with
    `listing` a listing fusing it with the contract's tiny text model (which tells each class by
    the words of its name: "watches" in a title makes it Watches); registry.json names the
    listing, or none (whatever the committed registry names)."""
    production = read_json_object(REGISTRY)["production"]
    root = folder / "artifacts"
    shutil.copytree(REPO / "artifacts" / "models" / production, root / "models" / production)
    registry = registry_dict(production, [production])
    if listing:
        write_listing(root, production)
        registry["listing"] = LISTING_ID
    write_json_atomic(root / "registry.json", registry)
    return root


SECOND_MODEL = "20261201-035700_efficientnet_lite0_finetune"


def two_model_artifacts(folder: Path) -> Path:
    """An artifacts folder serving two models: the committed production model and, as
    `SECOND_MODEL`, the same network behind a centre crop (75 %) instead of the production's
    padding, so that it sees other pixels and answers otherwise; production stays production."""
    root = production_artifacts(folder, listing=False)
    production = read_json_object(root / "registry.json")["production"]
    second = root / "models" / SECOND_MODEL
    shutil.copytree(root / "models" / production, second)
    card = read_json_object(second / "card.json")
    card["run_id"] = SECOND_MODEL
    card["resize_policy"] |= {"method": "crop", "crop_pct": 0.75}
    write_json_atomic(second / "card.json", card)
    write_json_atomic(root / "registry.json", registry_dict(production, [production, SECOND_MODEL]))
    return root


class RealBackend:
    def __init__(
        self,
        folder: Path,
        artifacts: Path = REPO / "artifacts",
        env: dict[str, str] | None = None,
    ) -> None:
        self.folder = folder
        self.artifacts = artifacts
        self.extra_env = env or {}  # FLIPKART_* settings beside the ones set here
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = folder / "backend.log"

    def start(self, timeout_s: float = 240) -> RealBackend:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLIPKART_", "VIRTUAL_"))}
        env |= {
            "FLIPKART_ARTIFACTS_ROOT": str(self.artifacts),
            "FLIPKART_DATABASE_PATH": str(self.folder / "predictions.sqlite3"),
            "FLIPKART_INFERENCE_THREADS": "1",
            "FLIPKART_ADMIN_KEY_SHA256": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            **self.extra_env,
        }
        command = [UV, "run", "--project", str(REPO / "backend"), "--locked", "--quiet"]
        command += ["flipkart-api", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s  # a first run may have to create the env
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the backend did not start:\n" + self.log()[-3000:])
            time.sleep(0.5)
        return self

    def __enter__(self) -> RealBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def stats(self) -> dict:
        """`GET /v1/stats` with the admin key (the statistics are private by default)."""
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.get(f"{self.url}/v1/stats", headers=headers, timeout=10).json()

    def production_card(self) -> ModelCard:
        models = httpx.get(f"{self.url}/v1/models", timeout=10).json()
        (entry,) = [m for m in models["models"] if m["run_id"] == models["production"]]
        return ModelCard.model_validate(entry["card"])

    def production_classes(self) -> list[str]:
        return self.production_card().classes
