"""StyleGAN2 generator in plain PyTorch, with its style space (S space) as a first-class input.

The module tree, parameter names, buffer names and shapes match rosinality/stylegan2-pytorch's
`Generator`, so its `.pt` checkpoints (and the `decoder.*` part of e4e checkpoints) load with a
strict `load_state_dict`. Nothing here needs a compiled op: the up/down-sampling FIR filters and
the biased leaky ReLU are written with ordinary torch functions.

S space (StyleSpace, Wu et al. 2021; used by StyleCLIP and DeltaEdit) is the concatenation of the
outputs of every conv layer's `modulation` affine layer, in forward order (conv1, convs.0,
convs.1, ...). The toRGB layers also have styles; they are kept in a separate vector `s_rgb`,
because DeltaEdit's S excludes them. `synthesis(s, s_rgb)` renders an image from these two
vectors, so an edit in S is just `synthesis(s + ds, s_rgb)`.

Shapes: z and w are (B, style_dim); W+ is (B, n_latent, style_dim); s is (B, s_dim); s_rgb is
(B, s_rgb_dim); images are (B, 3, size, size) in roughly [-1, 1].
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .. import rng
from ..errors import CheckpointError
from ..io.checkpoints import load_checkpoint, load_state_dict_strict, safe_torch_load, save_checkpoint

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "stylegan2"
LEVELS = ("coarse", "medium", "fine")
NOISE_MODES = ("const", "random", "none")
_SQRT2 = math.sqrt(2.0)


def default_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """rosinality's channel count per resolution (StyleGAN2 config-f for channel_multiplier=2)."""
    table = {
        4: 512, 8: 512, 16: 512, 32: 512,
        64: 256 * channel_multiplier, 128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
        512: 32 * channel_multiplier, 1024: 16 * channel_multiplier,
    }
    return {r: c for r, c in table.items() if r <= size}


# ---------------------------------------------------------------------------------------------
# Low-level ops (pure torch replacements for rosinality's compiled upfirdn2d / fused_leaky_relu)
# ---------------------------------------------------------------------------------------------

