"""MambaVision (Hatamizadeh & Kautz, arXiv 2407.08083), written for this lab, registered with timm.

Importing this module registers `mambavision_t`, `_t2`, `_s`, `_b`, `_l`, `_l2` and the 21K
variants, so `timm.create_model("mambavision_t", num_classes=7)` works like any timm model.

The layout follows the paper and NVIDIA's released checkpoints (module and parameter names and
shapes are the same, so their `.pth.tar` files load with `strict=True`):
- `patch_embed`: two stride-2 3x3 convs (BatchNorm + ReLU), image /4;
- `levels.0-1`: residual conv blocks; `levels.2-3`: windowed token mixing where the first half of
  each stage's blocks use the MambaVision mixer and the second half self-attention;
- a stride-2 conv between stages, BatchNorm, global average pool, linear `head`.
The selective scan is `flipkart_torch.ops.selective_scan` (pure PyTorch; mamba_ssm on CUDA if
installed). Pretrained weights: `load_pretrained` in `flipkart_torch.models.mambavision_weights`.

timm's model API is complete: `feature_info` / `features_only=True` / `forward_intermediates` /
`prune_intermediate_layers` (stage maps before each downsampling), `set_grad_checkpointing`,
`group_matcher` (layer-wise lr decay), and `drop_mode` ("head": timm's classifier dropout;
"nvidia": NVIDIA's dropout in every MLP and attention projection). See MAMBAVISION.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, trunc_normal_
from timm.models import build_model_with_cfg, checkpoint, generate_default_cfgs, register_model
from timm.models._builder import pretrained_cfg_for_features
from timm.models._features import FeatureGetterNet, feature_take_indices
from torch import nn

from flipkart_torch.ops.selective_scan import selective_scan_fn


@dataclass(frozen=True)
class MambaVisionConfig:
    dim: int  # channels of stage 1; stage i has dim * 2**i
    in_dim: int  # channels after the stem's first conv
    depths: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]
    window_size: tuple[int, int, int, int]
    drop_path_rate: float
    layer_scale: float | None = None  # layer scale of the mixer/attention blocks (B, L, ...)
    mlp_ratio: float = 4.0


# Per variant: architecture, hub repo, file in that repo, input size, crop_pct, crop_mode.
_SMALL = dict(num_heads=(2, 4, 8, 16), window_size=(8, 8, 14, 7))
_LARGE = dict(num_heads=(4, 8, 16, 32), window_size=(8, 8, 14, 7), layer_scale=1e-5)
VARIANTS: dict[str, tuple[MambaVisionConfig, str, str, int, float, str]] = {
    "mambavision_t": (
        MambaVisionConfig(80, 32, (1, 3, 8, 4), drop_path_rate=0.2, **_SMALL),
        "nvidia/MambaVision-T-1K",
        "mambavision_tiny_1k.pth.tar",
        224,
        1.0,
        "center",
    ),
    "mambavision_t2": (
        MambaVisionConfig(80, 32, (1, 3, 11, 4), drop_path_rate=0.2, **_SMALL),
        "nvidia/MambaVision-T2-1K",
        "mambavision_tiny2_1k.pth.tar",
        224,
        0.98,
        "center",
    ),
    "mambavision_s": (
        MambaVisionConfig(96, 64, (3, 3, 7, 5), drop_path_rate=0.2, **_SMALL),
        "nvidia/MambaVision-S-1K",
        "mambavision_small_1k.pth.tar",
        224,
        0.93,
        "center",
    ),
    "mambavision_b": (
        MambaVisionConfig(128, 64, (3, 3, 10, 5), drop_path_rate=0.3, layer_scale=1e-5, **_SMALL),
        "nvidia/MambaVision-B-1K",
        "mambavision_base_1k.pth.tar",
        224,
        1.0,
        "center",
    ),
    "mambavision_b_21k": (
        MambaVisionConfig(128, 64, (3, 3, 10, 5), drop_path_rate=0.3, layer_scale=1e-5, **_SMALL),
        "nvidia/MambaVision-B-21K",
        "mambavision_base_21k.pth.tar",
        224,
        1.0,
        "center",
    ),
    "mambavision_l": (
        MambaVisionConfig(196, 64, (3, 3, 10, 5), drop_path_rate=0.3, **_LARGE),
        "nvidia/MambaVision-L-1K",
        "mambavision_large_1k.pth.tar",
        224,
        1.0,
        "center",
    ),
    "mambavision_l_21k": (
        MambaVisionConfig(196, 64, (3, 3, 10, 5), drop_path_rate=0.3, **_LARGE),
        "nvidia/MambaVision-L-21K",
        "mambavision_large_21k.pth.tar",
        224,
        1.0,
        "center",
    ),
    "mambavision_l2": (
        MambaVisionConfig(196, 64, (3, 3, 12, 5), drop_path_rate=0.3, **_LARGE),
        "nvidia/MambaVision-L2-1K",
        "mambavision_large2_1k.pth.tar",
        224,
        1.0,
        "center",
    ),
    "mambavision_l2_512_21k": (
        MambaVisionConfig(
            196,
            64,
            (3, 3, 12, 5),
            num_heads=(4, 8, 16, 32),
            window_size=(8, 8, 32, 16),
            drop_path_rate=0.3,
            layer_scale=1e-5,
        ),
        "nvidia/MambaVision-L2-512-21K",
        "mambavision_L2_21k_240m_512.pth.tar",
        512,
        0.93,
        "squash",
    ),
    "mambavision_l3_256_21k": (
        MambaVisionConfig(
            256,
            64,
            (3, 3, 20, 10),
            num_heads=(4, 8, 16, 32),
            window_size=(8, 8, 16, 8),
            drop_path_rate=0.5,
            layer_scale=1e-5,
        ),
        "nvidia/MambaVision-L3-256-21K",
        "mambavision_L3_21k_740m_256.pth.tar",
        256,
        1.0,
        "center",
    ),
    "mambavision_l3_512_21k": (
        MambaVisionConfig(
            256,
            64,
            (3, 3, 20, 10),
            num_heads=(4, 8, 16, 32),
            window_size=(8, 8, 32, 16),
            drop_path_rate=0.5,
            layer_scale=1e-5,
        ),
        "nvidia/MambaVision-L3-512-21K",
        "mambavision_L3_21k_740m_512.pth.tar",
        512,
        0.93,
        "squash",
    ),
}


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, C, H, W) with H, W multiples of `window` -> (B * windows, window * window, C)."""
    _, channels, height, width = x.shape
    x = x.reshape(-1, channels, height // window, window, width // window, window)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window * window, channels)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of `window_partition`."""
    channels = windows.shape[2]
    x = windows.reshape(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, channels, height, width)


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, in_dim: int, dim: int):
        super().__init__()
        self.proj = nn.Identity()
        self.conv_down = nn.Sequential(
            nn.Conv2d(in_chans, in_dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(in_dim, eps=1e-4),
            nn.ReLU(),
            nn.Conv2d(in_dim, dim, 3, 2, 1, bias=False),
            nn.BatchNorm2d(dim, eps=1e-4),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_down(self.proj(x))


class Downsample(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, 2, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(x)


class ConvBlock(nn.Module):
    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale: float | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, 1, 1)
        self.norm1 = nn.BatchNorm2d(dim, eps=1e-5)
        self.act1 = nn.GELU(approximate="tanh")
        self.conv2 = nn.Conv2d(dim, dim, 3, 1, 1)
        self.norm2 = nn.BatchNorm2d(dim, eps=1e-5)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim)) if layer_scale else None
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm2(self.conv2(self.act1(self.norm1(self.conv1(x)))))
        if self.gamma is not None:
            y = y * self.gamma.view(1, -1, 1, 1)
        return x + self.drop_path(y)


