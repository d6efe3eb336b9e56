"""Train the mini world's e4e-style encoder on renders whose true latent is known.

Every training image is a render of params_from_latent(z) for a z drawn from deltaspace.rng
(stream "encoder-train", item index = step * batch_size + position), and the generator was
distilled so that G(z) looks like that render; the true W+ of the render is therefore
G.mapping(z) broadcast to every entry. Losses:

* latent: MSE between the predicted W+ and that target. Cheap, and it carries the early
  learning, but it is noisy where the generator's mapping sees components of z that the
  renderer ignores, and it cannot see the generator's own errors;
* reconstruction: L1 + MSE between G.synthesis(predicted W+) and the render, through the frozen
  generator. It is the expensive part (a generator forward and backward per image), so by
  default it runs on the first 16 images of each batch only; `recon_fraction` can restrict it
  to the last steps. It lets the encoder find codes that render the image better than G.mapping(z);
* e4e's delta regularisation: L2 norm of each entry's offset from entry 0;
* optionally (`shift`), reconstruction on renders of another prior and rendering style (stream
  "encoder-shift", never the dataset images). The generator was distilled on one style only,
  so these renders have no true latent: only the reconstruction loss applies. Without them the
  encoder, like any encoder trained on one domain, inverts the shifted domain worse than the
  generator can express it (benchmarks/inversion_ceiling.py).

Evaluation: inversion PSNR (dB, images in [0, 1]) of G(E(x)) against x on `eval_count` renders
of stream "encoder-eval", next to the generator's own ceiling (G(z) against the render of z).
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

from ..metrics.psnr import psnr_db
from .. import rng
from ..errors import ConfigError
from ..models.e4e import E4EEncoder, encode, mini_e4e_arch, preprocess, save_encoder
from ..models.stylegan2 import Generator, load_generator
from ..threads import torch_threads
from ..world import attributes, renderer

log = logging.getLogger(__name__)

TRAIN_STREAM = "encoder-train"
EVAL_STREAM = "encoder-eval"
SHIFT_STREAM = "encoder-shift"


def _quantize(images: torch.Tensor) -> torch.Tensor:
    """Round [-1, 1] images to 8-bit levels: the inversion stage reads PNG files."""
    return torch.round((images.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def render_batch(
    G: Generator, seed: int, stream: str, indices, prior: str, style: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, images) for items `indices` of a stream: z (N, style_dim), 8-bit renders in [-1, 1]."""
    z = rng.normal(seed, stream, np.asarray(indices, dtype=np.int64), G.style_dim)
    images = renderer.render(attributes.params_from_latent(z, prior), G.size, style)
    return torch.from_numpy(z), _quantize(images)



@torch.no_grad()
def evaluate_inversion(
    E: E4EEncoder,
    G: Generator,
    *,
    seed: int,
    count: int,
    prior: str = "ffhq",
    style: str = "ffhq",
    batch_size: int = 256,
) -> dict:
    """On `count` held-out renders: mean inversion PSNR of G(E(x)) vs x, the generator's ceiling
    (G(z) vs x), the W+ MSE to G.mapping(z), and the encoder's throughput (images/s)."""
    inv, ceil, lat = [], [], []
    encode_seconds = 0.0
    for lo in range(0, count, batch_size):
        z, x = render_batch(G, seed, EVAL_STREAM, range(lo, min(count, lo + batch_size)), prior, style)
        t0 = time.perf_counter()
        wplus = encode(E, x, batch_size=batch_size)
        encode_seconds += time.perf_counter() - t0
        inv.append(psnr_db(G.synthesis_wplus(wplus, noise_mode="const"), x))
        ceil.append(psnr_db(G(z, noise_mode="const"), x))
        lat.append((wplus - G.mapping(z).unsqueeze(1)).square().mean((1, 2)))
    return {
        "psnr_db": float(torch.cat(inv).mean()),
        "generator_psnr_db": float(torch.cat(ceil).mean()),
        "latent_mse": float(torch.cat(lat).mean()),
        "encoder_images_per_second": float(count / max(encode_seconds, 1e-9)),
    }


def _encoder_arch(arch: dict | None, G: Generator) -> dict:
    """The mini defaults sized for G, overridden by `arch`; n_latent/style_dim must fit G."""
    full = mini_e4e_arch(n_latent=G.n_latent, style_dim=G.style_dim)
    full.update(arch or {})
    if (full["n_latent"], full["style_dim"]) != (G.n_latent, G.style_dim):
        raise ConfigError(
            f"encoder arch: n_latent {full['n_latent']} / style_dim {full['style_dim']} do not fit the "
            f"generator (n_latent {G.n_latent}, style_dim {G.style_dim})"
        )
    return full


