"""DeltaEdit's Delta Mapper: predicts a latent edit from a latent code and a CLIP-space condition.

Coarse-to-fine design of the paper: the code vector (an S code or a flattened W+ code) is split
into levels (coarse / medium / fine). Each level has
  * a Style Module: an MLP on that level's code,
  * a Condition Module: an MLP on the condition (2 * clip_dim wide, e.g. [i1, di]),
  * a Fusion Module: an MLP on [style features, condition features],
and the fusion outputs, put back in code order, are the predicted delta (same width as the code).

A level whose tokens (S layers, or W+ entries) all have the same width runs its MLPs per token,
with weights shared across the level's tokens and the condition features broadcast to every
token: this is how the official coarse/medium modules treat their 512-wide layers. Other levels
(the official fine level: 2464 channels of layers of different widths) use one flat MLP.

Each MLP is the official sub-module: optional PixelNorm, then 4 linear layers, each followed by
leaky ReLU(0.2) x sqrt(2) (the last one too). The official layers are equalized-learning-rate
layers (lr_mul 0.01) that rescale their weights on every forward; ours are plain nn.Linear with
that scale folded into the stored weights, trained with per-parameter learning rates (see
`param_groups`), which gives the same training trajectory without the per-forward rescaling.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..io.checkpoints import load_checkpoint, load_state_dict_strict, save_checkpoint
from .stylegan2 import LEVELS, EqualLinear, level_of

CHECKPOINT_KIND = "delta_mapper"
SPACES = ("s", "wplus")
CONDITIONS = ("delta", "raw")
DEFAULT_ARCH = {"n_layers": 4, "lr_mul": 0.01, "pixel_norm": True}
_SQRT2 = math.sqrt(2.0)


# ---------------------------------------------------------------------------------------------
# Conditions (shared by training and inference)
# ---------------------------------------------------------------------------------------------

def delta_condition(i1: torch.Tensor, i2: torch.Tensor) -> torch.Tensor:
    """DeltaEdit's training condition [normalize(i1), normalize(normalize(i2) - normalize(i1))]."""
    n1, n2 = F.normalize(i1, dim=-1), F.normalize(i2, dim=-1)
    return torch.cat([n1, F.normalize(n2 - n1, dim=-1)], dim=-1)


def raw_condition(i1: torch.Tensor, i2: torch.Tensor) -> torch.Tensor:
    """The "straightforward" solution's condition: both raw image embeddings, [normalize(i1), normalize(i2)]."""
    return torch.cat([F.normalize(i1, dim=-1), F.normalize(i2, dim=-1)], dim=-1)