def make_fir_kernel(taps: Iterable[float]) -> torch.Tensor:
    """2-D separable FIR kernel from 1-D taps, normalised to sum 1."""
    k = torch.tensor(list(taps), dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Zero-insertion upsampling by `up`, symmetric (pad0, pad1) padding on both axes, FIR filter.

    Same result as rosinality's upfirdn2d with down=1 and non-negative pads: the filter is a
    true convolution (kernel flipped), applied to every channel separately.
    """
    b, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(b, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    p0, p1 = pad
    x = F.pad(x, (p0, p1, p0, p1))
    kh, kw = kernel.shape
    k = torch.flip(kernel, [0, 1]).to(x.dtype).view(1, 1, kh, kw).repeat(c, 1, 1, 1)
    return F.conv2d(x, k, groups=c)


def biased_lrelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """leaky_relu(x + bias, 0.2) * sqrt(2), bias broadcast over the channel axis (dim 1)."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), 0.2) * _SQRT2


# ---------------------------------------------------------------------------------------------
# Layers (names and parameter layouts follow rosinality so state dicts are interchangeable)
# ---------------------------------------------------------------------------------------------

class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate: weight ~ N(0, 1/lr_mul^2), runtime scale lr_mul/sqrt(in)."""

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            return biased_lrelu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}"


class Blur(nn.Module):
    """FIR low-pass filter applied after the transposed convolution of an upsampling layer."""

    def __init__(self, taps: Iterable[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_fir_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=1, pad=self.pad)


class Upsample(nn.Module):
    """x2 FIR upsampling of the toRGB skip branch."""

    def __init__(self, taps: Iterable[float], factor: int = 2):
        super().__init__()
        kernel = make_fir_kernel(taps) * factor ** 2
        self.register_buffer("kernel", kernel)
        p = kernel.shape[0] - factor
        self.factor = factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Convolution whose input channels are scaled by a per-sample style (optionally demodulated).

    `forward(x, s)` takes the style *after* the modulation layer, i.e. one S-space segment of
    shape (B, in_channel); `self.modulation(w)` maps a W vector to it.

    Two equivalent implementations: the default one scales the activations (input by s, output
    by the demodulation coefficients) and runs one ordinary convolution with the shared weight,
    which is much faster on CPU; `fused=True` builds per-sample weights and runs a grouped
    convolution (the StyleGAN2 paper's formulation), kept as a reference.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False,
                 blur_kernel: Iterable[float] = (1, 3, 3, 1)):
        super().__init__()
        blur_kernel = tuple(blur_kernel)
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)

    def extra_repr(self) -> str:
        return (f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, upsample={self.upsample}, "
                f"demodulate={self.demodulate}")

    def forward(self, x: torch.Tensor, s: torch.Tensor, fused: bool = False) -> torch.Tensor:
        b, cin, h, w = x.shape
        assert cin == self.in_channel, f"ModulatedConv2d: input has {cin} channels, layer expects {self.in_channel}"
        assert s.shape == (b, cin), f"ModulatedConv2d: style shape {tuple(s.shape)}, expected {(b, cin)}"
        if fused:
            return self._forward_grouped(x, s, self.weight[0] * self.scale)
        out, dcoefs = self.forward_undemodulated(x, s)
        if dcoefs is not None:
            out = out * dcoefs.view(b, self.out_channel, 1, 1)
        return out

    def forward_undemodulated(self, x: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Fast path without the last step: (conv of x * s with the shared weight, dcoefs (B, out) or None).

        The caller multiplies by the demodulation coefficients, which lets StyledConv fold that
        product into its bias/noise/activation step.
        """
        b, cin = s.shape
        weight = self.weight[0] * self.scale  # (out, in, k, k)
        x = x * s.view(b, cin, 1, 1)
        if self.upsample:
            out = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        if not self.demodulate:
            return out, None
        # ||W[o] * s||^2 = sum_i s_i^2 * sum_kk W[o, i]^2, computed without per-sample weights.
        return out, torch.rsqrt(s.square() @ weight.square().sum((2, 3)).t() + 1e-8)

    def forward_channels_set(self, x: torch.Tensor, s: torch.Tensor, channels: torch.Tensor, values: torch.Tensor,
                             base: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`forward_undemodulated` for many copies of the batch, each with one style channel replaced.

        x (B, in, H, W), s (B, in): the base batch; channels (n,) input-channel indices; values
        (V, n): the value channel j is set to in copy (v, j). Returns (out, dcoefs) for V*n*B
        samples ordered (v, j, b), i.e. the same as `forward_undemodulated(x_rep, s_rep)` where
        s_rep[(v, j, b)] = s[b] with s_rep[:, channels[j]] = values[v, j].

        The convolution is linear in its input, and changing one style channel changes the input
        in one channel only: out' = out + (value - s_c) * conv(x_c, W[:, c]). So one convolution of
        the base batch plus one single-channel convolution per channel (1/in of a convolution
        each, shared by all V values) replace V*n full convolutions. `base` is
        `forward_undemodulated(x, s)[0]` if the caller has it already (it is the same for every
        channel set of a batch).
        """
        b, cin = s.shape
        n, nv = channels.numel(), values.shape[0]
        weight = self.weight[0] * self.scale  # (out, in, k, k)
        if base is None:
            base, _ = self.forward_undemodulated(x, s)
        # conv of each selected input channel alone: a grouped convolution with n groups
        xc = x[:, channels]
        wc = weight[:, channels].transpose(0, 1)  # (n, out, k, k)
        if self.upsample:
            resp = self.blur(F.conv_transpose2d(xc, wc, stride=2, groups=n))
        else:
            resp = F.conv2d(xc, wc.reshape(n * self.out_channel, 1, *wc.shape[2:]), padding=self.padding, groups=n)
        h, w = resp.shape[-2:]
        # Work in (..., h, w, out) order: the result, allocated contiguous in that order, is the
        # channels_last layout the synthesis uses, written in one pass.
        resp = resp.permute(0, 2, 3, 1).reshape(b, h, w, n, self.out_channel)
        resp = resp.permute(3, 0, 1, 2, 4)  # (n, B, h, w, out)
        delta = values.to(s).view(nv, n, 1) - s[:, channels].t().unsqueeze(0)  # (V, n, B)
        out = torch.addcmul(base.permute(0, 2, 3, 1), delta.view(nv, n, b, 1, 1, 1), resp)  # (V, n, B, h, w, out)
        out = out.reshape(nv * n * b, h, w, self.out_channel).permute(0, 3, 1, 2)
        if not self.demodulate:
            return out, None
        wsq = weight.square().sum((2, 3))  # (out, in)
        sumsq = s.square() @ wsq.t()  # (B, out)
        change = values.to(s).square().view(nv, n, 1) - s[:, channels].square().t().unsqueeze(0)  # (V, n, B)
        sumsq = sumsq.view(1, 1, b, -1) + change.unsqueeze(-1) * wsq[:, channels].t().view(1, n, 1, -1)
        return out, torch.rsqrt(sumsq.reshape(nv * n * b, -1) + 1e-8)

    def _forward_grouped(self, x: torch.Tensor, s: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        b, cin, h, w = x.shape
        k = self.kernel_size
        wb = weight.unsqueeze(0) * s.view(b, 1, cin, 1, 1)  # (B, out, in, k, k)
        if self.demodulate:
            wb = wb * torch.rsqrt(wb.square().sum((2, 3, 4)) + 1e-8).view(b, self.out_channel, 1, 1, 1)
        x = x.reshape(1, b * cin, h, w)
        if self.upsample:
            wt = wb.transpose(1, 2).reshape(b * cin, self.out_channel, k, k)
            out = F.conv_transpose2d(x, wt, stride=2, groups=b)
            out = self.blur(out.view(b, self.out_channel, out.shape[-2], out.shape[-1]))
            return out
        out = F.conv2d(x, wb.reshape(b * self.out_channel, cin, k, k), padding=self.padding, groups=b)
        return out.view(b, self.out_channel, out.shape[-2], out.shape[-1])


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:  # noise_mode "none"
            return x
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class FusedLeakyReLU(nn.Module):
    """Per-channel bias + leaky ReLU(0.2) * sqrt(2) (named as in rosinality for the state dict)."""

    def __init__(self, channel: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return biased_lrelu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Iterable[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: torch.Tensor, s: torch.Tensor, noise: torch.Tensor | None, fused: bool = False) -> torch.Tensor:
        if fused:  # reference: the three steps exactly as rosinality writes them
            return self.activate(self.noise(self.conv(x, s, fused=True), noise))
        # Same result in two passes over the activations instead of five: leaky ReLU is positively
        # homogeneous, so sqrt(2) * lrelu(d * y + n + b) = lrelu(sqrt(2) d * y + sqrt(2) (n + b)),
        # where only y is large; d (demodulation), n (noise) and b (bias) are small tensors.
        y, dcoefs = self.conv.forward_undemodulated(x, s)
        return self.finish(y, dcoefs, noise)

    def finish(self, y: torch.Tensor, dcoefs: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """Demodulation, noise, bias and activation applied to `conv.forward_undemodulated`'s output."""
        offset = self.activate.bias.view(1, -1, 1, 1)
        if noise is not None:
            offset = offset + self.noise.weight * noise
        # the offset must share y's memory layout (channels_last): mixed layouts take a slow path
        offset = (offset * _SQRT2).contiguous(memory_format=torch.channels_last)
        b, c = y.shape[:2]
        return F.leaky_relu(torch.addcmul(offset, y, dcoefs.view(b, c, 1, 1) * _SQRT2), 0.2)


class ToRGB(nn.Module):
    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Iterable[float] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, s: torch.Tensor, skip: torch.Tensor | None, fused: bool = False) -> torch.Tensor:
        out = self.conv(x, s, fused=fused) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


# ---------------------------------------------------------------------------------------------
# S-space layout
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StyleLayer:
    """One styled layer: where its style lives in the flat S (conv) or S_rgb (torgb) vector.

    name: module path ("conv1", "convs.3", "to_rgb1", "to_rgbs.2"); kind: "conv" or "torgb";
    resolution: output resolution of the layer; channels: style size (= the layer's input
    channels); start/stop: slice in the flat vector of its kind; latent_index: which W+ row
    feeds the layer; level: "coarse"/"medium"/"fine" for conv layers, None for toRGB.
    """

    name: str
    kind: str
    resolution: int
    channels: int
    start: int
    stop: int
    latent_index: int
    level: str | None

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)


