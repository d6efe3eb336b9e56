"""Distil the mini world's StyleGAN2 generator from the procedural renderer.

The generator learns G(z) ~ render(params_from_normal(z, prior), size, style) for z ~ N(0, I):
only the first NUM_FACTORS components of z drive the renderer, the rest are nuisance inputs the
generator learns to ignore. Item i of step t uses z = rng.normal(seed, "generator-train",
t * batch_size + i), so every run with the same settings sees the same data. The loss is a plain
regression (L1 + MSE, plus L1 on 2x-downsampled images so low frequencies converge early);
no discriminator is needed because the target of every z is known.

Evaluation: mean per-image PSNR (dB, images in [0, 1], generator output clamped to the image
range) on `eval_count` z of stream "generator-eval". The checkpoint's latent_avg is the mean w of
10,000 z, as for rosinality's truncation.
"""

from __future__ import annotations

import logging
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import rng
from ..errors import ConfigError
from ..models.stylegan2 import Generator, save_generator
from ..world import attributes, renderer

log = logging.getLogger(__name__)

TRAIN_STREAM = "generator-train"
EVAL_STREAM = "generator-eval"

#: Mini-world generator: 32 px, narrow layers; about 40 MMAC per image of synthesis.
MINI_ARCH: dict = {
    "size": 32,
    "style_dim": 128,
    "n_mlp": 4,
    "channels": {4: 128, 8: 128, 16: 64, 32: 32},
    "lr_mlp": 0.01,
}


def target_batch(seed: int, stream: str, indices, style_dim: int, size: int, prior: str,
                 style: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(z (N, style_dim), renders (N, 3, size, size) in [-1, 1]) for items `indices` of a stream."""
    z = rng.normal(seed, stream, np.asarray(indices, dtype=np.int64), style_dim)
    images = renderer.render(attributes.params_from_normal(z, prior), size, style)
    return torch.from_numpy(z), images


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of two [-1, 1] image batches, measured on [0, 1] images."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


def distillation_loss(out: torch.Tensor, target: torch.Tensor, coarse_weight: float = 1.0) -> torch.Tensor:
    """L1 + MSE at full resolution, plus L1 at half resolution (weighted by coarse_weight)."""
    loss = F.l1_loss(out, target) + F.mse_loss(out, target)
    if coarse_weight > 0:
        loss = loss + coarse_weight * F.l1_loss(F.avg_pool2d(out, 2), F.avg_pool2d(target, 2))
    return loss


@torch.no_grad()
def evaluate_generator(G: Generator, *, seed: int, count: int, prior: str = "ffhq", style: str = "ffhq",
                       batch_size: int = 256) -> dict:
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
    warmup_steps: int = 100,
    final_lr_fraction: float = 0.02,
    betas: tuple[float, float] = (0.9, 0.99),
    coarse_weight: float = 1.0,
    latent_avg_count: int = 10_000,
) -> dict:
    """Train Generator(**arch) to reproduce the renderer and save it with save_generator.

    Returns {"psnr_db", "psnr_pooled_db", "psnr_p05_db", "synthesis_images_per_second", "steps",
    "seconds", "train_seconds", "final_loss"}.
    """
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"train_generator: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if prior not in attributes.PRIORS or style not in renderer.STYLES:
        raise ConfigError(f"train_generator: unknown prior {prior!r} or style {style!r}")
    if arch.get("style_dim", 512) < attributes.NUM_FACTORS:
        raise ConfigError(f"train_generator: style_dim must be >= NUM_FACTORS ({attributes.NUM_FACTORS})")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(seed)
        start = time.time()
        G = Generator(**arch).train()
        opt = torch.optim.Adam(G.parameters(), lr=lr, betas=tuple(betas))
        warmup = min(warmup_steps, max(1, steps // 10))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, steps, warmup, final_lr_fraction))

        bar = tqdm(range(steps), desc="train generator", unit="step", mininterval=5.0)
        running, losses = None, []
        for step in bar:
            idx = range(step * batch_size, (step + 1) * batch_size)
            z, target = target_batch(seed, TRAIN_STREAM, idx, G.style_dim, G.size, prior, style)
            loss = distillation_loss(G(z, noise_mode="const"), target, coarse_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            value = loss.item()
            running = value if running is None else 0.98 * running + 0.02 * value
            if step % log_every == 0 or step == steps - 1:
                losses.append((step, running))
                bar.set_postfix(loss=f"{running:.4f}", lr=f"{sched.get_last_lr()[0]:.2e}")
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
            "final_loss": running,
        }
        save_generator(out_path, G, latent_avg, {
            **summary,
            "loss_curve": losses,
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
