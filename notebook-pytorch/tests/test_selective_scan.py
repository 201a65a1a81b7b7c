"""The chunked selective scan equals the sequential loop (values, gradients) and stays finite."""

from __future__ import annotations

import functools
import math

import pytest
import torch
from flipkart_torch.ops import selective_scan as scan_module
from flipkart_torch.ops.selective_scan import (
    CHUNK,
    blocked_scan_,
    chunked_linear_scan,
    scan_implementation,
    selective_scan_fn,
    selective_scan_reference,
    selective_scan_torch,
)


def make_inputs(batch, d, n, length, bc="token", dtype=torch.float64, seed=0, delta_shift=0.0):
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=dtype)

    if bc == "token":
        b, c = randn(batch, n, length), randn(batch, n, length)
    elif bc == "grouped":
        b, c = randn(batch, 2, n, length), randn(batch, 2, n, length)
    else:
        b, c = randn(d, n), randn(d, n)
    return {
        "u": randn(batch, d, length),
        "delta": randn(batch, d, length) + delta_shift,
        "A": -torch.rand(d, n, generator=g, dtype=dtype) * 4 - 0.05,
        "B": b,
        "C": c,
        "D": randn(d),
        "z": randn(batch, d, length),
        "delta_bias": randn(d),
    }


def test_reference_is_the_recurrence_on_a_hand_computed_case() -> None:
    # d = n = 1, two tokens: x1 = dt1*B1*u1, x2 = e^(dt2*A)*x1 + dt2*B2*u2, y = C*x + D*u
    u = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    delta = torch.tensor([[[0.5, 0.25]]], dtype=torch.float64)
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([[[3.0, -1.0]]], dtype=torch.float64)
    C = torch.tensor([[[2.0, 4.0]]], dtype=torch.float64)
    D = torch.tensor([0.5], dtype=torch.float64)
    x1 = 0.5 * 3.0 * 1.0
    x2 = math.exp(0.25 * -2.0) * x1 + 0.25 * -1.0 * 2.0
    expected = torch.tensor([[[2.0 * x1 + 0.5, 4.0 * x2 + 1.0]]], dtype=torch.float64)
    for scan in (selective_scan_reference, selective_scan_torch):
        torch.testing.assert_close(scan(u, delta, A, B, C, D), expected)


@pytest.mark.parametrize(
    ("batch", "d", "n", "length", "bc"),
    [
        (2, 6, 4, 37, "token"),  # length not a multiple of the chunk
        (1, 4, 3, CHUNK, "token"),  # exactly one chunk
        (2, 3, 2, 1, "token"),  # a single token
        (2, 8, 8, 4 * CHUNK**3 + 3, "token"),  # three recursion levels plus a remainder
        (2, 4, 3, 21, "grouped"),
        (2, 3, 2, 9, "constant"),
    ],
)
@pytest.mark.parametrize("path", ["dispatch", "chunked"])
def test_values_and_gradients_equal_the_sequential_loop(batch, d, n, length, bc, path) -> None:
    # dispatch: on CPU the streamed scan's autograd function for per-token B and C, else the
    # chunked scan; chunked: that one always (CUDA's, and ONNX export's)
    inputs = {k: v.requires_grad_() for k, v in make_inputs(batch, d, n, length, bc).items()}
    grads = []
    outputs = []
    ours = selective_scan_torch
    if path == "chunked":
        ours = functools.partial(scan_module._run, scan_module._chunked_core)
    for scan in (ours, selective_scan_reference):
        y, last = scan(**inputs, delta_softplus=True, return_last_state=True)
        weight = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
        loss = (y * weight).sum() + last.square().sum()
        grads.append(torch.autograd.grad(loss, list(inputs.values())))
        outputs.append((y.detach(), last.detach()))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-10)
    for name, ours, ref in zip(inputs, grads[0], grads[1], strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9, msg=f"gradient of {name}")


