"""e4e-style encoder (Encoder4Editing) from images to StyleGAN2 W+ codes.

Architecture (after Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation"):
an IR-SE residual backbone; feature maps taken after the last three blocks (c1 fine, c2 medium,
c3 coarse); an FPN-style top-down path (p2 = up(c3) + latlayer1(c2), p1 = up(p2) + latlayer2(c1));
one GradualStyleBlock (strided convs down to 1x1, then an equalized linear layer) per W+ entry.
Entry 0 predicts a base code w0 that is broadcast to all entries; every later entry adds its own
offset. The output is W+ = latent_avg + w.

With `real_e4e_arch()` the module's state_dict keys and shapes are those of the encoder part of
the official e4e checkpoint (keys "encoder.*" there), so `load_e4e_checkpoint` reads such a file.
The mini world uses the same class with narrow channels and few units (`mini_e4e_arch()`).
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..io.checkpoints import (
    load_checkpoint,
    load_state_dict_strict,
    safe_torch_load,
    save_checkpoint,
)

KIND = "e4e"


def n_latent_for_size(size: int) -> int:
    """Number of W+ entries of a rosinality StyleGAN2 generator of this output size."""
    return 2 * int(math.log2(size)) - 2


def real_e4e_arch(n_latent: int = 18, style_dim: int = 512) -> dict:
    """The official e4e encoder: IR-SE 50 backbone at 256 px input, 512-wide style blocks."""
    return {
        "input_size": 256,
        "stem_channels": 64,
        # (depth, units) per block; the first unit of each block halves the resolution
        "blocks": [[64, 3], [128, 4], [256, 14], [512, 3]],
        "unit": "ir_se",
        "se_reduction": 16,
        "n_latent": n_latent,
        "style_dim": style_dim,
        "style_hidden": 512,
        "coarse_ind": 3,
        "middle_ind": 7,
        "stem_stride": 1,
    }


def mini_e4e_arch(n_latent: int = 8, style_dim: int = 128) -> dict:
    """A small encoder for the 32 px mini world: 0.6 M parameters, about 2,300 images/s of
    inference on one CPU thread (batch 256). Unlike e4e its stem is strided (full-resolution
    layers would take most of the time at 32 px): the backbone starts at 16 px and c1, c2, c3 are
    4, 2 and 1 px maps."""
    coarse, middle = default_level_bounds(n_latent)
    return {
        "input_size": 32,
        "stem_channels": 16,
        "blocks": [[16, 1], [32, 1], [48, 1], [64, 1]],
        "unit": "ir_se",
        "se_reduction": 4,
        "n_latent": n_latent,
        "style_dim": style_dim,
        "style_hidden": 64,
        "coarse_ind": coarse,
        "middle_ind": middle,
        "stem_stride": 2,
    }


def default_level_bounds(n_latent: int) -> tuple[int, int]:
    """(coarse_ind, middle_ind): entries [0, coarse_ind) read the coarse features c3,
    [coarse_ind, middle_ind) the medium map p2, the rest the fine map p1.

    e4e uses 3 and 7 of 18 entries (4-8 px layers coarse, 16-32 px medium, 64 px and up fine).
    A small generator has few entries and its last layers are its "fine" ones, so the split is
    relative instead: about a quarter coarse, then up to five eighths medium (8 entries -> 2, 5).
    """
    if n_latent == 18:
        return 3, 7
    if n_latent < 3:
        raise ConfigError(f"e4e encoder: n_latent must be >= 3, got {n_latent}")
    coarse = max(1, n_latent // 4)
    middle = max(coarse + 1, min(n_latent - 1, (5 * n_latent) // 8))
    return coarse, middle


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate (weight scaled by lr_mul / sqrt(in) at run time),
    key names weight/bias as in rosinality's StyleGAN2 code used by e4e."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class SEModule(nn.Module):
    """Squeeze-and-excitation: channel gates from globally pooled features (1x1 convs, no bias)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, padding=0, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean(dim=(2, 3), keepdim=True)
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(gate))))
        return x * gate