class MambaVisionMixer(nn.Module):
    """The MambaVision token mixer: half the channels go through a causal-free conv + selective
    scan (the SSM branch), the other half through conv + SiLU only (the symmetric branch)."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 8,
        d_conv: int = 3,
        expand: int = 1,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
    ):
        super().__init__()
        self.d_inner = int(expand * d_model)
        self.d_state = d_state
        self.d_conv = d_conv
        self.dt_rank = math.ceil(d_model / 16)
        half = self.d_inner // 2
        self.in_proj = nn.Linear(d_model, self.d_inner, bias=False)
        self.x_proj = nn.Linear(half, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, half, bias=True)
        # Mamba's initialisation: dt spread log-uniformly in [dt_min, dt_max] via the bias.
        # (MambaVision's model-level init later resets every Linear, this one included; kept
        # for use of the mixer on its own.)
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(
            torch.rand(half) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        ).clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(half, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(half))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        # The reference passes `bias=conv_bias // 2` (True // 2 == 0): these convs have no bias.
        self.conv1d_x = nn.Conv1d(half, half, d_conv, groups=half, bias=False)
        self.conv1d_z = nn.Conv1d(half, half, d_conv, groups=half, bias=False)

    def _conv_same(self, x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
        total = self.d_conv - 1  # 'same' padding, extra element on the right as PyTorch does
        x = F.pad(x, (total // 2, total - total // 2))
        return F.silu(F.conv1d(x, conv.weight, conv.bias, groups=conv.groups))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        length = hidden_states.shape[1]
        xz = self.in_proj(hidden_states).transpose(1, 2)  # (B, d_inner, L)
        x, z = xz.chunk(2, dim=1)
        x = self._conv_same(x, self.conv1d_x)
        z = self._conv_same(z, self.conv1d_z)
        x_dbl = self.x_proj(x.transpose(1, 2).reshape(-1, x.shape[1]))
        dt, b, c = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        # As released: dt_proj adds its bias here *and* it is passed again as delta_bias.
        dt = self.dt_proj(dt).reshape(-1, length, x.shape[1]).transpose(1, 2)
        b = b.reshape(-1, length, self.d_state).transpose(1, 2)
        c = c.reshape(-1, length, self.d_state).transpose(1, 2)
        y = selective_scan_fn(
            x,
            dt,
            -torch.exp(self.A_log.float()),
            b,
            c,
            self.D.float(),
            z=None,
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
        )
        y = torch.cat([y, z], dim=1).transpose(1, 2)
        return self.out_proj(y)


class Attention(nn.Module):
    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = nn.Identity()
        self.k_norm = nn.Identity()
        self.attn_drop = attn_drop  # on the attention weights, in training only
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)  # no parameters: the state dict is unchanged

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            self.q_norm(q), self.k_norm(k), v, dropout_p=self.attn_drop if self.training else 0.0
        )
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(batch, tokens, channels)))


class Block(nn.Module):
    """Pre-norm residual block: (mixer or attention) then MLP, each with optional layer scale.

    `drop` is NVIDIA's per-block dropout (both dropouts of the MLP and the attention's output
    projection; the mixer has none), `attn_drop` the dropout of the attention weights."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        use_attention: bool,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        layer_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mixer = (
            Attention(dim, num_heads, attn_drop=attn_drop, proj_drop=drop)
            if use_attention
            else MambaVisionMixer(d_model=dim, d_state=8, d_conv=3, expand=1)
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(
            in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=nn.GELU, drop=drop
        )
        if layer_scale:
            self.gamma_1 = nn.Parameter(layer_scale * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layer_scale * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.mixer(self.norm1(x))
        x = x + self.drop_path(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        return x + self.drop_path(y if self.gamma_2 is None else self.gamma_2 * y)


def attention_blocks(depth: int) -> range:
    """Indices of the self-attention blocks of a stage: its second half (the middle block of an
    odd depth stays a mixer block), as in the released code."""
    return range(depth // 2 + 1, depth) if depth % 2 else range(depth // 2, depth)


class MambaVisionLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: int,
        conv: bool,
        downsample: bool,
        drop_path: list[float],
        mlp_ratio: float = 4.0,
        layer_scale: float | None = None,
        drop: float = 0.0,
        attn_drop: float = 0.0,
    ):
        super().__init__()
        self.conv = conv
        self.window_size = window_size
        self.grad_checkpointing = False
        if conv:
            self.blocks = nn.ModuleList([ConvBlock(dim, drop_path[i]) for i in range(depth)])
        else:
            attention = set(attention_blocks(depth))
            self.blocks = nn.ModuleList(
                [
                    Block(
                        dim,
                        num_heads,
                        i in attention,
                        mlp_ratio,
                        drop_path[i],
                        layer_scale,
                        drop=drop,
                        attn_drop=attn_drop,
                    )
                    for i in range(depth)
                ]
            )
        self.downsample = Downsample(dim) if downsample else None

    def _run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            if self.grad_checkpointing and not torch.jit.is_scripting():
                x = checkpoint(block, x)  # recomputed in backward (RNG state restored)
            else:
                x = block(x)
        return x

    def forward_blocks(self, x: torch.Tensor) -> torch.Tensor:
        """The stage's blocks without the downsampling: (B, C, H, W) -> (B, C, H, W)."""
        if self.conv:
            x = self._run_blocks(x)
        else:
            height, width = x.shape[2:]
            window = self.window_size
            pad_b = (window - height % window) % window  # non-negative operands: ONNX-safe
            pad_r = (window - width % window) % window
            if pad_b or pad_r:
                x = F.pad(x, (0, pad_r, 0, pad_b))
            x = window_partition(x, window)
            x = self._run_blocks(x)
            x = window_reverse(x, window, height + pad_b, width + pad_r)
            if pad_b or pad_r:
                x = x[:, :, :height, :width].contiguous()
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_blocks(x)
        return x if self.downsample is None else self.downsample(x)


DROP_MODES = ("head", "nvidia")


class MambaVision(nn.Module):
    """MambaVision with timm's model API (classifier, features, intermediates, checkpointing).

    Dropout (`drop_mode`):
    - `"head"` (default, timm's convention and the lab's): `drop_rate` is one Dropout before
      the classifier, as for every other timm model;
    - `"nvidia"` (NVIDIA's `MambaVision`): `drop_rate` is in both dropouts of every MLP and after
      every attention projection of stages 3-4, and there is no dropout before the head.
    `attn_drop_rate` (NVIDIA's name) drops attention weights in either mode (training only).
    `drop_path_rate` is stochastic depth rising linearly over all blocks, as NVIDIA's. None of
    these have parameters: the state dict, and the eval-mode output, are the same in every mode.
    """

    def __init__(
        self,
        dim: int,
        in_dim: int,
        depths: tuple[int, ...],
        num_heads: tuple[int, ...],
        window_size: tuple[int, ...],
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.2,
        layer_scale: float | None = None,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        global_pool: str = "avg",
        drop_mode: str = "head",
        attn_drop_rate: float = 0.0,
    ):
        super().__init__()
        if global_pool not in ("avg", ""):
            raise ValueError(f"global_pool must be 'avg' or '', got {global_pool!r}")
        if drop_mode not in DROP_MODES:
            raise ValueError(f"drop_mode must be one of {DROP_MODES}, got {drop_mode!r}")
        self.num_classes = num_classes
        self.in_chans = in_chans
        self.global_pool = global_pool
        self.drop_mode = drop_mode
        self.num_features = self.head_hidden_size = int(dim * 2 ** (len(depths) - 1))
        # One entry per stage, taken before the stage's downsampling (its blocks' output).
        self.feature_info = [
            {"num_chs": dim * 2**i, "reduction": 4 * 2**i, "module": f"levels.{i}"}
            for i in range(len(depths))
        ]
        self.patch_embed = PatchEmbed(in_chans, in_dim, dim)
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        block_drop = drop_rate if drop_mode == "nvidia" else 0.0
        self.levels = nn.ModuleList()
        for i, depth in enumerate(depths):
            start = sum(depths[:i])
            self.levels.append(
                MambaVisionLayer(
                    dim=dim * 2**i,
                    depth=depth,
                    num_heads=num_heads[i],
                    window_size=window_size[i],
                    conv=i < 2,
                    downsample=i < len(depths) - 1,
                    drop_path=rates[start : start + depth],
                    mlp_ratio=mlp_ratio,
                    layer_scale=layer_scale,
                    drop=block_drop,
                    attn_drop=attn_drop_rate,
                )
            )
        self.norm = nn.BatchNorm2d(self.num_features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate if drop_mode == "head" else 0.0)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # As released: every Linear (dt_proj included) gets trunc_normal(0.02) and a zero bias.
        if isinstance(module, nn.Linear):
            trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        return {name for name, _ in self.named_parameters() if name.endswith(("A_log", ".D"))}

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> dict:
        """Parameter groups, in depth order, for timm's layer-wise learning-rate decay
        (`timm.optim.param_groups_layer_decay`): the stem, then per stage (coarse) or per block
        (fine); a stage's downsampling and the final norm go with the block before them; the
        head, matched by nothing, comes last."""
        if coarse:
            blocks = [(r"^levels\.(\d+)", None), (r"^norm\.", (99999,))]
        else:
            blocks = [
                (r"^levels\.(\d+)\.blocks\.(\d+)\.", None),
                (r"^levels\.(\d+)\.downsample\.", (99999,)),  # timm's MATCH_PREV_GROUP
                (r"^norm\.", (99999,)),
            ]
        return {"stem": r"^patch_embed\.", "blocks": blocks}

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward instead of storing them.

        Loss and gradients are unchanged (dropout/drop-path masks are replayed), but the conv
        stages' BatchNorm running statistics are updated twice per step (forward and
        recomputation), as with any checkpointed BatchNorm."""
        for level in self.levels:
            level.grad_checkpointing = enable

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(self.head, nn.Linear):
            self._init_weights(self.head)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """timm's backbone API: the feature maps of the stages in `indices` (None: all four;
        an int n: the last n; a list: those, negative from the end), each the output of the
        stage's blocks before its downsampling: stage i is (B, dim * 2**i, H / 2**(i+2), ...).

        norm: apply the final BatchNorm to the last stage's map (the only one it fits).
        stop_early: do not run the stages after the last one asked for.
        Returns the maps, or (final features, maps) where the final features are
        `forward_features(x)` when every stage ran.
        """
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt must be 'NCHW', got {output_fmt!r}")
        take_indices, max_index = feature_take_indices(len(self.levels), indices)
        last_index = len(self.levels) - 1
        levels = (
            self.levels
            if torch.jit.is_scripting() or not stop_early
            else self.levels[: max_index + 1]
        )
        intermediates = []
        x = self.patch_embed(x)
        for i, level in enumerate(levels):
            x = level.forward_blocks(x)
            if i in take_indices:
                intermediates.append(self.norm(x) if norm and i == last_index else x)
            if level.downsample is not None and i < len(levels) - 1:
                x = level.downsample(x)
        if intermediates_only:
            return intermediates
        if len(levels) - 1 == last_index:
            x = self.norm(x)
        return x, intermediates

    def prune_intermediate_layers(
        self,
        indices: int | list[int] = 1,
        prune_norm: bool = False,
        prune_head: bool = True,
    ) -> list[int]:
        """Drop what the intermediates in `indices` do not need (later stages, the last kept
        stage's downsampling, the final norm, the head). Returns the absolute indices."""
        take_indices, max_index = feature_take_indices(len(self.levels), indices)
        prune_end = max_index < len(self.levels) - 1
        self.levels = self.levels[: max_index + 1]
        self.levels[-1].downsample = None
        if prune_norm or prune_end:
            self.norm = nn.Identity()  # sized for, and applied to, the last stage only
        if prune_end:
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
        if prune_head or prune_end:
            self.reset_classifier(0, "")
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> normalised feature map (B, num_features, H/32, W/32)."""
        x = self.patch_embed(x)
        for level in self.levels:
            x = level(x)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.global_pool == "avg":
            x = torch.flatten(self.avgpool(x), 1)
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(variant: str) -> dict:
    _, hub_id, filename, size, crop_pct, crop_mode = VARIANTS[variant]
    return {
        "hf_hub_id": hub_id,
        "hf_hub_filename": filename,
        "num_classes": 1000,
        "input_size": (3, size, size),
        "pool_size": (size // 32, size // 32),
        "crop_pct": crop_pct,
        "crop_mode": crop_mode,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "patch_embed.conv_down.0",
        "classifier": "head",
        "license": "other (NVIDIA Source Code License-NC for the weights)",
        "paper_ids": "arXiv:2407.08083",
        "custom_load": True,  # our loader: .pth.tar / safetensors, 'state_dict' wrapper
    }


default_cfgs = generate_default_cfgs({name: _cfg(name) for name in VARIANTS})


def _create(variant: str, pretrained: bool = False, **kwargs) -> nn.Module:
    """Build a variant; `features_only=True` (timm's backbone mode, with `out_indices`) wraps
    it in timm's `FeatureGetterNet`, which returns `forward_intermediates`' maps. Pretrained
    weights are loaded before the wrapping (and pruning), so they load strictly."""
    features_only = kwargs.pop("features_only", False)
    out_indices = kwargs.pop("out_indices", (0, 1, 2, 3))
    feature_cls = kwargs.pop("feature_cls", "getter")
    if features_only and feature_cls not in ("getter", FeatureGetterNet):
        # Hooks on `levels.i` would see the stage *after* its downsampling.
        raise ValueError(
            f"MambaVision features come from forward_intermediates: feature_cls must be "
            f"'getter', got {feature_cls!r}"
        )
    config = VARIANTS[variant][0]
    arch = {
        "dim": config.dim,
        "in_dim": config.in_dim,
        "depths": config.depths,
        "num_heads": config.num_heads,
        "window_size": config.window_size,
        "mlp_ratio": config.mlp_ratio,
        "drop_path_rate": config.drop_path_rate,
        "layer_scale": config.layer_scale,
    }
    arch.update(kwargs)
    model = build_model_with_cfg(MambaVision, variant, pretrained=False, **arch)
    model.weights_source = "none"
    if pretrained:
        from flipkart_torch.models.mambavision_weights import load_pretrained

        source = model.pretrained_cfg.get("file") or f"hf:{model.pretrained_cfg['hf_hub_id']}"
        load_pretrained(model, source)
    if not features_only:
        return model
    features = FeatureGetterNet(model, out_indices=out_indices)
    features.pretrained_cfg = features.default_cfg = pretrained_cfg_for_features(
        model.pretrained_cfg
    )
    features.in_chans = model.in_chans
    features.weights_source = model.weights_source
    return features


@register_model
def mambavision_t(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_t", pretrained, **kwargs)


@register_model
def mambavision_t2(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_t2", pretrained, **kwargs)


@register_model
def mambavision_s(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_s", pretrained, **kwargs)


@register_model
def mambavision_b(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_b", pretrained, **kwargs)


@register_model
def mambavision_b_21k(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_b_21k", pretrained, **kwargs)


@register_model
def mambavision_l(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_l", pretrained, **kwargs)


@register_model
def mambavision_l_21k(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_l_21k", pretrained, **kwargs)


@register_model
def mambavision_l2(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_l2", pretrained, **kwargs)


@register_model
def mambavision_l2_512_21k(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_l2_512_21k", pretrained, **kwargs)


@register_model
def mambavision_l3_256_21k(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_l3_256_21k", pretrained, **kwargs)


@register_model
def mambavision_l3_512_21k(pretrained: bool = False, **kwargs) -> MambaVision:
    return _create("mambavision_l3_512_21k", pretrained, **kwargs)