@pytest.mark.parametrize("block_elements", [1, 100])  # one token per block, a few
def test_streamed_gradients_across_blocks_equal_the_sequential_loop(
    monkeypatch, block_elements
) -> None:
    monkeypatch.setattr(scan_module, "_BLOCK_ELEMENTS", block_elements)
    inputs = {k: v.requires_grad_() for k, v in make_inputs(2, 5, 3, 23).items()}
    grads = []
    for scan in (selective_scan_torch, selective_scan_reference):
        y, last = scan(**inputs, delta_softplus=True, return_last_state=True)
        loss = (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)).sum()
        grads.append(torch.autograd.grad(loss + last.square().sum(), list(inputs.values())))
    for name, ours, ref in zip(inputs, grads[0], grads[1], strict=True):
        torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9, msg=f"gradient of {name}")


def test_float32_matches_the_float64_loop_and_keeps_dtype() -> None:
    inputs = make_inputs(3, 16, 8, 196)
    expected = selective_scan_reference(**inputs, delta_softplus=True)
    got = selective_scan_torch(**{k: v.float() for k, v in inputs.items()}, delta_softplus=True)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_half_inputs_are_computed_in_float32_and_returned_in_half() -> None:
    inputs = make_inputs(1, 4, 2, 10, dtype=torch.float32)
    half = {k: v.to(torch.bfloat16) for k, v in inputs.items()}
    got = selective_scan_torch(**half)
    assert got.dtype == torch.bfloat16
    expected = selective_scan_reference(**{k: v.float() for k, v in half.items()})
    torch.testing.assert_close(got.float(), expected, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_sequences_stay_finite_with_extreme_decays(dtype) -> None:
    batch, d, n, length = 1, 3, 2, 4096
    g = torch.Generator().manual_seed(1)
    # 30 % of the tokens forget everything (decay e^-500), the rest barely decay at all:
    # a naive exp(-cumsum) formulation overflows here.
    strong = torch.rand(batch, d, length, generator=g) < 0.3
    delta = torch.where(
        strong, torch.tensor(50.0), torch.rand(batch, d, length, generator=g) * 1e-3
    )
    inputs = make_inputs(batch, d, n, length, dtype=torch.float64, seed=2)
    inputs.update(delta=delta.double(), A=-torch.rand(d, n, generator=g).double() * 10 - 0.01)
    del inputs["z"], inputs["delta_bias"]
    expected = selective_scan_reference(**inputs)
    got = selective_scan_torch(**{k: v.to(dtype) for k, v in inputs.items()})
    assert torch.isfinite(got).all()
    tolerance = 1e-9 if dtype == torch.float64 else 1e-3
    scale = expected.abs().max()
    assert (got.double() - expected).abs().max() <= tolerance * scale


def test_float32_gradients_stay_finite_with_extreme_decays() -> None:
    inputs = make_inputs(2, 4, 3, 64, seed=4)
    inputs["delta"] = torch.where(inputs["delta"] > 0.5, 60.0, 1e-3)  # e^-(60*|A|) steps
    del inputs["z"], inputs["delta_bias"]
    grads = []
    for scan, dtype in ((selective_scan_torch, torch.float32), (selective_scan_reference, None)):
        leaves = {k: (v.to(dtype) if dtype else v).requires_grad_() for k, v in inputs.items()}
        y = scan(**leaves)
        grads.append(torch.autograd.grad(y.square().sum(), list(leaves.values())))
    for name, ours, ref in zip(inputs, grads[0], grads[1], strict=True):
        assert torch.isfinite(ours).all(), name
        scale = ref.abs().max()
        assert (ours.double() - ref).abs().max() <= 1e-3 * scale, name


def test_no_decay_accumulates_exactly() -> None:
    # delta = 0: x stays 0; A = 0: x is the running sum of delta*B*u
    inputs = make_inputs(1, 2, 3, 50)
    inputs["A"] = torch.zeros_like(inputs["A"])
    del inputs["z"], inputs["delta_bias"]
    torch.testing.assert_close(selective_scan_torch(**inputs), selective_scan_reference(**inputs))


def test_chunked_linear_scan_equals_a_cumulative_product_recurrence() -> None:
    g = torch.Generator().manual_seed(3)
    log_decay = -torch.rand(2, 23, 5, generator=g, dtype=torch.float64)
    inputs = torch.randn(2, 23, 5, generator=g, dtype=torch.float64)
    state = torch.zeros(2, 5, dtype=torch.float64)
    expected = []
    for t in range(23):
        state = log_decay[:, t].exp() * state + inputs[:, t]
        expected.append(state)
    for chunk in (2, 4, 8, 32):
        got = chunked_linear_scan(log_decay, inputs, chunk=chunk)
        torch.testing.assert_close(got, torch.stack(expected, 1))
        log2_decay = log_decay * math.log2(math.e)  # the same decays, in log2 units
        got = chunked_linear_scan(log2_decay, inputs, chunk=chunk, base2=True)
        torch.testing.assert_close(got, torch.stack(expected, 1))


@pytest.mark.parametrize("length", [*range(1, 30), 196, 199, 1000])
def test_blocked_scan_equals_the_recurrence_in_place(length) -> None:
    g = torch.Generator().manual_seed(length)
    decay = torch.rand(2, length, 5, generator=g, dtype=torch.float64)
    inputs = torch.randn(2, length, 5, generator=g, dtype=torch.float64)
    state = torch.zeros(2, 5, dtype=torch.float64)
    expected = []
    for t in range(length):
        state = decay[:, t] * state + inputs[:, t]
        expected.append(state)
    got = blocked_scan_(decay.clone(), inputs)
    assert got.data_ptr() == inputs.data_ptr()  # in place: the inputs became the states
    torch.testing.assert_close(got, torch.stack(expected, 1), rtol=1e-12, atol=1e-12)


INFERENCE_CASES = [
    (2, 6, 4, 37, "token"),
    (1, 4, 3, 1, "token"),
    (2, 3, 2, 2, "token"),
    (3, 16, 8, 196, "token"),  # MambaVision's 14x14 windows: 14 chunks of 14
    (2, 8, 8, 1000, "token"),  # two levels of chunks plus remainders
    (2, 4, 3, 21, "grouped"),
    (2, 3, 2, 9, "constant"),
]


def _inference(path: str, inputs: dict):
    """The CPU inference scan (bias, softplus, D and z inside) or the blocked core in `_run`."""
    if path == "streamed":
        return scan_module._run_streamed(**inputs, delta_softplus=True, return_last_state=True)
    core = scan_module._blocked_core
    return scan_module._run(core, **inputs, delta_softplus=True, return_last_state=True)


@pytest.mark.parametrize("path", ["streamed", "blocked"])
@pytest.mark.parametrize(("batch", "d", "n", "length", "bc"), INFERENCE_CASES)
@pytest.mark.parametrize("block_elements", [1, 100, 1 << 17])  # streamed: 1 token, a few, all
def test_inference_paths_equal_the_sequential_loop(
    monkeypatch, path, batch, d, n, length, bc, block_elements
) -> None:
    if path == "blocked" and block_elements != 1 << 17:
        pytest.skip("the block size is the streamed scan's")
    monkeypatch.setattr(scan_module, "_BLOCK_ELEMENTS", block_elements)
    inputs = make_inputs(batch, d, n, length, bc)
    with torch.no_grad():
        got = _inference(path, inputs)
    expected = selective_scan_reference(**inputs, delta_softplus=True, return_last_state=True)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("drop", [(), ("D", "z", "delta_bias")])
def test_streamed_scan_without_optional_inputs_or_softplus(drop) -> None:
    inputs = {k: v for k, v in make_inputs(2, 6, 4, 37).items() if k not in drop}
    with torch.no_grad():
        got = selective_scan_torch(**inputs, return_last_state=True)
    expected = selective_scan_reference(**inputs, return_last_state=True)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_streamed_scan_reads_transposed_views_like_mambavisions() -> None:
    # MambaVision passes delta and z as (batch, d, L) views of (batch, L, d) memory
    inputs = make_inputs(2, 6, 4, 37)
    for name in ("delta", "z"):
        inputs[name] = inputs[name].transpose(1, 2).contiguous().transpose(1, 2)
    with torch.no_grad():
        got = selective_scan_torch(**inputs, delta_softplus=True)
    expected = selective_scan_reference(**inputs, delta_softplus=True)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_cpu_inference_takes_the_streamed_scan(monkeypatch) -> None:
    calls = []

    def spy(*args):
        calls.append(args[0].shape)
        return streamed(*args)

    streamed = scan_module._streamed_scan
    monkeypatch.setattr(scan_module, "_streamed_scan", spy)
    inputs = make_inputs(2, 4, 3, 9)
    with torch.no_grad():
        selective_scan_torch(**inputs)
    assert calls == [(2, 4, 9)]
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    selective_scan_torch(**leaves)  # with gradients: the autograd function instead
    only_d = dict(inputs, D=inputs["D"].clone().requires_grad_())
    selective_scan_torch(**only_d)  # a gradient for D alone still needs the graph
    assert len(calls) == 1


def test_inference_and_training_paths_agree_in_float32_at_stage_3_shape() -> None:
    inputs = make_inputs(2, 160, 8, 196, seed=5)
    expected = selective_scan_reference(**inputs, delta_softplus=True)
    single = {k: v.float() for k, v in inputs.items()}
    with torch.no_grad():
        inference = selective_scan_torch(**single, delta_softplus=True)
    leaves = {k: v.clone().requires_grad_() for k, v in single.items()}
    training = selective_scan_torch(**leaves, delta_softplus=True)
    assert training.requires_grad
    for got in (inference, training.detach()):
        torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=1e-4)


