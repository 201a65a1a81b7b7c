"""Our MambaVision against NVIDIA's, on a golden fixture: same weights, same outputs.

`fixtures/mambavision_golden.safetensors` was written by `tools/make_mambavision_golden.py`
(`make mambavision-golden`) from NVIDIA's own model code (the `mambavision` wheel on PyPI, with a
float64 reference scan in place of the CUDA kernel): for a reduced-width configuration of each
layout family (T, T2, S, B, L), seeded weights, two inputs (64x64, and 72x56 whose stage maps
need window padding), the float64 logits and the four stage maps. No network, no wheel here.

Tolerances, on max |ours - reference| / max |reference| per tensor (an element-wise relative
error is meaningless where a value crosses zero):
- float64: 1e-8. Measured <= 2.1e-15 on the Intel Xeon the fixture was written on (a few
  float64 rounding units), but up to 1.1e-9 on an AMD EPYC: there torch's CPU kernels sum in
  other orders, and these seeded random-weight networks amplify rounding differences through
  their depth (a 1e-12 bound failed CI there). 1e-8 still fails a single weight nudged by 1e-3
  (4.7e-6 on the logits, see below) by a factor of ~500.
- float32: 1e-5. Measured <= 1.6e-6: float32's rounding unit (6e-8) accumulated over ~30
  layers; 1e-5 leaves a margin of 6 while a wrong weight or layer moves outputs by O(1).
"""

from __future__ import annotations

import flipkart_torch.models.mambavision  # noqa: F401  (registers mambavision_* with timm)
import pytest
import timm
import torch
from conftest import GOLDEN, golden_state, read_golden

TOLERANCE = {torch.float64: 1e-8, torch.float32: 1e-5}
FAMILIES = ("t", "t2", "s", "b", "l")


@pytest.fixture(scope="module")
def golden() -> tuple[dict[str, torch.Tensor], dict]:
    return read_golden()


def family_model(golden, family: str, dtype: torch.dtype) -> torch.nn.Module:
    """Our model at the family's reduced configuration, loaded strictly with its weights."""
    tensors, description = golden
    spec = description["families"][family]
    model = timm.create_model(
        spec["variant"], num_classes=description["num_classes"], **spec["config"]
    )
    model.load_state_dict(golden_state(tensors, family), strict=True)
    return model.to(dtype).eval()


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    assert ours.shape == reference.shape
    return ((ours.double() - reference).abs().max() / reference.abs().max()).item()


def test_fixture_is_small_and_covers_every_family(golden) -> None:
    tensors, description = golden
    assert GOLDEN.stat().st_size < 2_000_000
    assert tuple(description["families"]) == FAMILIES
    assert "mambavision==1.2.0" in description["source"]
    assert all(isinstance(v, torch.Tensor) for v in tensors.values())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("family", FAMILIES)
def test_logits_and_stage_maps_match_nvidia(golden, family: str, dtype: torch.dtype) -> None:
    tensors, _ = golden
    model = family_model(golden, family, dtype)
    errors = {}
    for key in ("square", "odd"):
        x = tensors[f"input.{key}"].to(dtype)
        with torch.no_grad():
            logits = model(x)
            maps = model.forward_intermediates(x, intermediates_only=True)
        errors[f"{key}.logits"] = relative_error(logits, tensors[f"{family}.{key}.logits"])
        for i, stage in enumerate(maps):
            errors[f"{key}.stage{i}"] = relative_error(stage, tensors[f"{family}.{key}.stage{i}"])
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] <= TOLERANCE[dtype], f"{family} {dtype}: {worst} off by {errors[worst]}"


def nudge_one_weight(model: torch.nn.Module) -> None:
    with torch.no_grad():
        model.levels[2].blocks[-1].mixer.qkv.weight[0, 0] += 1e-3


def swap_two_blocks(model: torch.nn.Module) -> None:
    blocks = model.levels[2].blocks
    blocks[0], blocks[1] = blocks[1], blocks[0]


@pytest.mark.parametrize(
    ("mutate", "tolerance"),
    [(nudge_one_weight, TOLERANCE[torch.float64]), (swap_two_blocks, TOLERANCE[torch.float32])],
)
def test_the_comparison_catches_a_changed_model(golden, mutate, tolerance: float) -> None:
    """The test can fail: one weight nudged by 1e-3 (4.7e-6 on the logits, beyond float64's
    tolerance), or two mixer blocks run in the other order (beyond float32's)."""
    tensors, _ = golden
    model = family_model(golden, "t", torch.float64)
    mutate(model)
    with torch.no_grad():
        logits = model(tensors["input.square"].double())
    assert relative_error(logits, tensors["t.square.logits"]) > tolerance