def train_encoder(
    out_path: str | os.PathLike,
    *,
    generator_path: str | os.PathLike,
    arch: dict | None = None,
    prior: str = "ffhq",
    style: str = "ffhq",
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    eval_count: int = 512,
    threads: int = 2,
    recon_fraction: float = 1.0,
    recon_batch: int | None = 16,
    recon_weight: float = 4.0,
    latent_weight: float = 1.0,
    delta_weight: float = 2e-4,
    shift: dict | None = None,
) -> dict:
    """Train an E4EEncoder against the generator at `generator_path`; save it with save_encoder.

    arch: encoder settings; mini_e4e_arch() sized for the generator, overridden by these keys.
    recon_fraction: the last fraction of the steps adds the reconstruction loss (1 = every step,
    0 = never), computed on the first `recon_batch` items of each batch (None = all of them).
    shift: {"prior", "style", "batch"}: add `batch` renders of that prior and style to every
    reconstruction step (reconstruction loss only), and evaluate on that domain too.
    Returns {"psnr_db", "generator_psnr_db", "latent_mse", "encoder_images_per_second", "steps",
    "seconds", "train_seconds"} and, with `shift`, "shift_psnr_db" and "shift_generator_psnr_db".
    """
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"train_encoder: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    if not 0.0 <= recon_fraction <= 1.0:
        raise ConfigError(f"train_encoder: recon_fraction must be in [0, 1], got {recon_fraction}")
    if prior not in attributes.PRIORS or style not in renderer.STYLES:
        raise ConfigError(f"train_encoder: unknown prior {prior!r} or style {style!r}")
    shift = _check_shift(shift)
    with torch_threads(threads):
        summary = _train(
            out_path, generator_path=generator_path, arch=arch, prior=prior, style=style, steps=steps,
            batch_size=batch_size, lr=lr, seed=seed, eval_count=eval_count,
            recon_fraction=recon_fraction, recon_batch=min(recon_batch or batch_size, batch_size),
            recon_weight=recon_weight, latent_weight=latent_weight, delta_weight=delta_weight, shift=shift,
        )
    log.info(
        "encoder: inversion PSNR %.2f dB (generator ceiling %.2f dB), latent MSE %.4f, %d steps x %d, "
        "train %.0f s, total %.0f s, inference %.0f img/s",
        summary["psnr_db"], summary["generator_psnr_db"], summary["latent_mse"], steps, batch_size,
        summary["train_seconds"], summary["seconds"], summary["encoder_images_per_second"],
    )
    if shift:
        # G(z) against these renders is no ceiling: the generator never drew that style
        log.info("encoder: inversion PSNR %.2f dB on %s-style renders (G(z) against them: %.2f dB)",
                 summary["shift_psnr_db"], shift["style"], summary["shift_generator_psnr_db"])
    return summary


def _check_shift(shift: dict | None) -> dict | None:
    if not shift:
        return None
    if set(shift) != {"prior", "style", "batch"}:
        raise ConfigError(f"train_encoder: shift needs exactly the keys prior, style, batch; got {sorted(shift)}")
    if shift["prior"] not in attributes.PRIORS or shift["style"] not in renderer.STYLES:
        raise ConfigError(f"train_encoder: shift: unknown prior {shift['prior']!r} or style {shift['style']!r}")
    if not isinstance(shift["batch"], int) or shift["batch"] < 1:
        raise ConfigError(f"train_encoder: shift.batch must be an integer >= 1, got {shift['batch']!r}")
    return dict(shift)


def _train(out_path, *, generator_path, arch, prior, style, steps, batch_size, lr, seed, eval_count,
           recon_fraction, recon_batch, recon_weight, latent_weight, delta_weight, shift) -> dict:
    torch.manual_seed(seed)
    start = time.time()
    G, latent_avg = load_generator(generator_path, "generator checkpoint")
    G.eval().requires_grad_(False)
    E = E4EEncoder(**_encoder_arch(arch, G))
    E.set_latent_avg(latent_avg)  # predictions start at the average face
    E.train()
    opt = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.9, 0.99))
    # cosine decay to 5% of lr
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps))
    )
    recon_start = steps - int(round(recon_fraction * steps))

    bar = tqdm(range(steps), desc="train encoder", unit="step", mininterval=5.0)
    for step in bar:
        idx = range(step * batch_size, (step + 1) * batch_size)
        z, x = render_batch(G, seed, TRAIN_STREAM, idx, prior, style)
        with torch.no_grad():
            w_true = G.mapping(z).unsqueeze(1)
        wplus = E(preprocess(E, x))
        latent = (wplus - w_true).square().mean()
        # e4e's delta regularisation: keep entries close to entry 0 unless the images need otherwise
        delta = (wplus[:, 1:] - wplus[:, :1]).norm(dim=2).mean(0).sum()
        loss = latent_weight * latent + delta_weight * delta
        recon = torch.zeros(())
        if step >= recon_start and recon_weight > 0:
            xr, wr = x[:recon_batch], wplus[:recon_batch]
            if shift:
                xs = render_batch(G, seed, SHIFT_STREAM, range(step * shift["batch"], (step + 1) * shift["batch"]),
                                  shift["prior"], shift["style"])[1]
                xr, wr = torch.cat([xr, xs]), torch.cat([wr, E(preprocess(E, xs))])
            y = G.synthesis_wplus(wr, noise_mode="const")
            recon = F.l1_loss(y, xr) + F.mse_loss(y, xr)
            loss = loss + recon_weight * recon
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            bar.set_postfix(latent=f"{latent.item():.4f}", recon=f"{recon.item():.4f}")
    bar.close()
    train_seconds = time.time() - start

    E.eval()
    metrics = evaluate_inversion(E, G, seed=seed, count=eval_count, prior=prior, style=style)
    if shift:
        shifted = evaluate_inversion(E, G, seed=seed, count=eval_count, prior=shift["prior"], style=shift["style"])
        metrics.update(shift_psnr_db=shifted["psnr_db"], shift_generator_psnr_db=shifted["generator_psnr_db"])
    summary = {**metrics, "steps": steps, "seconds": round(time.time() - start, 1),
               "train_seconds": round(train_seconds, 1)}
    save_encoder(out_path, E, {
        **summary,
        "generator": os.fspath(generator_path),
        "prior": prior,
        "style": style,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "recon_fraction": recon_fraction,
        "recon_batch": recon_batch,
        "recon_weight": recon_weight,
        "latent_weight": latent_weight,
        "delta_weight": delta_weight,
        "shift": shift,
    })
    return summary