def test_dispatch_picks_mamba_ssm_only_on_cuda_and_never_while_exporting(monkeypatch) -> None:
    def kernel(*args):
        raise AssertionError("not called here")

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    monkeypatch.setattr(scan_module, "_mamba_ssm_selective_scan_fn", None)
    assert scan_implementation(cuda) is selective_scan_torch  # not installed: pure PyTorch
    monkeypatch.setattr(scan_module, "_mamba_ssm_selective_scan_fn", kernel)
    assert scan_implementation(cuda) is kernel
    assert scan_implementation(cpu) is selective_scan_torch
    monkeypatch.setattr(scan_module, "_exporting", lambda: True)
    assert scan_implementation(cuda) is selective_scan_torch  # ONNX cannot hold the kernel


def test_dispatcher_uses_the_torch_scan_on_cpu() -> None:
    inputs = make_inputs(2, 4, 3, 11, dtype=torch.float32)
    torch.testing.assert_close(
        selective_scan_fn(**inputs, delta_softplus=True),
        selective_scan_torch(**inputs, delta_softplus=True),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"u": torch.zeros(2, 4)}, "u must be"),
        ({"delta": torch.zeros(2, 4, 10)}, "delta shape"),
        ({"A": torch.zeros(5, 3)}, "A must be"),
        ({"A": torch.zeros(4, 3, dtype=torch.complex64)}, "complex"),
        ({"B": torch.zeros(2, 3, 7)}, "B must be"),
        ({"C": torch.zeros(2, 3, 3, 11)}, "C must be"),
        ({"D": torch.zeros(3)}, "D must be"),
        ({"z": torch.zeros(2, 4, 10)}, "z shape"),
    ],
)
def test_bad_shapes_are_refused_with_a_clear_message(change, message) -> None:
    inputs = make_inputs(2, 4, 3, 11, dtype=torch.float32)
    inputs.update(change)
    with pytest.raises(ValueError, match=message):
        selective_scan_torch(**inputs)
