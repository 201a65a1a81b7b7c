"""Selective scan (the S6 recurrence of Mamba) in plain PyTorch: chunked, blocked or streamed.

For every batch row, channel `d` and state `n`:

    x_t = exp(delta_t * A[d, n]) * x_{t-1} + delta_t * B_t[n] * u_t
    y_t = sum_n C_t[n] * x_t[n] + D[d] * u_t          (then * silu(z_t) when z is given)

`selective_scan_fn` has the signature and semantics of `mamba_ssm`'s function of the same name
(the subset MambaVision uses: real A, B/C varying per token, optionally grouped or constant).
On CUDA tensors it calls `mamba_ssm`'s kernel when that package is importable.

Three pure-PyTorch formulations (`scan_implementation` picks between them and the kernel):

- inference (no gradient, not exporting), on CPU: `_streamed_scan`, one in-place multiply-add
  per token over cache-sized blocks, exp2 for the decays, bias/softplus/D/z done in the same
  tokens-first layout (the fast path of `make bench-scan`); on CUDA without
  `mamba_ssm`: `_blocked_core`, the parallel `blocked_scan_` (products of decays, exact, no
  clamp, ~3 sqrt(L) launches). Both keep d innermost: (L, batch, n, d),
  (batch, L, n, d).
- training on CPU (B and C per token, as MambaVision's): `_StreamedScan`, the streamed scan
  as an autograd function whose backward runs the adjoint recurrence the same way, block by
  block, last to first.
- training otherwise (CUDA without `mamba_ssm`, constant or grouped B/C) and ONNX export:
  `chunked_linear_scan`, out of place and differentiable through autograd, below.

How the chunked scan works: the sequence is cut into chunks of `CHUNK` tokens. Inside a chunk,
with S_t the cumulative sum of the log-decays a_t = delta_t * A since the chunk start,

    x_t = exp(S_t) * (x_start + cumsum_s(bu_s / exp(S_s)))

which is a few whole-tensor operations (cumsum, exp, multiply). The chunk-end states then obey
the same recurrence one level up (log-decay = S at the chunk end), solved recursively, and are
added back. Only exportable ops are used (CumSum, Exp, Div, Pad, Slice, MatMul).

Why it stays finite: each log-decay is clamped at -clamp before the cumsum, so inside a chunk
|S| <= CHUNK * clamp and exp(+-S) stays far from overflow (e^72 in float32). The clamp is not an
approximation at the working precision: a step whose true decay is below e^-clamp keeps
e^-clamp instead, which changes the state by at most e^-clamp times the carried-in state
(float32: e^-18 = 1.5e-8, under float32's rounding unit; float64: e^-40 = 4e-18).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

try:  # optional CUDA kernel, see MAMBAVISION.md
    from mamba_ssm.ops.selective_scan_interface import (
        selective_scan_fn as _mamba_ssm_selective_scan_fn,
    )
except (ImportError, OSError, RuntimeError):  # not installed, or built for another torch/CUDA
    _mamba_ssm_selective_scan_fn = None

CHUNK = 4
_LOG2_E = math.log2(math.e)
# Most elements per buffer of the CPU inference scan's token blocks (0.8 MB in float32: 20 tokens
# at MambaVision-T's stage 3; 12-20 measured alike and best on a 1 MB-L2 EPYC, 7 and 28+ slower).
_BLOCK_ELEMENTS = 210_000
# Largest log-decay magnitude kept per step (see the module docstring), by compute dtype.
_CLAMP = {torch.float32: 18.0, torch.float64: 40.0}


def mamba_ssm_available() -> bool:
    return _mamba_ssm_selective_scan_fn is not None


def _exporting() -> bool:
    if torch.onnx.is_in_onnx_export():
        return True
    is_exporting = getattr(torch.compiler, "is_exporting", None)
    return bool(is_exporting and is_exporting())


def selective_scan_fn(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
):
    """`mamba_ssm`'s `selective_scan_fn`: its CUDA kernel when usable, else the PyTorch scan.

    u, delta, z: (batch, d, L); A: (d, n); B, C: (batch, n, L), (batch, groups, n, L) or (d, n);
    D, delta_bias: (d,). Returns y (batch, d, L) in u's dtype, and the last state (batch, d, n)
    when `return_last_state`.
    """
    scan = scan_implementation(u.device)
    return scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


def scan_implementation(device: torch.device) -> Callable[..., Any]:
    """What `selective_scan_fn` runs on `device`: `mamba_ssm`'s CUDA kernel when it is
    installed, the tensors are on CUDA and no export is tracing; else `selective_scan_torch`
    (on CUDA too: its parallel paths are plain tensor operations)."""
    if _mamba_ssm_selective_scan_fn is not None and device.type == "cuda" and not _exporting():
        return _mamba_ssm_selective_scan_fn
    return selective_scan_torch


def _check_shapes(u, delta, A, B, C, D, z, delta_bias) -> None:
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, d, L), got shape {tuple(u.shape)}")
    batch, d, _ = u.shape
    if delta.shape != u.shape:
        raise ValueError(f"delta shape {tuple(delta.shape)} != u shape {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d={d}, n), got shape {tuple(A.shape)}")
    if A.is_complex():
        raise ValueError("complex A is not supported (MambaVision uses a real A)")
    n = A.shape[1]
    for name, t in (("B", B), ("C", C)):
        ok = (
            (t.dim() == 2 and tuple(t.shape) == (d, n))
            or (t.dim() == 3 and tuple(t.shape) == (batch, n, u.shape[2]))
            or (
                t.dim() == 4
                and t.shape[0] == batch
                and d % t.shape[1] == 0
                and tuple(t.shape[2:]) == (n, u.shape[2])
            )
        )
        if not ok:
            raise ValueError(
                f"{name} must be (d, n), (batch, n, L) or (batch, groups, n, L) with "
                f"d={d}, n={n}, L={u.shape[2]}; got shape {tuple(t.shape)}"
            )
    for name, t in (("D", D), ("delta_bias", delta_bias)):
        if t is not None and tuple(t.shape) != (d,):
            raise ValueError(f"{name} must be (d={d},), got shape {tuple(t.shape)}")
    if z is not None and z.shape != u.shape:
        raise ValueError(f"z shape {tuple(z.shape)} != u shape {tuple(u.shape)}")


def _per_token(t: torch.Tensor, d: int) -> torch.Tensor:
    """B or C as (batch|1, L|1, d|1, n), broadcastable against (batch, L, d, n)."""
    if t.dim() == 2:  # (d, n): constant over batch and tokens
        return t[None, None]
    if t.dim() == 3:  # (batch, n, L): shared by every channel
        return t.transpose(1, 2)[:, :, None, :]
    groups = t.shape[1]  # (batch, groups, n, L): channel c uses group c // (d / groups)
    return t.permute(0, 3, 1, 2).repeat_interleave(d // groups, dim=2)


def _compute_dtype(t: torch.Tensor) -> torch.dtype:
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def chunked_linear_scan(
    log_decay: torch.Tensor,
    inputs: torch.Tensor,
    chunk: int = CHUNK,
    clamp: float | None = None,
    base2: bool = False,
) -> torch.Tensor:
    """All states of x_t = exp(log_decay_t) * x_{t-1} + inputs_t, x_0 = 0, along dim 1.

    log_decay, inputs: (batch, L, M) with log_decay <= 0. Returns (batch, L, M).
    `base2`: log_decay is in log2 units (x_t = 2^log_decay_t * x_{t-1} + inputs_t), and the
    scan uses exp2, ~3x faster than exp on CPU (ONNX has no Exp2: not while exporting).
    """
    if clamp is None:
        clamp = _CLAMP[_compute_dtype(log_decay)] * (_LOG2_E if base2 else 1.0)
    exp = torch.exp2 if base2 else torch.exp
    batch, length, width = inputs.shape
    # (a + b - 1) // b, not -(-a // b): traced into ONNX, integer Div truncates towards zero
    n_chunks = (length + chunk - 1) // chunk
    pad = n_chunks * chunk - length
    if pad:  # decay 1 and input 0 past the end: the padded states are cut off below
        log_decay = F.pad(log_decay, (0, 0, 0, pad))
        inputs = F.pad(inputs, (0, 0, 0, pad))
    shape = (batch, n_chunks, chunk, width)
    cum_log_decay = log_decay.clamp(min=-clamp).reshape(shape).cumsum(2)
    growth = exp(cum_log_decay)  # exp(S_t), in [e^-(chunk*clamp), 1]
    # exp(-S) rather than a division by growth: the division's gradient (1/growth^2) overflows.
    scaled = (inputs.reshape(shape) * exp(-cum_log_decay)).cumsum(2)
    if n_chunks > 1:
        chunk_end_states = chunked_linear_scan(
            cum_log_decay[:, :, -1], growth[:, :, -1] * scaled[:, :, -1], chunk, clamp, base2
        )
        carried_in = F.pad(chunk_end_states[:, :-1], (0, 0, 1, 0))
        scaled = scaled + carried_in[:, :, None]
    states = (growth * scaled).reshape(batch, n_chunks * chunk, width)
    return states[:, :length] if pad else states


def _chunk_length(length: int) -> int:
    """About sqrt(length): the blocked scan then issues ~3 sqrt(L) operations, each on ~sqrt(L)
    tokens at once (196 tokens: 14 chunks of 14)."""
    return max(2, math.isqrt(length - 1) + 1) if length > 1 else 1


def blocked_scan_(decay: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """In place: states_t <- decay_t * states_{t-1} + states_t along dim 1, states_{-1} = 0.

    decay, states: (batch, L, W), overwritten (decay ends as within-chunk cumulative products).
    Blocked two-level scan, exact (products of decays, no division and so no clamp):
    1. inside every chunk of c tokens at once, the local scan from a zero state and the
       cumulative products of the decays (c - 1 steps, each over all chunks);
    2. the chunk-end states are the same recurrence one level up, with the chunk's product of
       decays (the same function, on strided views: the results land in `states`);
    3. each chunk's states get its predecessor's end state times the cumulative decay.
    """
    batch, length, width = states.shape
    chunk = _chunk_length(length)
    n_chunks = length // chunk
    if n_chunks < 2:  # short: token by token
        for t in range(1, length):
            states[:, t].addcmul_(decay[:, t], states[:, t - 1])
        return states
    body = n_chunks * chunk
    shape = (batch, n_chunks, chunk, width)
    s, a = states[:, :body].view(shape), decay[:, :body].view(shape)
    for k in range(1, chunk):
        s[:, :, k].addcmul_(a[:, :, k], s[:, :, k - 1])
        a[:, :, k].mul_(a[:, :, k - 1])
    blocked_scan_(a[:, :, -1], s[:, :, -1])  # chunk ends, now final
    carried = s[:, :-1, -1:].clone()
    s[:, 1:, :-1].addcmul_(a[:, 1:, :-1], carried)
    for t in range(body, length):  # the remainder, token by token
        states[:, t].addcmul_(decay[:, t], states[:, t - 1])
    return states


def _per_token_nd(t: torch.Tensor, d: int) -> torch.Tensor:
    """B or C as (batch|1, L|1, n, d|1), broadcastable against (batch, L, n, d); contiguous, so
    that broadcasting it runs along contiguous rows of d (a transposed view is ~5x slower)."""
    if t.dim() == 2:  # (d, n)
        return t.t().contiguous()[None, None]
    if t.dim() == 3:  # (batch, n, L)
        return t.transpose(1, 2).contiguous()[..., None]
    groups = t.shape[1]  # (batch, groups, n, L)
    return t.permute(0, 3, 2, 1).repeat_interleave(d // groups, dim=3)


def _outer_products(u, delta, A, B, C):
    """The per-token factors in (batch, L, n, d) layout, d innermost (contiguous rows of d for
    the outer products over n and the contraction with C): delta (batch, L, d), delta * u,
    A as (n, d), B and C as `_per_token_nd`."""
    d = u.shape[1]
    delta_t = delta.transpose(1, 2).contiguous()
    delta_u = (delta * u).transpose(1, 2).contiguous()  # a product of transposed views is slow
    return delta_t, delta_u, A.t().contiguous(), _per_token_nd(B, d), _per_token_nd(C, d)


def _tokens(t: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    return t if t.shape[1] == 1 else t[:, start:stop]


def _fill(decay, states, delta_t, delta_u, A_t, B_nd, start: int, stop: int) -> None:
    """decay = exp(delta (x) A), states = B (x) (delta * u) for tokens [start, stop), written
    into the given (batch, k, n, d) buffers, whatever layout broadcasting would pick."""
    torch.mul(delta_t[:, start:stop, None], A_t, out=decay).exp_()
    torch.mul(_tokens(B_nd, start, stop), delta_u[:, start:stop, None], out=states)


def _contract(C, C_nd, states) -> torch.Tensor:
    """(batch, k, d) = sum_n C[n] * states[..., n, :]."""
    if C.dim() == 3:  # shared by the channels: (batch, k, 1, n) @ (batch, k, n, d)
        return torch.matmul(C_nd.transpose(2, 3), states)[:, :, 0]
    return (states * C_nd).sum(2)


def _streamed_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    """CPU inference, the whole of `selective_scan_fn` (in the compute dtype): y (batch, d, L),
    a view of (L, batch, d) memory, and the last state (batch, d, n).

    Token by token, but over cache-sized blocks of tokens. Everything is laid out tokens first,
    d innermost, (L, batch, [n,] d), from delta's bias and softplus to the D skip and the z
    gate: every step then runs along contiguous rows of d (MambaVision's delta and z already
    have d innermost in memory), a block of tokens is one contiguous slab, and the
    contraction with C writes straight into y. Per block, the decays and inputs are built by a
    few whole-block operations into two buffers that stay in cache (~0.8 MB each), the
    recurrence runs one in-place multiply-add per token (from states[0], the state carried
    in), and C is contracted with one batched product. A single pass over the state tensor,
    never held whole: on one CPU core the scan is memory- and dispatch-bound, and this does
    the least memory traffic.

    exp(delta * A) is computed as exp2(delta * A log2(e)): PyTorch's CPU exp2 is ~3x faster
    than its exp (measured: 0.28 against 0.8 ns per float32), and the exp was the largest
    single cost. Exact otherwise: no clamp, no division."""
    batch, d, length = u.shape
    n = A.shape[1]
    delta_t = u.new_empty(length, batch, d)
    if delta_bias is None:
        delta_t.copy_(delta.permute(2, 0, 1))
    else:  # out= fixes the layout that the permuted input would otherwise give the sum
        torch.add(delta.permute(2, 0, 1), delta_bias, out=delta_t)
    if delta_softplus:
        delta_t = F.softplus(delta_t)
    u_t = u.permute(2, 0, 1).contiguous()
    delta_u = (delta_t * u_t)[:, :, None]  # (L, batch, 1, d)
    delta_t = delta_t[:, :, None]
    A2_t = (A * _LOG2_E).t().contiguous()  # log2(e) A as (n, d)
    B_nd, C_nd = _token_major(B, d), _token_major(C, d)
    block = _block_length(batch, n, d, length)
    decay = u.new_empty(block, batch, n, d)
    states = u.new_empty(block + 1, batch, n, d)  # states[0]: the state carried in
    states[0].zero_()
    y = u.new_empty(length, batch, d)
    for start in range(0, length, block):
        k = min(block, length - start)
        stop = start + k
        _block_states(decay, states, delta_t, A2_t, B_nd, delta_u, start, stop)
        st, c = states[1 : k + 1], _tokens_major(C_nd, start, stop)
        if C.dim() == 3:  # (k batch, 1, n) @ (k batch, n, d), written into y
            out = y[start:stop].view(k * batch, 1, d)
            torch.bmm(c.reshape(k * batch, 1, n), st.view(k * batch, n, d), out=out)
        else:
            torch.sum(torch.mul(st, c, out=decay[:k]), 2, out=y[start:stop])
        states[0].copy_(states[k])
    if D is not None:
        y.addcmul_(u_t, D)
    if z is not None:
        y.mul_(F.silu(z.permute(2, 0, 1)))
    return y.permute(1, 2, 0), states[0].transpose(1, 2).clone()


def _block_states(decay, states, delta_t, A2_t, B_nd, delta_u, start: int, stop: int) -> None:
    """Tokens [start, stop) as one block, tokens first: decay[:k] = exp2(delta (x) log2(e) A)
    and states[1 : k + 1] the states, from states[0], the state carried in (in place).
    delta_t, delta_u: (L, batch, 1, d); A2_t: (n, d); B_nd: `_token_major`."""
    k = stop - start
    torch.mul(delta_t[start:stop], A2_t, out=decay[:k]).exp2_()
    torch.mul(_tokens_major(B_nd, start, stop), delta_u[start:stop], out=states[1 : k + 1])
    decays, all_states = decay.unbind(0), states.unbind(0)
    for t in range(k):
        all_states[t + 1].addcmul_(decays[t], all_states[t])


class _StreamedScan(torch.autograd.Function):
    """The streamed scan with gradients (CPU training; B and C per token, (batch, n, L)):
    y (batch, d, L) and the last state (batch, d, n) from u, delta (after bias and softplus),
    A, B, C. The forward is `_streamed_scan`'s and keeps only the state entering each block;
    the backward goes through the blocks last to first, recomputes a block's states from its
    entering state and runs the adjoint recurrence h_t = C_t y'_t + a_{t+1} h_{t+1} the same
    way, one in-place multiply-add per token. Exact like the forward (no clamp, no division),
    and no (batch, d, n, L) tensor is ever held whole, nor an autograd graph of the tokens."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C):
        batch, d, length = u.shape
        n = A.shape[1]
        delta_t, u_t = delta.permute(2, 0, 1).contiguous(), u.permute(2, 0, 1).contiguous()
        delta_u, delta_3 = (delta_t * u_t)[:, :, None], delta_t[:, :, None]
        A2_t = (A * _LOG2_E).t().contiguous()
        B_t, C_t = _token_major(B, d), _token_major(C, d)  # (L, batch, n, 1)
        block = _block_length(batch, n, d, length)
        decay = u.new_empty(block, batch, n, d)
        states = u.new_zeros(block + 1, batch, n, d)
        y = u.new_empty(length, batch, d)
        entering = []
        for start in range(0, length, block):
            stop = min(start + block, length)
            k = stop - start
            entering.append(states[0].clone())
            _block_states(decay, states, delta_3, A2_t, B_t, delta_u, start, stop)
            out = y[start:stop].view(k * batch, 1, d)
            C_block = C_t[start:stop].reshape(k * batch, 1, n)
            torch.bmm(C_block, states[1 : k + 1].view(k * batch, n, d), out=out)
            states[0].copy_(states[k])
        ctx.save_for_backward(u_t, delta_t, A, B_t, C_t, *entering)
        return y.permute(1, 2, 0), states[0].transpose(1, 2).clone()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y, grad_last):
        u_t, delta_t, A, B_t, C_t, *entering = ctx.saved_tensors
        length, batch, d = u_t.shape
        n = A.shape[1]
        delta_u, delta_3 = (delta_t * u_t)[:, :, None], delta_t[:, :, None]
        A_t = A.t().contiguous()
        A2_t = A_t * _LOG2_E
        grad_y = grad_y.permute(2, 0, 1).contiguous()  # (L, batch, d)
        block = _block_length(batch, n, d, length)
        decay = u_t.new_empty(block, batch, n, d)
        states = u_t.new_empty(block + 1, batch, n, d)
        adjoint = u_t.new_empty(block, batch, n, d)
        carried = grad_last.transpose(1, 2).contiguous()  # a_{t+1} h_{t+1} past the block
        grad_du, grad_delta = torch.empty_like(u_t), torch.empty_like(u_t)
        grad_B, grad_C = (u_t.new_empty(length, batch, n) for _ in range(2))
        grad_A = u_t.new_zeros(n, d)
        starts = list(range(0, length, block))
        for start, state_in in zip(reversed(starts), reversed(entering), strict=True):
            stop = min(start + block, length)
            k = stop - start
            states[0].copy_(state_in)
            _block_states(decay, states, delta_3, A2_t, B_t, delta_u, start, stop)
            x, x_before, h, dec = states[1 : k + 1], states[:k], adjoint[:k], decay[:k]
            torch.mul(C_t[start:stop], grad_y[start:stop, :, None], out=h)  # C_t y'_t
            h[k - 1].add_(carried)
            hs, decs = h.unbind(0), dec.unbind(0)
            for t in range(k - 2, -1, -1):
                hs[t].addcmul_(decs[t + 1], hs[t + 1])
            carried = dec[0] * h[0]
            rows = k * batch  # the per-token contractions, as batched products
            torch.bmm(
                x.view(rows, n, d),
                grad_y[start:stop].view(rows, d, 1),
                out=grad_C[start:stop].view(rows, n, 1),
            )
            torch.bmm(
                h.view(rows, n, d),
                delta_u[start:stop].view(rows, d, 1),
                out=grad_B[start:stop].view(rows, n, 1),
            )
            torch.bmm(
                B_t[start:stop].view(rows, 1, n),
                h.view(rows, n, d),
                out=grad_du[start:stop].view(rows, 1, d),
            )
            # d loss / d log a_t = h_t a_t x_{t-1}, with log a_t = delta_t A (h: scratch now)
            log_grad = dec.mul_(h).mul_(x_before)
            torch.sum(torch.mul(log_grad, A_t, out=h), 2, out=grad_delta[start:stop])
            grad_A += torch.mul(log_grad, delta_3[start:stop], out=h).sum((0, 1))
        grad_delta.addcmul_(grad_du, u_t)
        grad_u = grad_du.mul_(delta_t)
        return (
            grad_u.permute(1, 2, 0),
            grad_delta.permute(1, 2, 0),
            grad_A.t(),
            grad_B.permute(1, 2, 0),
            grad_C.permute(1, 2, 0),
        )