def level_of(resolution: int, size: int) -> str:
    """DeltaEdit's level of a conv layer: coarse <= 8 px, medium 16-32 px, fine >= 64 px.

    Generators of at most 32 px have no 64 px layer, so their top resolution counts as fine
    (a 32 px generator: coarse 4-8, medium 16, fine 32).
    """
    if resolution <= 8:
        return "coarse"
    if resolution >= 64 or (size <= 32 and resolution == size):
        return "fine"
    return "medium"


# ---------------------------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------------------------

class Generator(nn.Module):
    """StyleGAN2 generator (rosinality layout) with explicit W+, S and noise handling.

    channels: optional {resolution: channels} table replacing rosinality's (which is derived
    from channel_multiplier); it must cover every power of two from 4 to size.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 channels: dict[int, int] | None = None, lr_mlp: float = 0.01,
                 blur_kernel: Iterable[float] = (1, 3, 3, 1)):
        super().__init__()
        log_size = int(round(math.log2(size)))
        if size < 4 or 2 ** log_size != size:
            raise ValueError(f"Generator size must be a power of two >= 4, got {size}")
        blur_kernel = tuple(int(t) if float(t).is_integer() else float(t) for t in blur_kernel)
        if channels is None:
            table = default_channels(size, channel_multiplier)
        else:
            table = {int(r): int(c) for r, c in channels.items()}
            needed = [2 ** i for i in range(2, log_size + 1)]
            missing = [r for r in needed if r not in table]
            if missing:
                raise ValueError(f"Generator channels table lacks resolutions {missing} (size {size})")
            table = {r: table[r] for r in needed}
        self.arch = {
            "size": size, "style_dim": style_dim, "n_mlp": n_mlp, "channel_multiplier": channel_multiplier,
            "channels": None if channels is None else dict(table), "lr_mlp": lr_mlp,
            "blur_kernel": list(blur_kernel),
        }
        self.size = size
        self.style_dim = style_dim
        self.log_size = log_size
        self.channels = table
        self.num_layers = (log_size - 2) * 2 + 1  # conv layers = noise inputs
        self.n_latent = log_size * 2 - 2

        self.style = nn.Sequential(
            PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)]
        )
        c4 = table[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()  # empty; present in rosinality's module tree
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_channel = c4
        for i in range(3, log_size + 1):
            out_channel = table[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel))
            in_channel = out_channel
        self.layer_table = self._build_layer_table()
        convs = [l for l in self.layer_table if l.kind == "conv"]
        rgbs = [l for l in self.layer_table if l.kind == "torgb"]
        self.s_dim = convs[-1].stop
        self.s_rgb_dim = rgbs[-1].stop
        self._conv_index = {l.name: i for i, l in enumerate(convs)}

    # -- layout --------------------------------------------------------------------------------

    def _build_layer_table(self) -> list[StyleLayer]:
        """Styled layers in forward order, interleaving conv and toRGB layers as the forward does."""
        entries: list[tuple[str, str, int, int, int]] = [
            ("conv1", "conv", 4, self.channels[4], 0),
            ("to_rgb1", "torgb", 4, self.channels[4], 1),
        ]
        for j in range(self.log_size - 2):
            res = 2 ** (j + 3)
            entries.append((f"convs.{2 * j}", "conv", res, self.convs[2 * j].conv.in_channel, 2 * j + 1))
            entries.append((f"convs.{2 * j + 1}", "conv", res, self.convs[2 * j + 1].conv.in_channel, 2 * j + 2))
            entries.append((f"to_rgbs.{j}", "torgb", res, self.to_rgbs[j].conv.in_channel, 2 * j + 3))
        table, offset = [], {"conv": 0, "torgb": 0}
        for name, kind, res, ch, latent in entries:
            start = offset[kind]
            offset[kind] += ch
            level = level_of(res, self.size) if kind == "conv" else None
            table.append(StyleLayer(name, kind, res, ch, start, start + ch, latent, level))
        return table

    def conv_layers(self) -> list[StyleLayer]:
        return [l for l in self.layer_table if l.kind == "conv"]

    def rgb_layers(self) -> list[StyleLayer]:
        return [l for l in self.layer_table if l.kind == "torgb"]

    def level_slices(self) -> dict[str, list[slice]]:
        """For each level, the S slices of its conv layers (empty list if a level has no layer)."""
        out: dict[str, list[slice]] = {lv: [] for lv in LEVELS}
        for layer in self.conv_layers():
            out[layer.level].append(layer.slice)
        return out

    def _styled_module(self, layer: StyleLayer) -> nn.Module:
        return self.get_submodule(layer.name)

    # -- latent spaces -------------------------------------------------------------------------

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, style_dim) -> w (B, style_dim)."""
        assert z.ndim == 2 and z.shape[1] == self.style_dim, (
            f"mapping: z must be (B, {self.style_dim}), got {tuple(z.shape)}")
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 10_000, seed: int = 0, batch: int = 2048) -> torch.Tensor:
        """Mean of w over n z drawn from deltaspace.rng (stream "mean-latent"); shape (style_dim,)."""
        device = self.input.input.device
        total = torch.zeros(self.style_dim, dtype=torch.float64, device=device)
        for lo in range(0, n, batch):
            idx = range(lo, min(n, lo + batch))
            z = torch.from_numpy(rng.normal(seed, "mean-latent", idx, self.style_dim)).to(device)
            total += self.mapping(z).double().sum(0)
        return (total / n).float()

    def wplus_from_z(self, z: torch.Tensor, truncation: float = 1.0,
                     truncation_latent: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, style_dim) -> W+ (B, n_latent, style_dim), with optional truncation towards a mean w."""
        w = self.mapping(z)
        if truncation != 1.0:
            if truncation_latent is None:
                raise ValueError("truncation != 1 needs truncation_latent (e.g. the checkpoint's latent_avg)")
            avg = truncation_latent.reshape(1, self.style_dim).to(w)
            w = avg + truncation * (w - avg)
        return w.unsqueeze(1).expand(-1, self.n_latent, -1)

    def styles_from_wplus(self, wplus: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """W+ (B, n_latent, style_dim) -> (s (B, s_dim), s_rgb (B, s_rgb_dim))."""
        assert wplus.ndim == 3 and wplus.shape[1:] == (self.n_latent, self.style_dim), (
            f"styles_from_wplus: W+ must be (B, {self.n_latent}, {self.style_dim}), got {tuple(wplus.shape)}")
        conv, rgb = [], []
        for layer in self.layer_table:
            s = self._styled_module(layer).conv.modulation(wplus[:, layer.latent_index])
            (conv if layer.kind == "conv" else rgb).append(s)
        return torch.cat(conv, 1), torch.cat(rgb, 1)

    def styles_from_z(self, z: torch.Tensor, truncation: float = 1.0,
                      truncation_latent: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.styles_from_wplus(self.wplus_from_z(z, truncation, truncation_latent))

    # -- synthesis -----------------------------------------------------------------------------

    def _noise(self, i: int, batch: int, noise_mode: str, generator: torch.Generator | None,
               like: torch.Tensor) -> torch.Tensor | None:
        if noise_mode == "none":
            return None
        if noise_mode == "const":
            return getattr(self.noises, f"noise_{i}").to(like.dtype)
        res = 2 ** ((i + 5) // 2)
        return torch.randn(batch, 1, res, res, generator=generator, device=like.device, dtype=like.dtype)

    def synthesis(self, s: torch.Tensor, s_rgb: torch.Tensor, noise_mode: str = "const",
                  generator: torch.Generator | None = None, fused: bool = False) -> torch.Tensor:
        """Render images from S codes: s (B, s_dim), s_rgb (B, s_rgb_dim) -> (B, 3, size, size).

        noise_mode: "const" uses the registered noise buffers (the same noise for every sample,
        so outputs do not depend on the batch), "random" draws fresh noise from `generator`,
        "none" disables noise. fused=True uses the grouped-convolution reference path.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        assert s.ndim == 2 and s.shape[1] == self.s_dim, f"synthesis: s must be (B, {self.s_dim}), got {tuple(s.shape)}"
        assert s_rgb.ndim == 2 and s_rgb.shape == (s.shape[0], self.s_rgb_dim), (
            f"synthesis: s_rgb must be ({s.shape[0]}, {self.s_rgb_dim}), got {tuple(s_rgb.shape)}")
        x, skip = self.run_layers(self.initial_state(s.shape[0]), s, s_rgb, 0, len(self.layer_table),
                                  noise_mode, generator, fused)
        return skip.contiguous()

    # The synthesis as a sequence of steps over `layer_table` (conv1, to_rgb1, convs.0, convs.1,
    # to_rgbs.0, ...) acting on a state (x, skip): a conv layer updates the features x, a toRGB layer
    # the RGB image skip. Running steps [0, k) once and [k, end) many times renders many codes that
    # differ only from layer k on, without recomputing the layers before k.

    def initial_state(self, batch: int) -> tuple[torch.Tensor, None]:
        """State before layer_table[0]: the constant input, no RGB image yet."""
        # channels_last: oneDNN's (transposed) convolutions and depthwise blurs are 2-4x faster on
        # CPU in this layout; elementwise ops keep it, the result is returned as plain NCHW.
        return self.input(batch).contiguous(memory_format=torch.channels_last), None

    def noise_input(self, layer: StyleLayer, batch: int, noise_mode: str = "const",
                    generator: torch.Generator | None = None, like: torch.Tensor | None = None):
        """The noise a conv layer adds (noise buffer i belongs to the i-th conv layer)."""
        like = self.input.input if like is None else like
        return self._noise(self._conv_index[layer.name], batch, noise_mode, generator, like)

    def run_layers(self, state: tuple[torch.Tensor, torch.Tensor | None], s: torch.Tensor, s_rgb: torch.Tensor,
                   start: int, stop: int, noise_mode: str = "const", generator: torch.Generator | None = None,
                   fused: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Apply layer_table[start:stop] to `state` = (x, skip); s and s_rgb are full codes (B, s_dim),
        (B, s_rgb_dim) of which only the slices of these layers are read. The image is the final skip."""
        x, skip = state
        b = x.shape[0]
        for layer in self.layer_table[start:stop]:
            if layer.kind == "conv":
                noise = self.noise_input(layer, b, noise_mode, generator, x)
                x = self._styled_module(layer)(x, s[:, layer.slice], noise, fused)
            else:
                skip = self._styled_module(layer)(x, s_rgb[:, layer.slice], skip, fused)
        return x, skip

    def synthesis_wplus(self, wplus: torch.Tensor, noise_mode: str = "const",
                        generator: torch.Generator | None = None) -> torch.Tensor:
        return self.synthesis(*self.styles_from_wplus(wplus), noise_mode=noise_mode, generator=generator)

    def forward(self, z: torch.Tensor, truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                noise_mode: str = "const", generator: torch.Generator | None = None) -> torch.Tensor:
        """z (B, style_dim) -> image (B, 3, size, size)."""
        return self.synthesis_wplus(self.wplus_from_z(z, truncation, truncation_latent), noise_mode, generator)


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def save_generator(path: str | os.PathLike, G: Generator, latent_avg: torch.Tensor, extra: dict | None = None) -> None:
    """Save in our format: kind "stylegan2", arch = every constructor argument, latent_avg in extra."""
    extra = dict(extra or {})
    extra["latent_avg"] = latent_avg.detach().cpu().reshape(G.style_dim).float()
    save_checkpoint(path, CHECKPOINT_KIND, G.arch, G.state_dict(), extra)


def load_generator(path: str | os.PathLike, config_key: str) -> tuple[Generator, torch.Tensor]:
    """Load one of our generator checkpoints -> (G in eval mode, latent_avg (style_dim,))."""
    obj = load_checkpoint(path, CHECKPOINT_KIND, config_key)
    try:
        G = Generator(**obj["arch"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_key}: {path} has an unusable architecture {obj['arch']}: {exc}") from None
    load_state_dict_strict(G, obj["state_dict"], config_key, path)
    latent_avg = obj["extra"].get("latent_avg")
    if latent_avg is None:
        raise CheckpointError(f"{config_key}: {path} has no latent_avg in its extra data")
    return G.eval(), latent_avg.float().reshape(G.style_dim)


def _describe_rosinality_state(sd: dict) -> str:
    """Guess size / channel multiplier / style_dim / n_mlp of a rosinality state dict, for error hints."""
    n_rgbs = len({k.split(".")[1] for k in sd if k.startswith("to_rgbs.")})
    parts = [f"{4 * 2 ** n_rgbs} px ({n_rgbs} to_rgbs layers)"]
    w = sd.get("conv1.conv.modulation.weight")
    if w is not None:
        parts.append(f"style_dim {w.shape[1]}")
    n_mlp = len({k.split(".")[1] for k in sd if k.startswith("style.")})
    parts.append(f"n_mlp {n_mlp}")
    top = sd.get(f"to_rgbs.{n_rgbs - 1}.conv.weight") if n_rgbs else None
    if top is not None:
        res, ch = 4 * 2 ** n_rgbs, top.shape[2]
        base = {64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}.get(res)
        hint = f" = channel_multiplier {ch // base}" if base and ch % base == 0 else ""
        parts.append(f"{ch} channels at the top resolution{hint}")
    return ", ".join(parts)


def generator_from_rosinality_state(state_dict: dict, arch: dict, config_key: str, path) -> Generator:
    """Build Generator(**arch) and load a rosinality-layout state dict into it (strict).

    A state dict of another architecture gives one CheckpointError that says what the file seems
    to hold (e.g. "256 px (6 to_rgbs layers)") next to what the config asked for.
    """
    G = Generator(**arch)
    try:
        load_state_dict_strict(G, state_dict, config_key, path)
    except CheckpointError as exc:
        raise CheckpointError(
            f"{exc} The file looks like a generator of {_describe_rosinality_state(state_dict)}; "
            f"the config asks for size {arch.get('size')}, style_dim {G.style_dim}, "
            f"n_mlp {len(G.style) - 1}, {G.channels[G.size]} channels at {G.size} px."
        ) from None
    return G


def load_rosinality(path: str | os.PathLike, size: int, style_dim: int = 512, n_mlp: int = 8,
                    channel_multiplier: int = 2, config_key: str = "generator",
                    channels: dict | None = None) -> tuple[Generator, torch.Tensor]:
    """Load a rosinality/stylegan2-pytorch checkpoint ({"g_ema": ..., "latent_avg": ..., ...}).

    The architecture is not stored in such files, so it is passed in. `channels` ({resolution:
    channels}) is for generators trained with a narrowed copy of rosinality's channel table; None
    means rosinality's own. Without a latent_avg (train.py checkpoints) the mean of 10,000 mapped z
    is used, with a warning.
    """
    obj = safe_torch_load(path, config_key, "a rosinality StyleGAN2 checkpoint (dict with 'g_ema')")
    if not isinstance(obj, dict) or "g_ema" not in obj:
        found = f"keys {sorted(obj)[:6]}" if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{config_key}: {path} is not a rosinality StyleGAN2 checkpoint: no 'g_ema' ({found})")
    arch = {"size": size, "style_dim": style_dim, "n_mlp": n_mlp, "channel_multiplier": channel_multiplier,
            "channels": channels}
    args = obj.get("args")
    if isinstance(args, argparse.Namespace):
        stored = {k: getattr(args, k) for k in ("size", "channel_multiplier", "n_mlp", "latent") if hasattr(args, k)}
        log.info("%s: checkpoint training args: %s", config_key, stored)
    G = generator_from_rosinality_state(obj["g_ema"], arch, config_key, path).eval()
    latent_avg = obj.get("latent_avg")
    if latent_avg is None:
        log.warning("%s: %s has no latent_avg; using the mean w of 10,000 mapped z instead", config_key, path)
        latent_avg = G.mean_latent(10_000)
    latent_avg = torch.as_tensor(latent_avg).float().reshape(-1, style_dim)
    if latent_avg.shape[0] > 1:
        log.warning("%s: latent_avg of %s has %d rows; using their mean", config_key, path, latent_avg.shape[0])
    return G, latent_avg.mean(0)
