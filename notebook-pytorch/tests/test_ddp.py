"""The same entry point under torchrun: 2 CPU processes (gloo) end with identical weights."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from conftest import make_split, tiny_run_id

SCRIPT = """
import os, sys, torch
sys.path.insert(0, {tests!r})
from conftest import tiny_config, tiny_run_id
from flipkart_torch.train import train
torch.set_num_threads(1)
data, out = map(__import__("pathlib").Path, sys.argv[1:3])
result = train(tiny_config(data, out, epochs=1, batch_size=3, run_id=tiny_run_id()))
torch.save(result["model"].state_dict(), out / f"rank{{os.environ['RANK']}}.pt")
"""


def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    data = make_split(tmp_path / "data", {"train": 4, "val": 2, "test": 2})
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_port", "29517", str(script), str(data), str(tmp_path),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    assert (tmp_path / "runs" / tiny_run_id() / "metrics.json").is_file()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
