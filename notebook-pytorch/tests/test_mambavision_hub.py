"""The pretrained path end to end: the Hugging Face hub (a loopback imitation), `--weights` with
NVIDIA's `.pth.tar`, and the message when no hub answers. Only 127.0.0.1 is ever contacted.

The hub downloads run in a fresh Python process, as a user's would: huggingface_hub reads
`HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE` once, when it is imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from conftest import golden_state, read_golden

REPO_ID = "nvidia/MambaVision-T-1K"
FILENAME = "mambavision_tiny_1k.pth.tar"  # mambavision_t's pretrained cfg, as NVIDIA publish it
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubImitation(ThreadingHTTPServer):
    """What `hf_hub_download` asks the hub for an LFS file, served on 127.0.0.1:

    - HEAD `/{repo}/resolve/{revision}/{file}`: 302 to the file's storage, with `X-Repo-Commit`,
      `X-Linked-Etag` (the sha256) and `X-Linked-Size`, as huggingface.co answers for LFS files;
      404 with `X-Error-Code: EntryNotFound` for another file;
    - GET `/lfs/{sha256}`: the bytes, with `Content-Length` and `ETag` (the CDN's part).

    huggingface_hub follows a redirect to the hub's own origin but not to another one (a CDN:
    the metadata is on the 302 itself), so storage is a second server on another port.
    """

    def __init__(
        self, files: dict[str, bytes], requests: list[str], storage: str | None = None
    ) -> None:
        self.files = files  # "org/repo/filename" -> content
        self.requests = requests  # "METHOD :port/path", in order, shared with the storage
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.storage = storage or self.endpoint

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class HubHandler(BaseHTTPRequestHandler):
    server: HubImitation

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self, send_body: bool) -> None:
        self.server.requests.append(f"{self.command} :{self.server.server_address[1]}{self.path}")
        blobs = {hashlib.sha256(v).hexdigest(): v for v in self.server.files.values()}
        parts = self.path.split("?")[0].strip("/").split("/")
        if len(parts) == 5 and parts[2] == "resolve":
            content = self.server.files.get(f"{parts[0]}/{parts[1]}/{parts[4]}")
            if content is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            sha = hashlib.sha256(content).hexdigest()
            self.send_response(302)
            self.send_header("Location", f"{self.server.storage}/lfs/{sha}")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(content)))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif len(parts) == 2 and parts[0] == "lfs" and parts[1] in blobs:
            content = blobs[parts[1]]
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.send_header("ETag", f'"{parts[1]}"')
            self.end_headers()
            if send_body:
                self.wfile.write(content)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)


def nvidia_checkpoint(state: dict[str, torch.Tensor], path: Path, prefix: str = "") -> Path:
    """A `.pth.tar` as NVIDIA's training script saves it: the weights under `state_dict`, beside
    the epoch and the argparse namespace of the run."""
    args = argparse.Namespace(model="mamba_vision_T", lr=0.0008, epochs=310)
    weights = {prefix + k: v for k, v in state.items()}
    torch.save({"state_dict": weights, "epoch": 309, "args": args, "metric": 82.3}, path)
    return path


@pytest.fixture(scope="module")
def t_family() -> tuple[dict, dict[str, torch.Tensor]]:
    """A tiny MambaVision-T (the golden fixture's reduced T): its configuration and weights."""
    tensors, description = read_golden()
    return description["families"]["t"]["config"], golden_state(tensors, "t")


@pytest.fixture
def hub(tmp_path: Path, t_family) -> Iterator[HubImitation]:
    """The hub, serving the tiny T under NVIDIA's repo id and file name, and its storage."""
    path = nvidia_checkpoint(t_family[1], tmp_path / FILENAME)
    files, requests = {f"{REPO_ID}/{FILENAME}": path.read_bytes()}, []
    storage = HubImitation(files, requests)
    hub = HubImitation(files, requests, storage=storage.endpoint)
    for server in (storage, hub):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield hub
    for server in (hub, storage):
        server.shutdown()
        server.server_close()


# Builds the lab's MambaVision-T at the given configuration with pretrained=True, through the
# same factory `flipkart-torch train --pretrained` uses; prints what happened as JSON.
LOAD_PRETRAINED = """
import json, sys, time
import torch
from flipkart_torch.models.factory import create_model

config, out = json.loads(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
try:
    model = create_model("mambavision_t", num_classes=5, pretrained=True, **config)
except RuntimeError as error:
    print(json.dumps({"error": str(error), "seconds": time.perf_counter() - start}))
else:
    torch.save(model.state_dict(), out)
    print(json.dumps({"weights_source": model.weights_source}))
"""


def load_pretrained_in_a_fresh_process(endpoint: str, tmp_path: Path, config: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.pop("HF_HUB_OFFLINE", None)
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    env.pop("HF_HUB_CACHE", None)
    out = tmp_path / "loaded.pt"
    done = subprocess.run(
        [sys.executable, "-c", LOAD_PRETRAINED, json.dumps(config), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if out.exists():
        result["state"] = torch.load(out, weights_only=True)
    return result


def test_pretrained_weights_come_from_the_hub(hub: HubImitation, tmp_path: Path, t_family):
    config, state = t_family
    result = load_pretrained_in_a_fresh_process(hub.endpoint, tmp_path, config)
    assert result.get("weights_source") == f"hf:{REPO_ID}", result
    for key, value in state.items():
        torch.testing.assert_close(result["state"][key], value, rtol=0, atol=0, msg=key)
    sha = hashlib.sha256((tmp_path / FILENAME).read_bytes()).hexdigest()
    hub_port, storage_port = hub.server_address[1], int(hub.storage.rsplit(":", 1)[1])
    head = f"HEAD :{hub_port}/{REPO_ID}/resolve/main/{FILENAME}"
    # our probe (no retries), hf_hub_download's own HEAD, then the file from storage
    assert hub.requests == [head, head, f"GET :{storage_port}/lfs/{sha}"]
    cached = tmp_path / "hf_home" / "hub" / "models--nvidia--MambaVision-T-1K" / "snapshots"
    assert (cached / COMMIT / FILENAME).is_file()


def test_unreachable_hub_fails_fast_and_says_to_pass_weights(tmp_path: Path, t_family):
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = load_pretrained_in_a_fresh_process(closed, tmp_path, t_family[0])
    assert "error" in result, result
    message = result["error"]
    assert f"{REPO_ID}" in message and FILENAME in message and closed in message
    assert "--weights PATH" in message
    # One refused connection, no retries (hf_hub_download alone retries for ~25 s).
    assert result["seconds"] < 5, result["seconds"]


def test_weights_flag_trains_from_nvidias_checkpoint_file(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`flipkart-torch train --weights mambavision_tiny_1k.pth.tar`: the full-size file in
    NVIDIA's format (`state_dict` with `module.` prefixes, beside the epoch and the run's
    argparse namespace), 1000-class head, into a 3-class MambaVision-T trained one epoch."""
    from flipkart_torch.cli import main
    from flipkart_torch.models.factory import create_model

    state = create_model("mambavision_t", num_classes=1000).state_dict()  # random weights
    path = nvidia_checkpoint(state, tmp_path / FILENAME, prefix="module.")
    out = tmp_path / "out"
    argv = ["train", "--architecture", "mambavision_t", "--weights", str(path)]
    argv += ["--training-mode", "freeze", "--epochs", "1", "--image-size", "32"]
    argv += [
        "--batch-size",
        "6",
        "--limit-per-class",
        "2",
        "--splits-csv",
        str(tiny_data / "splits.csv"),
    ]
    argv += ["--images-dir", str(tiny_data / "images"), "--runs-dir", str(out / "runs")]
    argv += ["--checkpoints-dir", str(out / "checkpoints"), "--cache-dir", "", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0, capsys.readouterr().err
    (metrics_path,) = (out / "runs").glob("*/metrics.json")
    assert json.loads(metrics_path.read_text())["weights_source"] == f"file:{FILENAME}"
    (best,) = (out / "checkpoints").glob("*/best.pt")
    trained = torch.load(best, map_location="cpu", weights_only=False)["model"]
    key = "levels.2.blocks.0.mixer.A_log"  # frozen backbone: still the file's weights
    torch.testing.assert_close(trained[key], state[key], rtol=0, atol=0)
    assert trained["head.weight"].shape == (3, 640)
