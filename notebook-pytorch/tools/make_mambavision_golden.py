"""Write tests/fixtures/mambavision_golden.safetensors: NVIDIA's MambaVision on seeded weights.

Dev-only (`make mambavision-golden`; needs PyPI). It downloads the `mambavision` wheel from
PyPI into a temporary folder (pinned version and sha256), imports NVIDIA's model module from
there with `mamba_ssm` replaced by the float64 reference selective scan below (the CUDA kernel
does not run on CPU), builds a reduced-width configuration of each layout family (T, T2, S, B, L),
seeds every parameter and buffer, and records in float64 the logits and the four stage maps for
two inputs. The fixture holds numbers only: weights, inputs, outputs and, as metadata, the
configurations. NVIDIA's code (NVIDIA Source Code License-NC) is never copied into this
repository; it only runs here, from the temporary folder.

    cd notebook-pytorch && uv run --locked --with einops==0.8.1 --with pip \
        python tools/make_mambavision_golden.py

`tests/test_mambavision_golden.py` loads each family's state dict strictly into our model.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

WHEEL = "mambavision==1.2.0"
WHEEL_SHA256 = "3a811c581d925cef1862d35312478dfbdf920e6128859eef1678f864fb1dc313"
FIXTURE = (
    Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mambavision_golden.safetensors"
)
SEED = 2407_08083
NUM_CLASSES = 5
SMALL_HEADS = (2, 4, 8, 16)  # T, T2, S, B
LARGE_HEADS = (4, 8, 16, 32)  # L, L2, L3

# Reduced width (dim 4, or 8 where L's 16/32 heads need it; MLP ratio 2 instead of 4) and
# reduced stage-3/4 depths that keep each family's parity (it decides which blocks are
# attention: the second half, the middle block of an odd stage staying a mixer), its stage-1/2
# depths, heads and layer scale. Windows are reduced so that the two inputs below cover a map
# filling one window exactly, several windows exactly, padding into one window and padding
# into several windows. L2, L3 and the 21K variants share L's layout (other depths, windows
# and input size only).
# family: our variant, reduced dim, depths, heads, windows, layer scale (published in comments)
FAMILIES: dict[str, tuple[str, int, tuple, tuple, tuple, float | None]] = {
    # dim 80, depths (1, 3, 8, 4), windows (8, 8, 14, 7)
    "t": ("mambavision_t", 4, (1, 3, 4, 2), SMALL_HEADS, (8, 8, 4, 2), None),
    # dim 80, depths (1, 3, 11, 4)
    "t2": ("mambavision_t2", 4, (1, 3, 5, 2), SMALL_HEADS, (8, 8, 2, 2), None),
    # dim 96, depths (3, 3, 7, 5)
    "s": ("mambavision_s", 4, (3, 3, 3, 3), SMALL_HEADS, (8, 8, 3, 3), None),
    # dim 128, depths (3, 3, 10, 5), layer scale 1e-5
    "b": ("mambavision_b", 4, (3, 3, 4, 3), SMALL_HEADS, (8, 8, 4, 2), 1e-5),
    # dim 196, depths (3, 3, 10, 5), layer scale 1e-5, heads (4, 8, 16, 32)
    "l": ("mambavision_l", 8, (3, 3, 2, 3), LARGE_HEADS, (8, 8, 2, 2), 1e-5),
}
COMMON = {"in_dim": 8, "mlp_ratio": 2.0}
# (batch, height, width): 64x64 gives 4x4 / 2x2 maps in stages 3 / 4, 72x56 gives 5x4 / 3x2.
INPUTS = {"square": (2, 64, 64), "odd": (1, 72, 56)}


def family_config(family: str) -> dict[str, object]:
    """The MambaVision keyword arguments of a family's reduced configuration."""
    _, dim, depths, heads, windows, layer_scale = FAMILIES[family]
    return {
        **COMMON,
        "dim": dim,
        "depths": depths,
        "num_heads": heads,
        "window_size": windows,
        "layer_scale": layer_scale,
    }


def reference_selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool | None = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """mamba_ssm's selective scan (B, C of shape (batch, n, L)) as the float64 recurrence
    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,  y_t = C_t . h_t + D u_t,  y *= silu(z)."""
    f64 = torch.float64
    dt = delta.to(f64) + (0.0 if delta_bias is None else delta_bias.to(f64)[None, :, None])
    dt = F.softplus(dt) if delta_softplus else dt
    x, a, b, c = u.to(f64), A.to(f64), B.to(f64), C.to(f64)
    h = torch.zeros(x.shape[0], x.shape[1], a.shape[1], dtype=f64)
    outputs = []
    for t in range(x.shape[2]):
        step = dt[:, :, t, None]
        h = torch.exp(step * a) * h + step * b[:, None, :, t] * x[:, :, t, None]
        outputs.append(torch.einsum("bdn,bn->bd", h, c[:, :, t]))
    y = torch.stack(outputs, dim=2)
    if D is not None:
        y = y + x * D.to(f64)[None, :, None]
    if z is not None:
        y = y * F.silu(z.to(f64))
    y = y.to(u.dtype)
    return (y, h.to(u.dtype)) if return_last_state else y