class BottleneckIR(nn.Module):
    """IR(-SE) residual unit: BN, 3x3 conv, PReLU, strided 3x3 conv, BN (, SE), plus a shortcut
    that is a 1x1 strided conv + BN when the width changes, otherwise plain subsampling."""

    def __init__(self, in_channel: int, depth: int, stride: int, se_reduction: int | None) -> None:
        super().__init__()
        self.stride = stride
        if in_channel == depth:
            # stands for MaxPool2d(1, stride) in the reference: no parameters
            self.shortcut_layer: nn.Module = nn.Identity()
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, (1, 1), stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, (3, 3), (1, 1), 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, (3, 3), stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se_reduction is not None:
            layers.append(SEModule(depth, se_reduction))
        self.res_layer = nn.Sequential(*layers)
        self._identity_shortcut = in_channel == depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._identity_shortcut:
            shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        else:
            shortcut = self.shortcut_layer(x)
        return self.res_layer(x) + shortcut


class GradualStyleBlock(nn.Module):
    """Strided 3x3 convs (LeakyReLU 0.01) from a spatial x spatial map down to 1x1, then an
    equalized linear layer to one style vector."""

    def __init__(self, in_c: int, hidden: int, out_c: int, spatial: int) -> None:
        super().__init__()
        num_convs = max(1, int(math.log2(spatial)))
        modules: list[nn.Module] = []
        for i in range(num_convs):
            modules += [
                nn.Conv2d(in_c if i == 0 else hidden, hidden, kernel_size=3, stride=2, padding=1),
                nn.LeakyReLU(),
            ]
        self.convs = nn.Sequential(*modules)
        self.linear = EqualLinear(hidden, out_c, lr_mul=1.0)
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)
        return self.linear(x.reshape(x.shape[0], self.hidden))


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear (align_corners=True, as in the reference) upsampling of x to y's size, plus y."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