def _block_length(batch: int, n: int, d: int, length: int) -> int:
    """Tokens per block: at most _BLOCK_ELEMENTS states, blocks of equal size or nearly
    (196 tokens at MambaVision-T's stage 3: 9 x 20 + 16)."""
    n_blocks = -(-length // max(1, _BLOCK_ELEMENTS // (batch * n * d)))
    return -(-length // n_blocks)


def _streamed_core(u, delta, A, B, C):
    return _StreamedScan.apply(u, delta, A, B, C)


def _token_major(t: torch.Tensor, d: int) -> torch.Tensor:
    """B or C as (L|1, batch|1, n, d|1), contiguous: `_per_token_nd` with tokens first."""
    if t.dim() == 2:  # (d, n)
        return t.t().contiguous()[None, None]
    if t.dim() == 3:  # (batch, n, L)
        return t.permute(2, 0, 1).contiguous()[..., None]
    groups = t.shape[1]  # (batch, groups, n, L)
    return t.permute(3, 0, 2, 1).repeat_interleave(d // groups, dim=3)


def _tokens_major(t: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    return t if t.shape[0] == 1 else t[start:stop]


def _blocked_core(u, delta, A, B, C):
    """Inference on CUDA (without mamba_ssm): `blocked_scan_` over the whole (batch, L, n, d)
    state tensor, ~3 sqrt(L) kernel launches instead of one per token."""
    batch, d, length = u.shape
    n = A.shape[1]
    delta_t, delta_u, A_t, B_nd, C_nd = _outer_products(u, delta, A, B, C)
    decay, states = (u.new_empty(batch, length, n, d) for _ in range(2))
    _fill(decay, states, delta_t, delta_u, A_t, B_nd, 0, length)
    blocked_scan_(decay.view(batch, length, n * d), states.view(batch, length, n * d))
    y = _contract(C, C_nd, states)
    return y.transpose(1, 2), states[:, -1].transpose(1, 2)


def _chunked_core(u, delta, A, B, C):
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C))
    if u.is_cuda and not (grad or _exporting()):
        return _blocked_core(u, delta, A, B, C)
    batch, d, length = u.shape
    n = A.shape[1]
    delta_t = delta.transpose(1, 2).contiguous()  # (batch, L, d)
    u_t = u.transpose(1, 2).contiguous()
    base2 = not _exporting()  # log-decays in log2 units, for exp2 (see chunked_linear_scan)
    log_decay = (delta_t[..., None] * (A * _LOG2_E if base2 else A)).reshape(batch, length, d * n)
    inputs = ((delta_t * u_t)[..., None] * _per_token(B, d)).reshape(batch, length, d * n)
    states = chunked_linear_scan(log_decay, inputs, base2=base2).reshape(batch, length, d, n)
    if C.dim() == 3:  # one C per token, shared by the channels: a batched matrix product
        y = torch.matmul(states, C.transpose(1, 2)[..., None])[..., 0]
    else:
        y = (states * _per_token(C, d)).sum(-1)
    return y.transpose(1, 2), states[:, -1]


def _loop_core(u, delta, A, B, C):
    batch, d, length = u.shape
    B_t, C_t = _per_token(B, d), _per_token(C, d)
    decay = torch.exp(delta[..., None] * A[:, None])  # (batch, d, L, n)
    x = u.new_zeros(batch, d, A.shape[1])
    ys = []
    for t in range(length):
        b_t = B_t[:, min(t, B_t.shape[1] - 1)]
        c_t = C_t[:, min(t, C_t.shape[1] - 1)]
        x = decay[:, :, t] * x + (delta[:, :, t] * u[:, :, t])[..., None] * b_t
        ys.append((x * c_t).sum(-1))
    return torch.stack(ys, dim=2), x


def _run(core, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    """Checks, delta's bias/softplus, the D skip and the z gate around a scan `core`."""
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    dtype = _compute_dtype(u)
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    u_c = u.to(dtype)
    y, last_state = core(u_c, delta, A.to(dtype), B.to(dtype), C.to(dtype))
    if D is not None:
        y = y + u_c * D.to(dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(dtype))
    y = y.to(u.dtype)
    return (y, last_state) if return_last_state else y


def _run_streamed(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    """`_run` for `_streamed_scan`, which does delta's bias and softplus, D and z itself."""
    _check_shapes(u, delta, A, B, C, D, z, delta_bias)
    dtype = _compute_dtype(u)
    D, z, delta_bias = (None if t is None else t.to(dtype) for t in (D, z, delta_bias))
    args = (t.to(dtype) for t in (u, delta, A, B, C))
    y, last_state = _streamed_scan(*args, D, z, delta_bias, delta_softplus)
    y = y.to(u.dtype)
    return (y, last_state) if return_last_state else y


def selective_scan_torch(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
):
    """The PyTorch scan (module docstring); the arguments of `selective_scan_fn`."""
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    if u.device.type == "cpu" and not _exporting():
        if not grad:
            return _run_streamed(*args)
        if B.dim() == 3 and C.dim() == 3:  # MambaVision's B and C
            return _run(_streamed_core, *args)
    return _run(_chunked_core, *args)


def selective_scan_reference(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
):
    """The naive per-token loop (the definition); the yardstick for tests and the benchmark."""
    args = (u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    return _run(_loop_core, *args)
