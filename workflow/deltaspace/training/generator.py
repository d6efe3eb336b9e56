"""Distil the mini world's StyleGAN2 generator from the procedural renderer.

The generator learns G(z) ~ render(params_from_latent(z, prior), size, style) for z ~ N(0, I):
only the first NUM_FACTORS components of z drive the renderer. Item i of step t uses
z = rng.normal(seed, "generator-train", t * batch_size + i), so every run with the same settings
sees the same data. The loss is a plain regression (L1 + MSE, plus L1 on 2x-downsampled images);
no discriminator is needed because the target of every z is known.

What makes this fast enough for a CPU (about 28.5 dB after 64k images; 31 with free toRGB styles):

* the mapping network is built, not learned (`init_mapping_from_factors`): w is an affine
  function of the renderer's factors (class indicators, identity and pose values), read off
  the renderer's own latent -> parameter map. A random MLP needs a very long time to learn the
  sharp class boundaries; with the built mapping only the synthesis network and the modulation
  layers are trained (the mapping stays fixed);
* modulation weights start small and centred on the mean w (`init_styles_near_one`), so the
  synthesis network first learns the mean face, then the conditional effects;
* channels_last convolutions and the fast modulated-conv path of models.stylegan2.

Colour goes through S (`torgb_styles="constant"`, the default): left free, the toRGB styles are
the shortest path from w to colour, and the distilled generator put hair colour and skin tone
there, out of reach of every S-space edit (S excludes toRGB styles, as in the paper), while the
real FFHQ generator edits hair colour through its conv styles. `constant_torgb_styles` fixes
every toRGB style to 1 for every w (zero, frozen modulation weights), so only the conv layers'
modulations can carry per-image information. The state dict keeps rosinality's layout.

The target of z is the face of PixelNorm(z) (`attributes.params_from_latent`): the mapping network
only sees the normalised z, so a target read off the raw z would put about 4% of samples (those
near a class boundary) on the other side of it, an error no training could remove.

Evaluation: mean per-image PSNR (dB, images in [0, 1], generator output clamped to the image
range) on `eval_count` z of stream "generator-eval". The checkpoint's latent_avg is the mean w of
10,000 z, as for rosinality's truncation.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..metrics.psnr import psnr_db
from .. import rng
from ..errors import ConfigError
from ..models.stylegan2 import Generator, save_generator
from ..world import attributes, renderer

log = logging.getLogger(__name__)

TRAIN_STREAM = "generator-train"
EVAL_STREAM = "generator-eval"

#: Mini-world generator: 32 px, narrow layers (about 40 MMAC per image of synthesis; S has 672
#: channels, levels coarse 4-8 px, medium 16 px, fine 32 px).
MINI_ARCH: dict = {
    "size": 32,
    "style_dim": 512,
    "n_mlp": 2,
    "channels": {4: 128, 8: 128, 16: 64, 32: 32},
    "lr_mlp": 0.01,
}

#: Training settings for MINI_ARCH: 64k images, ~28.5 dB held-out PSNR with constant toRGB styles
#: (31.0 with free ones; 30.3 after 96k images; 29.8 with lr 0.03, 32.2 with lr 0.05); about 3-9 min
#: on one CPU thread, machine-dependent.
MINI_TRAINING: dict = {"steps": 2000, "batch_size": 32, "lr": 0.02}


@dataclass(frozen=True)
class Ramp:
    """clamp((u[factor] - start) / width, 0, 1): one piece of the factor encoding."""

    factor: int
    start: float
    width: float


def factor_encoding(prior: str, max_units: int, ramp_width: float = 0.01,
                    max_segments: int = 16) -> tuple[list[Ramp], list[tuple[list[tuple[int, float]], float]]]:
    """Describe each renderer factor as a linear function of ramps of its latent component.

    The renderer's parameters are probed through attributes.params_from_normal on a 1-D sweep of
    each latent component, so this follows whatever latent -> parameter map the world defines:
    a categorical factor gets one steep ramp (width `ramp_width`) at every class boundary (its
    class indicators are then differences of ramps); a continuous factor is a piecewise-linear
    fit with knots at normal quantiles. Returns (ramps, features), a feature being
    ([(ramp index, coefficient), ...], constant). Two mapping units per ramp must fit in max_units.
    """
    grid = np.linspace(-6.0, 6.0, 24_001)
    nf = attributes.NUM_FACTORS
    categorical, continuous = [], []
    for k, name in enumerate(attributes.FACTORS):
        z = np.zeros((grid.size, nf), dtype=np.float32)
        z[:, k] = grid
        values = np.asarray(attributes.params_from_normal(z, prior)[name])
        if np.issubdtype(values.dtype, np.integer):
            edges = np.nonzero(values[1:] != values[:-1])[0]
            categorical.append((k, [0.5 * (grid[i] + grid[i + 1]) for i in edges]))
        else:
            continuous.append((k, name))
    n_cat = sum(len(t) for _, t in categorical)
    segments = min(max_segments, (max_units // 2 - n_cat) // max(1, len(continuous)))
    if segments < 1:
        raise ConfigError(
            f"generator arch: style_dim {max_units} is too small for the factor-aligned mapping "
            f"({2 * (n_cat + len(continuous))} units needed); use a larger style_dim or mapping_init='random'"
        )
    ramps: list[Ramp] = []
    features: list[tuple[list[tuple[int, float]], float]] = []
    for k, thresholds in categorical:
        # class indicators (one-hot): 1 - r_0, r_0 - r_1, ..., r_last
        first = len(ramps)
        for t in thresholds:
            ramps.append(Ramp(k, t - 0.5 * ramp_width, ramp_width))
        idx = list(range(first, len(ramps)))
        features.append(([(idx[0], -1.0)], 1.0))
        for a, b in zip(idx[:-1], idx[1:]):
            features.append(([(a, 1.0), (b, -1.0)], 0.0))
        features.append(([(idx[-1], 1.0)], 0.0))
    for k, name in continuous:
        knots = torch.special.ndtri(torch.linspace(0.002, 0.998, segments + 1, dtype=torch.float64)).numpy()
        z = np.zeros((knots.size, nf), dtype=np.float32)
        z[:, k] = knots
        values = np.asarray(attributes.params_from_normal(z, prior)[name], dtype=np.float64)
        terms = []
        for i in range(segments):
            terms.append((len(ramps), float(values[i + 1] - values[i])))
            ramps.append(Ramp(k, float(knots[i]), float(knots[i + 1] - knots[i])))
        features.append((terms, float(values[0])))
    return ramps, features


def _set_equal_linear(layer, weight: torch.Tensor, bias: torch.Tensor) -> None:
    """Store effective weights into an EqualLinear (undo its runtime scale and lr multiplier)."""
    with torch.no_grad():
        layer.weight.copy_(weight / layer.scale)
        layer.bias.copy_(bias / layer.lr_mul)


@torch.no_grad()
def init_mapping_from_factors(G: Generator, prior: str, seed: int, ramp_width: float = 0.01,
                              sample_count: int = 16_384) -> dict:
    """Set G's mapping network so that w is an affine function of the renderer's factors.

    Learning sharp class boundaries (hair colour, background, ...) from z with a randomly
    initialised MLP is what makes distillation slow; the boundaries are known, so the mapping is
    built instead: layer 1 computes ramps of the factor components of PixelNorm(z) (two leaky-ReLU
    units per ramp: lrelu(x) - lrelu(x - 1) is a clamp), layer 2 forms the factor features,
    standardises them and embeds them with a random orthonormal matrix (from deltaspace.rng)
    plus a per-dimension offset that keeps every unit in the linear part of the leaky ReLU;
    further layers pass w through unchanged. Nuisance components of z get zero weights.
    """
    layers = list(G.style)[1:]
    if len(layers) < 2:
        raise ConfigError("generator arch: the factor-aligned mapping needs n_mlp >= 2")
    d = G.style_dim
    ramps, features = factor_encoding(prior, d, ramp_width)
    sqrt2 = math.sqrt(2.0)
    w1, b1 = torch.zeros(d, d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)
    for r, ramp in enumerate(ramps):
        for unit, shift in ((2 * r, 0.0), (2 * r + 1, 1.0)):
            w1[unit, ramp.factor] = 1.0 / ramp.width
            b1[unit] = -ramp.start / ramp.width - shift
    # ramp_r = (h[2r] - h[2r+1] - 0.2 sqrt2) / (0.8 sqrt2) with h = sqrt2 * lrelu(layer-1 pre-activation)
    nfeat = len(features)
    P, p0 = torch.zeros(nfeat, d, dtype=torch.float64), torch.zeros(nfeat, dtype=torch.float64)
    for j, (terms, const) in enumerate(features):
        p0[j] = const
        for r, coef in terms:
            P[j, 2 * r] += coef / (0.8 * sqrt2)
            P[j, 2 * r + 1] -= coef / (0.8 * sqrt2)
            p0[j] -= 0.25 * coef
    _set_equal_linear(layers[0], w1.float(), b1.float())

    z = torch.from_numpy(rng.normal(seed, "generator-mapping-init", range(sample_count), d))
    h1 = layers[0](G.style[0](z)).double()
    f = h1 @ P.t() + p0
    mean, std = f.mean(0), f.std(0).clamp_min(1e-3)
    # x = Q (f - mean) / std: standardised features embedded in d/2 dims by an orthonormal Q.
    # w holds (x, -x) through the last leaky ReLU: linear in the features via differences, and
    # nearly zero-mean (a w with a large constant offset would make the modulation layers'
    # gradients badly conditioned).
    half = d // 2
    emb = torch.from_numpy(rng.normal(seed, "generator-mapping-embedding", range(half), nfeat)).double()
    Q = torch.linalg.qr(emb)[0] * math.sqrt(half / nfeat)  # orthonormal columns, unit variance per dim
    A = Q / std  # (half, nfeat)
    W_x, b_x = A @ P, A @ (p0 - mean)  # x = W_x h1 + b_x
    pairs = torch.zeros(d, half, dtype=torch.float64)  # (x, -x) in the first 2 * half outputs
    pairs[:half] = torch.eye(half, dtype=torch.float64)
    pairs[half:2 * half] = -torch.eye(half, dtype=torch.float64)
    if len(layers) == 2:
        _set_equal_linear(layers[1], (pairs @ W_x).float(), (pairs @ b_x).float())
    else:
        # layer 2 holds x + offset (positive, so the leaky ReLUs stay linear) until the last layer
        x = h1 @ W_x.t() + b_x
        offset = (-x.min(0).values).clamp_min(0.0) + 0.5
        embed = torch.zeros(d, half, dtype=torch.float64)
        embed[:half] = torch.eye(half, dtype=torch.float64)
        _set_equal_linear(layers[1], (embed @ W_x).float(), (embed @ (b_x + offset)).float())
        for layer in layers[2:-1]:
            _set_equal_linear(layer, torch.eye(d) / sqrt2, torch.zeros(d))
        _set_equal_linear(layers[-1], (pairs @ embed.t() / sqrt2).float(), (-(pairs @ offset)).float())
    return {"ramps": len(ramps), "features": nfeat, "units": 2 * len(ramps)}


@torch.no_grad()
def init_styles_near_one(G: Generator, gain: float, seed: int, sample_count: int = 4096) -> None:
    """Scale every modulation weight by `gain` and centre it on the mean w, so styles start near 1.

    Every layer then starts close to an unconditional generator (learning the mean face first),
    and a non-zero mean of w (the factor-aligned mapping has one) adds no random constant to s.
    """
    z = torch.from_numpy(rng.normal(seed, "generator-style-init", range(sample_count), G.style_dim))
    w_mean = G.mapping(z).mean(0)
    for layer in G.layer_table:
        mod = G.get_submodule(layer.name).conv.modulation
        mod.weight.mul_(gain)
        mod.bias.copy_((1.0 - F.linear(w_mean, mod.weight * mod.scale)) / mod.lr_mul)


@torch.no_grad()
def constant_torgb_styles(G: Generator) -> None:
    """Make every toRGB style the constant 1, whatever w, and freeze it (see the module docstring)."""
    for layer in G.rgb_layers():
        mod = G.get_submodule(layer.name).conv.modulation
        mod.weight.zero_()
        mod.bias.fill_(1.0 / mod.lr_mul)
        mod.requires_grad_(False)


def target_batch(seed: int, stream: str, indices, style_dim: int, size: int, prior: str,
                 style: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(z (N, style_dim), renders (N, 3, size, size) in [-1, 1]) for items `indices` of a stream."""
    z = rng.normal(seed, stream, np.asarray(indices, dtype=np.int64), style_dim)
    images = renderer.render(attributes.params_from_latent(z, prior), size, style)
    return torch.from_numpy(z), images