class E4EEncoder(nn.Module):
    """Encoder4Editing: images (B, 3, input_size, input_size), normalised to [-1, 1]
    -> W+ codes (B, n_latent, style_dim) = latent_avg + w0 (broadcast) + per-entry offsets.

    `latent_avg` is a non-persistent buffer (not in state_dict, so the keys match the
    official checkpoint); the loaders below set it.

    Arguments (all stored in `self.arch`, which save_encoder writes beside the weights):
    input_size: side of the (square) input; stem_channels / stem_stride: the first conv;
    blocks: [[depth, units], ...] of IR(-SE) units, the first unit of each block halving the
    resolution (at least 3 blocks; the last three give c1, c2, c3); unit: "ir_se" or "ir";
    se_reduction: SE bottleneck ratio; n_latent / style_dim: the W+ shape; style_hidden: width of
    the style blocks' convs; coarse_ind / middle_ind: entry boundaries between the c3, p2 and
    p1 feature maps.
    """

    def __init__(
        self,
        input_size: int,
        stem_channels: int,
        blocks: list,
        unit: str,
        se_reduction: int,
        n_latent: int,
        style_dim: int,
        style_hidden: int,
        coarse_ind: int,
        middle_ind: int,
        stem_stride: int = 1,
    ) -> None:
        super().__init__()
        if unit not in ("ir", "ir_se"):
            raise ConfigError(f"e4e encoder: unit must be 'ir' or 'ir_se', got {unit!r}")
        if len(blocks) < 3:
            raise ConfigError(f"e4e encoder: need at least 3 backbone blocks, got {len(blocks)}")
        if not 1 <= coarse_ind < middle_ind <= n_latent:
            raise ConfigError(
                f"e4e encoder: need 1 <= coarse_ind < middle_ind <= n_latent, got "
                f"{coarse_ind}, {middle_ind}, {n_latent}"
            )
        reduction = stem_stride * 2 ** len(blocks)
        final_spatial = input_size // reduction
        if final_spatial < 1 or input_size % reduction:
            raise ConfigError(
                f"e4e encoder: input_size {input_size} must be divisible by "
                f"stem_stride * 2**len(blocks) = {reduction}"
            )
        self.arch: dict[str, Any] = {
            "input_size": int(input_size),
            "stem_channels": int(stem_channels),
            "blocks": [[int(d), int(u)] for d, u in blocks],
            "unit": unit,
            "se_reduction": int(se_reduction),
            "n_latent": int(n_latent),
            "style_dim": int(style_dim),
            "style_hidden": int(style_hidden),
            "coarse_ind": int(coarse_ind),
            "middle_ind": int(middle_ind),
            "stem_stride": int(stem_stride),
        }
        self.input_size = int(input_size)
        self.n_latent = int(n_latent)
        self.style_dim = int(style_dim)
        self.coarse_ind = int(coarse_ind)
        self.middle_ind = int(middle_ind)

        self.input_layer = nn.Sequential(
            nn.Conv2d(3, stem_channels, (3, 3), stem_stride, 1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.PReLU(stem_channels),
        )
        se = se_reduction if unit == "ir_se" else None
        units: list[nn.Module] = []
        block_ends: list[int] = []  # index in body of each block's last unit
        in_c = stem_channels
        for depth, num_units in blocks:
            for k in range(num_units):
                units.append(BottleneckIR(in_c, depth, 2 if k == 0 else 1, se))
                in_c = depth
            block_ends.append(len(units) - 1)
        self.body = nn.Sequential(*units)
        # c1, c2, c3: outputs of the last three blocks (units 6, 20, 23 for IR-SE 50)
        self._taps = tuple(block_ends[-3:])
        c1_ch, c2_ch, c3_ch = (blocks[i][0] for i in (-3, -2, -1))

        self.styles = nn.ModuleList()
        for i in range(n_latent):
            if i < coarse_ind:
                spatial = final_spatial
            elif i < middle_ind:
                spatial = final_spatial * 2
            else:
                spatial = final_spatial * 4
            self.styles.append(GradualStyleBlock(c3_ch, style_hidden, style_dim, spatial))
        self.latlayer1 = nn.Conv2d(c2_ch, c3_ch, kernel_size=1, stride=1, padding=0)
        self.latlayer2 = nn.Conv2d(c1_ch, c3_ch, kernel_size=1, stride=1, padding=0)
        self.register_buffer("latent_avg", torch.zeros(n_latent, style_dim), persistent=False)

    def set_latent_avg(self, latent_avg: torch.Tensor) -> None:
        """Set the W+ centre from a (style_dim,) or (n_latent, style_dim) tensor."""
        latent_avg = torch.as_tensor(latent_avg, dtype=torch.float32).detach()
        if latent_avg.shape == (self.style_dim,):
            latent_avg = latent_avg.expand(self.n_latent, self.style_dim)
        if tuple(latent_avg.shape) != (self.n_latent, self.style_dim):
            raise CheckpointError(
                f"latent_avg has shape {tuple(latent_avg.shape)}, expected "
                f"({self.style_dim},) or ({self.n_latent}, {self.style_dim})"
            )
        self.latent_avg.copy_(latent_avg)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Backbone feature maps (c1 fine, c2 medium, c3 coarse)."""
        x = self.input_layer(x)
        taps = []
        for i, layer in enumerate(self.body):
            x = layer(x)
            if i in self._taps:
                taps.append(x)
        return taps[0], taps[1], taps[2]

    def offsets(self, x: torch.Tensor) -> torch.Tensor:
        """w = W+ - latent_avg: w0 broadcast to all entries plus one offset per entry >= 1."""
        c1, c2, c3 = self.features(x)
        w0 = self.styles[0](c3)
        deltas = [torch.zeros_like(w0)]
        feats = c3
        p2 = None
        for i in range(1, self.n_latent):
            if i == self.coarse_ind:
                p2 = _upsample_add(c3, self.latlayer1(c2))
                feats = p2
            elif i == self.middle_ind:
                feats = _upsample_add(p2, self.latlayer2(c1))
            deltas.append(self.styles[i](feats))
        return w0.unsqueeze(1) + torch.stack(deltas, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent_avg.unsqueeze(0) + self.offsets(x)


def preprocess(E: E4EEncoder, images: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (B, 3, H, W) -> the encoder's input size. e4e's own preprocessing is
    Resize(256) + ToTensor + Normalize(0.5, 0.5), i.e. [-1, 1] at 256 px: only resizing is left
    (antialiased when shrinking, like PIL's resize)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images (B, 3, H, W), got {tuple(images.shape)}")
    size = E.input_size
    if images.shape[-2:] != (size, size):
        shrink = images.shape[-1] > size or images.shape[-2] > size
        images = F.interpolate(
            images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
        )
    return images


@torch.no_grad()
def encode(E: E4EEncoder, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Invert images in [-1, 1] (B, 3, H, W) to W+ (B, n_latent, style_dim) in eval mode.
    Chunked so that large inputs do not blow up memory; results do not depend on batch_size."""
    was_training = E.training
    E.eval()
    try:
        out = [E(preprocess(E, images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    finally:
        E.train(was_training)
    if not out:
        return torch.zeros(0, E.n_latent, E.style_dim)
    return torch.cat(out)


# ----------------------------------------------------------------------------- our format


def save_encoder(path: str | os.PathLike, E: E4EEncoder, extra: dict | None = None) -> None:
    """Save in our format: kind "e4e", arch = constructor arguments, latent_avg beside the weights."""
    sd = dict(E.state_dict())
    sd["latent_avg"] = E.latent_avg.detach().clone()
    save_checkpoint(path, KIND, E.arch, sd, extra)


def load_encoder(path: str | os.PathLike, config_key: str) -> E4EEncoder:
    """Load an encoder written by save_encoder, in eval mode."""
    obj = load_checkpoint(path, KIND, config_key)
    try:
        E = E4EEncoder(**obj["arch"])
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{config_key}: {path} holds an unusable e4e arch: {exc}") from exc
    sd = dict(obj["state_dict"])
    latent_avg = sd.pop("latent_avg", None)
    if latent_avg is None:
        raise CheckpointError(f"{config_key}: {path} has no latent_avg")
    load_state_dict_strict(E, sd, config_key, path)
    E.set_latent_avg(latent_avg)
    return E.eval()


# ----------------------------------------------------------------------------- official format


def _opts_dict(opts: Any) -> dict:
    if isinstance(opts, argparse.Namespace):
        return vars(opts)
    return dict(opts) if isinstance(opts, dict) else {}


def _prefixed(sd: dict, prefix: str) -> dict:
    n = len(prefix) + 1
    return {k[n:]: v for k, v in sd.items() if k.startswith(prefix + ".")}


def load_e4e_checkpoint(
    path: str | os.PathLike,
    config_key: str,
    generator_arch: dict,
    encoder_arch: dict | None = None,
) -> tuple[E4EEncoder, nn.Module, torch.Tensor]:
    """Read an official e4e checkpoint (dict with "state_dict" holding "encoder.*" and
    "decoder.*" keys, "latent_avg", "opts").

    generator_arch: the rosinality Generator's constructor arguments (size, style_dim, n_mlp,
    channel_multiplier, ...) from the config; encoder_arch defaults to the official IR-SE 50
    encoder sized for that generator. Returns (encoder, generator, latent_avg) with latent_avg of
    shape (n_latent, style_dim) (also set inside the encoder); both models in eval mode.
    """
    from .stylegan2 import Generator  # imported here: stylegan2 is a heavier module

    what = "an e4e checkpoint (dict with state_dict of encoder.*/decoder.* keys, latent_avg, opts)"
    obj = safe_torch_load(path, config_key, what)
    if not isinstance(obj, dict) or not isinstance(obj.get("state_dict"), dict):
        found = sorted(obj)[:6] if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{config_key}: {path} is not {what} (found {found})")
    sd = obj["state_dict"]
    opts = _opts_dict(obj.get("opts"))

    encoder_type = opts.get("encoder_type", "Encoder4Editing")
    if encoder_type != "Encoder4Editing":
        # pSp's GradualStyleEncoder has the same keys but no w0 + offsets structure
        raise CheckpointError(
            f"{config_key}: {path} holds a {encoder_type} encoder; this loader reads Encoder4Editing"
        )
    size = int(generator_arch["size"])
    if "stylegan_size" in opts and int(opts["stylegan_size"]) != size:
        raise CheckpointError(
            f"{config_key}: {path} was trained for a {opts['stylegan_size']} px generator, "
            f"the config says {size} px (generator size)"
        )

    n_latent = n_latent_for_size(size)
    style_dim = int(generator_arch.get("style_dim", 512))
    E = E4EEncoder(**(encoder_arch or real_e4e_arch(n_latent=n_latent, style_dim=style_dim)))
    enc_sd, dec_sd = _prefixed(sd, "encoder"), _prefixed(sd, "decoder")
    if not enc_sd or not dec_sd:
        raise CheckpointError(
            f"{config_key}: {path} has {len(enc_sd)} encoder.* and {len(dec_sd)} decoder.* keys; "
            f"expected both"
        )
    load_state_dict_strict(E, enc_sd, config_key, path)
    G = Generator(**generator_arch)
    load_state_dict_strict(G, dec_sd, config_key, path)
    G.eval().requires_grad_(False)

    if obj.get("latent_avg") is not None:
        latent_avg = torch.as_tensor(obj["latent_avg"], dtype=torch.float32)
    elif opts.get("start_from_latent_avg", True):
        latent_avg = G.mean_latent(10_000)  # what e4e does for files without latent_avg
    else:
        latent_avg = torch.zeros(style_dim)
    E.set_latent_avg(latent_avg)
    return E.eval(), G, E.latent_avg.clone()