def fetch_wheel(folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(folder),
            WHEEL,
        ],
        check=True,
    )
    (wheel,) = folder.glob("mambavision-*.whl")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def import_nvidia_module(wheel: Path, folder: Path) -> types.ModuleType:
    """NVIDIA's `mambavision.models.mamba_vision`, run from the unpacked wheel."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder / "site")
    stub = types.ModuleType("mamba_ssm.ops.selective_scan_interface")
    stub.selective_scan_fn = reference_selective_scan
    for name in ("mamba_ssm", "mamba_ssm.ops"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules[stub.__name__] = stub
    sys.path.insert(0, str(folder / "site"))
    return importlib.import_module("mambavision.models.mamba_vision")


def seed_state(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every float tensor drawn at random (O(1) activations), so that no term of the network
    is hidden by the default initialisation (zero biases, unit norms, 1e-5 layer scales)."""
    state = {}
    for name, value in model.state_dict().items():
        if not value.is_floating_point():
            state[name] = value.clone()
            continue

        def draw(shape: torch.Size = value.shape) -> torch.Tensor:
            return torch.randn(shape, generator=generator)

        if name.endswith("running_var"):
            new = 0.5 + torch.rand(value.shape, generator=generator)
        elif name.endswith("A_log"):
            new = torch.log(1 + 7 * torch.rand(value.shape, generator=generator))
        elif value.dim() >= 2:
            new = draw() * value[0].numel() ** -0.5
        elif name.endswith("weight") or ".gamma" in name:
            new = 1 + 0.2 * draw()
        else:
            new = 0.2 * draw()
        state[name] = new.to(torch.float32)
    return state


def run_reference(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Logits and the four stage maps (each stage's blocks' output, before its downsampling)."""
    maps: list[torch.Tensor] = []
    hooks = []
    for level in model.levels:
        if level.downsample is not None:
            hooks.append(
                level.downsample.register_forward_pre_hook(
                    lambda _m, args: maps.append(args[0].detach().clone())
                )
            )
        else:
            hooks.append(
                level.register_forward_hook(lambda _m, _a, out: maps.append(out.detach().clone()))
            )
    with torch.no_grad():
        logits = model(x)
    for hook in hooks:
        hook.remove()
    return {"logits": logits, **{f"stage{i}": m for i, m in enumerate(maps)}}


def build(args: argparse.Namespace) -> None:
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        nvidia = import_nvidia_module(args.wheel or fetch_wheel(folder), folder)
        tensors: dict[str, torch.Tensor] = {}
        inputs = {
            key: torch.randn((b, 3, h, w), generator=generator) for key, (b, h, w) in INPUTS.items()
        }
        for key, x in inputs.items():
            tensors[f"input.{key}"] = x
        for family in FAMILIES:
            config = family_config(family)
            model = nvidia.MambaVision(num_classes=NUM_CLASSES, drop_path_rate=0.0, **config)
            state = seed_state(model, generator)
            model.load_state_dict(state, strict=True)
            model = model.double().eval()
            for name, value in state.items():
                tensors[f"{family}.state.{name}"] = value
            for key, x in inputs.items():
                for name, value in run_reference(model, x.double()).items():
                    tensors[f"{family}.{key}.{name}"] = value
            print(f"{family}: {sum(v.numel() for v in state.values())} weights")
    description = {
        "source": f"{WHEEL} (sha256 {WHEEL_SHA256}), mamba_ssm replaced by a float64 scan",
        "generator": "notebook-pytorch/tools/make_mambavision_golden.py",
        "num_classes": NUM_CLASSES,
        "families": {
            family: {"variant": FAMILIES[family][0], "config": family_config(family)}
            for family in FAMILIES
        },
    }
    # One metadata entry: safetensors writes several in no fixed order (the file would differ).
    metadata = {"golden": json.dumps(description)}
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(FIXTURE), metadata=metadata)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 2**20:.2f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a downloaded mambavision wheel (else PyPI)")
    build(parser.parse_args())


if __name__ == "__main__":
    main()