def distillation_loss(out: torch.Tensor, target: torch.Tensor, coarse_weight: float = 1.0) -> torch.Tensor:
    """L1 + MSE at full resolution, plus L1 at half resolution (weighted by coarse_weight)."""
    loss = F.l1_loss(out, target) + F.mse_loss(out, target)
    if coarse_weight > 0:
        loss = loss + coarse_weight * F.l1_loss(F.avg_pool2d(out, 2), F.avg_pool2d(target, 2))
    return loss


@torch.no_grad()
def evaluate_generator(G: Generator, *, seed: int, count: int, prior: str = "ffhq", style: str = "ffhq",
                       batch_size: int = 64) -> dict:
    """Held-out PSNR of G(z) against the render of z, and synthesis throughput (images/s)."""
    G.eval()
    psnr, synth_seconds = [], 0.0
    for lo in range(0, count, batch_size):
        z, target = target_batch(seed, EVAL_STREAM, range(lo, min(count, lo + batch_size)), G.style_dim,
                                 G.size, prior, style)
        s, s_rgb = G.styles_from_z(z)
        t0 = time.perf_counter()
        out = G.synthesis(s, s_rgb, noise_mode="const")
        synth_seconds += time.perf_counter() - t0
        psnr.append(psnr_db(out, target))
    psnr_all = torch.cat(psnr)
    pooled_mse = torch.mean(10 ** (-psnr_all / 10))
    return {
        "psnr_db": float(psnr_all.mean()),
        "psnr_pooled_db": float(-10 * torch.log10(pooled_mse)),
        "psnr_p05_db": float(torch.quantile(psnr_all, 0.05)),
        "synthesis_images_per_second": float(count / max(synth_seconds, 1e-9)),
    }