def text_condition(i: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Inference condition [normalize(i), normalize(direction)]: direction is the text delta dt
    (condition "delta") or the raw target text embedding (condition "raw")."""
    return torch.cat([F.normalize(i, dim=-1), F.normalize(direction, dim=-1)], dim=-1)


CONDITION_FUNCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "delta": delta_condition,
    "raw": raw_condition,
}


def condition_function(name: str, config_key: str = "condition") -> Callable:
    if name not in CONDITION_FUNCTIONS:
        raise ConfigError(f"{config_key}: unknown condition {name!r}, expected one of {CONDITIONS}")
    return CONDITION_FUNCTIONS[name]


# ---------------------------------------------------------------------------------------------
# Level layout
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LevelSpec:
    """One level of the mapper: its name and the code slices (tokens) it covers, in code order."""

    name: str
    slices: tuple[tuple[int, int], ...]  # (start, stop) per token

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(stop - start for start, stop in self.slices)

    @property
    def width(self) -> int:
        return sum(self.widths)

    @property
    def per_token(self) -> bool:
        """All tokens equally wide -> per-token MLPs with shared weights."""
        return len(set(self.widths)) == 1

    @property
    def contiguous(self) -> bool:
        return all(a[1] == b[0] for a, b in zip(self.slices, self.slices[1:]))

    def to_dict(self) -> dict:
        return {"name": self.name, "slices": [list(s) for s in self.slices]}

    @classmethod
    def from_dict(cls, d: dict) -> "LevelSpec":
        return cls(str(d["name"]), tuple((int(a), int(b)) for a, b in d["slices"]))


def s_levels(conv_layers) -> list[LevelSpec]:
    """Levels of the S code from a generator's conv layers (StyleLayer: .level, .start, .stop)."""
    groups: dict[str, list[tuple[int, int]]] = {lv: [] for lv in LEVELS}
    for layer in conv_layers:
        groups[layer.level].append((layer.start, layer.stop))
    return [LevelSpec(lv, tuple(sl)) for lv, sl in groups.items() if sl]


def wplus_levels(layer_table, size: int, n_latent: int, style_dim: int) -> list[LevelSpec]:
    """Levels of a flattened W+ code: entry k goes to the level of the conv layer it feeds
    (the level of its toRGB layer if it feeds only one, as the last entry does)."""
    level = {l.latent_index: level_of(l.resolution, size) for l in layer_table if l.kind != "conv"}
    level.update({l.latent_index: l.level for l in layer_table if l.kind == "conv"})
    missing = [k for k in range(n_latent) if k not in level]
    if missing:
        raise ValueError(f"W+ entries {missing} feed no layer")
    groups: dict[str, list[tuple[int, int]]] = {lv: [] for lv in LEVELS}
    for k in range(n_latent):
        groups[level[k]].append((k * style_dim, (k + 1) * style_dim))
    return [LevelSpec(lv, tuple(sl)) for lv, sl in groups.items() if sl]


def levels_for_space(G, space: str) -> list[LevelSpec]:
    """The mapper levels of a generator's code space ("s" or "wplus")."""
    if space == "s":
        return s_levels(G.conv_layers())
    if space == "wplus":
        return wplus_levels(G.layer_table, G.size, G.n_latent, G.style_dim)
    raise ConfigError(f"space: unknown code space {space!r}, expected one of {SPACES}")


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------

def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """Normalise each token's features (last axis) to unit root mean square."""
    return x * torch.rsqrt(x.square().mean(dim=-1, keepdim=True) + 1e-8)


def folded_linear(in_dim: int, out_dim: int, lr_mul: float) -> nn.Linear:
    """nn.Linear initialised like EqualLinear's *effective* weights: N(0, 1/in_dim), bias 0.

    EqualLinear stores w ~ N(0, 1/lr_mul^2) and multiplies by scale = lr_mul/sqrt(in_dim) on every
    forward, so its effective weight w*scale ~ N(0, 1/in_dim); its bias b is used as b*lr_mul.
    """
    layer = nn.Linear(in_dim, out_dim)
    with torch.no_grad():
        layer.weight.normal_(0.0, 1.0 / math.sqrt(in_dim))
        layer.bias.zero_()
    return layer


def equal_linear(in_dim: int, out_dim: int, lr_mul: float) -> EqualLinear:
    """The official layer (rescaled on every forward); the activation is applied by the MLP."""
    return EqualLinear(in_dim, out_dim, lr_mul=lr_mul)


class MLP(nn.Module):
    """Optional PixelNorm + n linear layers (in->out, then out->out), each with leaky ReLU 0.2 x sqrt 2."""

    def __init__(self, in_dim: int, out_dim: int, *, n_layers: int, lr_mul: float, pixel_norm: bool,
                 linear: Callable[[int, int, float], nn.Module] = folded_linear):
        super().__init__()
        self.pixel_norm = pixel_norm
        self.lr_mul = lr_mul
        self.layers = nn.ModuleList(
            linear(in_dim if i == 0 else out_dim, out_dim, lr_mul) for i in range(n_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pixel_norm:
            x = pixel_norm(x)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * _SQRT2
        return x


class LevelMapper(nn.Module):
    """Style, Condition and Fusion modules of one level."""

    def __init__(self, level: LevelSpec, cond_dim: int, *, n_layers: int, lr_mul: float, pixel_norm: bool,
                 linear: Callable = folded_linear):
        super().__init__()
        self.level = level
        self.n_tokens = len(level.slices) if level.per_token else 1
        width = level.widths[0] if level.per_token else level.width
        mlp = dict(n_layers=n_layers, lr_mul=lr_mul, linear=linear)
        self.style = MLP(width, width, pixel_norm=pixel_norm, **mlp)
        self.condition = MLP(cond_dim, width, pixel_norm=pixel_norm, **mlp)
        self.fusion = MLP(2 * width, width, pixel_norm=False, **mlp)  # the reference fuses without PixelNorm
        self.width = width

    def take(self, code: torch.Tensor) -> torch.Tensor:
        """This level's part of the code: (B, T, width) for per-token levels, (B, width) otherwise."""
        lv = self.level
        if lv.contiguous:
            part = code[:, lv.slices[0][0]:lv.slices[-1][1]]
        else:
            part = torch.cat([code[:, a:b] for a, b in lv.slices], dim=1)
        return part.reshape(code.shape[0], self.n_tokens, self.width) if lv.per_token else part

    def forward(self, code_part: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        style = self.style(code_part)
        c = self.condition(cond)
        if self.level.per_token:
            c = c.unsqueeze(1).expand(-1, self.n_tokens, -1)
        out = self.fusion(torch.cat([style, c], dim=-1))
        return out.reshape(out.shape[0], -1)


class DeltaMapper(nn.Module):
    """forward(code (B, D), cond (B, 2*clip_dim)) -> delta (B, D).

    levels must partition [0, D); arch: n_layers (4), lr_mul (0.01), pixel_norm (True) as the
    official mapper.
    """

    linear_factory: Callable = staticmethod(folded_linear)

    def __init__(self, levels: Sequence[LevelSpec], clip_dim: int, *, n_layers: int = 4, lr_mul: float = 0.01,
                 pixel_norm: bool = True):
        super().__init__()
        levels = [lv if isinstance(lv, LevelSpec) else LevelSpec.from_dict(lv) for lv in levels]
        spans = sorted(s for lv in levels for s in lv.slices)
        self.code_dim = spans[-1][1] if spans else 0
        if not spans or spans[0][0] != 0 or any(a[1] != b[0] for a, b in zip(spans, spans[1:])):
            raise ValueError(f"DeltaMapper: level slices must partition [0, D) without gaps: {spans}")
        self.levels = list(levels)
        self.clip_dim = int(clip_dim)
        self.arch = {"levels": [lv.to_dict() for lv in levels], "clip_dim": self.clip_dim,
                     "n_layers": int(n_layers), "lr_mul": float(lr_mul), "pixel_norm": bool(pixel_norm)}
        self.mappers = nn.ModuleDict({
            lv.name: LevelMapper(lv, 2 * self.clip_dim, n_layers=n_layers, lr_mul=lr_mul, pixel_norm=pixel_norm,
                                 linear=type(self).linear_factory)
            for lv in levels
        })
        # Output order: each level's output is the concatenation of its tokens; the levels' pieces
        # are put back by code position (a plain cat when the levels are contiguous and in order).
        order = [s for lv in levels for s in lv.slices]
        self._in_order = order == spans and all(lv.contiguous for lv in levels)
        if not self._in_order:
            self.register_buffer("_inverse", torch.argsort(torch.cat(
                [torch.arange(a, b) for a, b in order])), persistent=False)

    @classmethod
    def for_space(cls, G, space: str, clip_dim: int, **arch) -> "DeltaMapper":
        """Mapper for generator G's S code (space "s") or flattened W+ code (space "wplus")."""
        unknown = sorted(set(arch) - set(DEFAULT_ARCH))
        if unknown:
            raise ConfigError(f"arch: unknown Delta Mapper settings {unknown}, known: {sorted(DEFAULT_ARCH)}")
        return cls(levels_for_space(G, space), clip_dim, **{**DEFAULT_ARCH, **arch})

    def forward(self, code: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        assert code.ndim == 2 and code.shape[1] == self.code_dim, (
            f"DeltaMapper: code must be (B, {self.code_dim}), got {tuple(code.shape)}")
        assert cond.shape == (code.shape[0], 2 * self.clip_dim), (
            f"DeltaMapper: condition must be ({code.shape[0]}, {2 * self.clip_dim}), got {tuple(cond.shape)}")
        outs = [m(m.take(code), cond) for m in self.mappers.values()]
        out = torch.cat(outs, dim=1)
        return out if self._in_order else out[:, self._inverse]

    def param_groups(self, lr: float) -> list[dict]:
        """Adam parameter groups that make this folded model train like the equalized-lr original.

        Adam's update m/(sqrt(v)+eps) does not change when a gradient is multiplied by a constant
        (up to eps). EqualLinear trains w with effective weight W = c*w, c = lr_mul/sqrt(in), so
        dL/dw = c dL/dW and Adam moves w by lr*u, i.e. W by lr*c*u, where u is the same normalised
        step Adam computes from dL/dW. Training W directly with learning rate lr*c therefore gives
        the same trajectory (Adam's eps acts as eps/c); likewise the bias (used as b*lr_mul) with
        learning rate lr*lr_mul. Groups are merged by learning rate.
        """
        groups: dict[float, list[nn.Parameter]] = {}
        for mlp in self.modules():
            if not isinstance(mlp, MLP):
                continue
            for layer in mlp.layers:
                scale = mlp.lr_mul / math.sqrt(layer.weight.shape[1])
                groups.setdefault(lr * scale, []).append(layer.weight)
                groups.setdefault(lr * mlp.lr_mul, []).append(layer.bias)
        return [{"params": params, "lr": group_lr} for group_lr, params in groups.items()]


class EqualizedDeltaMapper(DeltaMapper):
    """Reference topology with the official equalized-lr layers (weights rescaled on every forward).

    For the equivalence test and the throughput benchmark only; train it with Adam(lr) directly
    (no param_groups). `folded_state_dict()` gives the equivalent DeltaMapper weights.
    """

    linear_factory = staticmethod(equal_linear)

    def param_groups(self, lr: float) -> list[dict]:
        return [{"params": list(self.parameters()), "lr": lr}]

    def folded_state_dict(self) -> dict:
        out = {}
        for name, module in self.named_modules():
            if isinstance(module, EqualLinear):
                out[f"{name}.weight"] = (module.weight * module.scale).detach().clone()
                out[f"{name}.bias"] = (module.bias * module.lr_mul).detach().clone()
        return out


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def save_delta_mapper(path: str | os.PathLike, mapper: DeltaMapper, *, space: str, condition: str,
                      extra: dict | None = None) -> None:
    """Save in our format (kind "deltaspace/delta_mapper"): arch = levels, clip_dim and MLP settings."""
    if space not in SPACES or condition not in CONDITIONS:
        raise ValueError(f"save_delta_mapper: space {space!r} / condition {condition!r} unknown")
    if type(mapper) is not DeltaMapper:
        raise TypeError("save_delta_mapper saves the folded DeltaMapper only")
    save_checkpoint(path, CHECKPOINT_KIND, mapper.arch, mapper.state_dict(),
                    {**dict(extra or {}), "space": space, "condition": condition})


def load_delta_mapper(path: str | os.PathLike, config_key: str) -> tuple[DeltaMapper, dict]:
    """-> (DeltaMapper in eval mode, info: space, condition, clip_dim, code_dim, levels, arch, training...)."""
    obj = load_checkpoint(path, CHECKPOINT_KIND, config_key)
    arch = dict(obj["arch"])
    extra = dict(obj["extra"])
    try:
        mapper = DeltaMapper(arch.pop("levels"), arch.pop("clip_dim"), **arch)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_key}: {path} has an unusable Delta Mapper architecture: {exc}") from None
    if extra.get("space") not in SPACES or extra.get("condition") not in CONDITIONS:
        raise CheckpointError(f"{config_key}: {path} does not record a known space/condition "
                              f"(found {extra.get('space')!r}/{extra.get('condition')!r})")
    load_state_dict_strict(mapper, obj["state_dict"], config_key, path)
    info = {**extra, "clip_dim": mapper.clip_dim, "code_dim": mapper.code_dim,
            "levels": [lv.to_dict() for lv in mapper.levels], "arch": dict(obj["arch"])}
    return mapper.eval(), info
