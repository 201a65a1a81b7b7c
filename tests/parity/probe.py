"""Run one part's LIVE preprocessing on every image of a folder and save the views.

    uv run --project <part's project> python tests/parity/probe.py PART IMAGES POLICY.json OUT.npz

PART is `torch` (the PyTorch lab's evaluation path), `tf` (the TensorFlow lab's input
pipeline), `backend` (the service's request path) or `contract` (the reference). Each is
imported from its own project's environment, so the comparison is of the code that runs.
"""

import json
import sys
from pathlib import Path

import numpy as np
from flipkart_contract import ResizePolicy


def view_function(part: str):
    if part == "torch":
        from flipkart_torch.data import load_eval_view

        return lambda path, policy: load_eval_view(path, policy)
    if part == "tf":
        from flipkart_tf.preprocess import load_image

        return lambda path, policy: load_image(str(path), policy)
    if part == "backend":
        from flipkart_api.preprocess import model_input

        return lambda path, policy: model_input(path.read_bytes(), policy, 10**9)
    if part == "contract":
        from flipkart_contract import model_view

        return model_view
    raise SystemExit(f"unknown part {part!r}")


def main() -> None:
    part, images, policy_file, out = sys.argv[1:5]
    policy = ResizePolicy.model_validate_json(Path(policy_file).read_text())
    view = view_function(part)
    views = {p.name: np.asarray(view(p, policy)) for p in sorted(Path(images).iterdir())}
    np.savez(out, **views)
    print(json.dumps({"part": part, "images": len(views)}))


if __name__ == "__main__":
    main()