def lr_factor(step: int, steps: int, warmup: int, final_fraction: float) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to `final_fraction` of the base lr."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def train_generator(
    out_path: str | os.PathLike,
    *,
    arch: dict,
    prior: str = "ffhq",
    style: str = "ffhq",
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    eval_count: int = 512,
    threads: int = 2,
    log_every: int = 100,
    eval_every: int = 0,
    warmup_steps: int = 100,
    final_lr_fraction: float = 0.02,
    betas: tuple[float, float] = (0.9, 0.99),
    coarse_weight: float = 1.0,
    mapping_init: str = "factors",
    style_init_gain: float = 0.1,
    torgb_styles: str = "constant",
    latent_avg_count: int = 10_000,
) -> dict:
    """Train Generator(**arch) to reproduce the renderer and save it with save_generator.

    mapping_init: "factors" builds the mapping network from the renderer's factor structure
    (init_mapping_from_factors) and keeps it fixed; "random" trains it from its usual random init.
    style_init_gain: scale of the initial modulation weights, so that every layer starts close
    to an unconditional generator (styles near 1) and learns the mean face first.
    torgb_styles: "constant" fixes every toRGB style to 1 (constant_torgb_styles), so that colour
    must travel through S; "free" trains them like the conv styles.
    eval_every: also log the PSNR on 256 held-out images every that many steps (0 = never).
    Returns {"psnr_db", "psnr_pooled_db", "psnr_p05_db", "synthesis_images_per_second", "steps",
    "seconds", "train_seconds", "final_loss"}.
    """
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"train_generator: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if prior not in attributes.PRIORS or style not in renderer.STYLES:
        raise ConfigError(f"train_generator: unknown prior {prior!r} or style {style!r}")
    if arch.get("style_dim", 512) < attributes.NUM_FACTORS:
        raise ConfigError(f"train_generator: style_dim must be >= NUM_FACTORS ({attributes.NUM_FACTORS})")
    if mapping_init not in ("factors", "random"):
        raise ConfigError(f"train_generator: mapping_init must be 'factors' or 'random', got {mapping_init!r}")
    if torgb_styles not in ("constant", "free"):
        raise ConfigError(f"train_generator: torgb_styles must be 'constant' or 'free', got {torgb_styles!r}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        start = time.time()
        G = Generator(**arch).train()
        if mapping_init == "factors":
            info = init_mapping_from_factors(G, prior, seed)
            G.style.requires_grad_(False)
            log.info("generator: factor-aligned mapping with %(ramps)d ramps, %(features)d features", info)
        init_styles_near_one(G, style_init_gain, seed)
        if torgb_styles == "constant":
            constant_torgb_styles(G)
        opt = torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr=lr, betas=tuple(betas))
        warmup = min(warmup_steps, max(1, steps // 10))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps, warmup, final_lr_fraction))

        bar = tqdm(range(steps), desc="train generator", unit="step", mininterval=5.0)
        window, curve, evals = [], [], []
        for step in bar:
            idx = range(step * batch_size, (step + 1) * batch_size)
            z, target = target_batch(seed, TRAIN_STREAM, idx, G.style_dim, G.size, prior, style)
            loss = distillation_loss(G(z, noise_mode="const"), target, coarse_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            window.append(loss.item())
            if (step + 1) % log_every == 0 or step == steps - 1:
                curve.append((step + 1, float(np.mean(window))))
                window = []
                bar.set_postfix(loss=f"{curve[-1][1]:.4f}", lr=f"{sched.get_last_lr()[0]:.2e}")
            if eval_every and (step + 1) % eval_every == 0 and step < steps - 1:
                psnr = evaluate_generator(G, seed=seed, count=256, prior=prior, style=style)["psnr_db"]
                G.train()
                evals.append((step + 1, psnr))
                log.info("generator: step %d, held-out PSNR %.2f dB (256 images)", step + 1, psnr)
        bar.close()
        train_seconds = time.time() - start

        G.eval()
        metrics = evaluate_generator(G, seed=seed, count=eval_count, prior=prior, style=style)
        latent_avg = G.mean_latent(latent_avg_count, seed=seed)
        seconds = time.time() - start
        summary = {
            **metrics,
            "steps": steps,
            "seconds": round(seconds, 1),
            "train_seconds": round(train_seconds, 1),
            "final_loss": curve[-1][1],
        }
        save_generator(out_path, G, latent_avg, {
            **summary,
            "loss_curve": curve,
            "eval_curve": evals,
            "prior": prior,
            "style": style,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
            "threads": threads,
            "warmup_steps": warmup,
            "final_lr_fraction": final_lr_fraction,
            "betas": list(betas),
            "coarse_weight": coarse_weight,
            "mapping_init": mapping_init,
            "style_init_gain": style_init_gain,
            "torgb_styles": torgb_styles,
        })
    finally:
        torch.set_num_threads(previous_threads)
    log.info(
        "generator: held-out PSNR %.2f dB (pooled %.2f, 5th percentile %.2f), %d steps x %d, "
        "train %.0f s, total %.0f s, synthesis %.0f img/s",
        summary["psnr_db"], summary["psnr_pooled_db"], summary["psnr_p05_db"], steps, batch_size,
        train_seconds, seconds, summary["synthesis_images_per_second"],
    )
    return summary
