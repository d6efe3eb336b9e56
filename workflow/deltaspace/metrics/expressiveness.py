"""Can S express every evaluation prompt? Oracle S edits of the mini world.

For each (attribute, value) asked by a prompt, the ideal edit of a dataset image is known: the
render of its true parameters with that value. From the images' inverted S codes, with their
toRGB styles held at the inverted values (S excludes them), Adam on a pixel loss against the
ideal renders finds
  * per image: the best S code of each image (an upper bound for any S-space method; S has
    hundreds of channels per image, enough to paint a colour even where the generator's own
    semantics keep it in the toRGB styles);
  * shared: the best single S direction per prompt, added to every image's code (what a
    global-direction method such as StyleCLIP-GD can reach; on the real FFHQ generator hair
    colour has such directions). A mini generator that carries colour in its toRGB styles
    fails this one (benchmarks/colour_in_s.py).
The attribute net judges the results. A local search: failing is strong evidence, not a proof.

S channels differ in spread by orders of magnitude, and an edit can move a channel by several of
its standard deviations, so Adam's step (about lr per element and step) is scaled per channel
by the channel's standard deviation over G's own samples (`s_scale`); unscaled, 100 steps of lr
0.03 did not reach the S codes G itself produces for the asked value.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .. import rng
from .psnr import psnr_db
from ..world import attributes, renderer

SCALE_SAMPLES = 1024


def fit_codes(synthesise: Callable[[], torch.Tensor], codes: list[torch.Tensor], target: torch.Tensor,
              steps: int, lr: float) -> torch.Tensor:
    """Adam on `codes` to minimise the pixel MSE of synthesise() against target -> final PSNR (dB) per image.

    The loss is a mean over the batch, and Adam normalises each element's step, so every image's
    code follows (nearly) the path it would follow alone.
    """
    opt = torch.optim.Adam(codes, lr=lr)
    for _ in range(steps):
        loss = (synthesise() - target).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return psnr_db(synthesise(), target)


@torch.no_grad()
def s_scale(G, seed: int = 0, count: int = SCALE_SAMPLES) -> torch.Tensor:
    """Standard deviation of every S channel over `count` samples G(z) (s_dim,)."""
    z = torch.from_numpy(rng.normal(seed, "s-expressiveness-scale", range(count), G.style_dim))
    return G.styles_from_z(z)[0].std(0).clamp_min(1e-3)


def s_expressiveness(G, attribute_net, params: attributes.Params, s: torch.Tensor, s_rgb: torch.Tensor,
                     prompts: list[dict], *, style: str, steps: int = 100, lr: float = 0.2,
                     threshold: float = 0.9) -> dict:
    """Oracle S edits (per image and shared) of N images for each prompt's (attribute, value).

    params: the images' true render parameters (N items); s (N, s_dim), s_rgb (N, s_rgb_dim): their
    inverted codes. Per "attribute=value": accuracy and shared_accuracy (share of the per-image /
    shared-direction results the attribute net classifies with the value), psnr_db and
    shared_psnr_db (result vs ideal render, mean over images), no_edit_rate (share of images whose
    true value it already is), ideal_accuracy (the net on the ideal renders: how far its verdict
    can be trusted). passes: every accuracy of both kinds >= threshold. G is left unchanged.
    """
    n = attributes.num_items(params)
    assert s.shape == (n, G.s_dim) and s_rgb.shape == (n, G.s_rgb_dim), (
        f"s_expressiveness: codes {tuple(s.shape)}, {tuple(s_rgb.shape)} for {n} images")
    flags = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    s, s_rgb, scale = s.detach(), s_rgb.detach(), s_scale(G)
    results = {}
    try:
        for prompt in prompts:
            attribute, value = prompt["attribute"], prompt["value"]
            key = f"{attribute}={value}"
            if key in results:
                continue
            index = attributes.value_index(attribute, value)
            ideal = renderer.render(attributes.replace(params, **{attribute: index}), G.size, style)
            entry = {"no_edit_rate": _share(np.asarray(params[attribute]) == index),
                     "ideal_accuracy": _share(attribute_net.predict(ideal)[attribute] == index)}
            for prefix, rows in (("", n), ("shared_", 1)):
                step = torch.zeros(rows, G.s_dim, requires_grad=True)  # S = s + scale * step

                def synthesise():
                    return G.synthesis(s + scale * step, s_rgb, noise_mode="const")

                with torch.enable_grad():
                    psnr = fit_codes(synthesise, [step], ideal, steps, lr)
                with torch.no_grad():
                    hits = attribute_net.predict(synthesise())[attribute] == index
                entry[f"{prefix}accuracy"] = _share(hits)
                entry[f"{prefix}psnr_db"] = round(float(psnr.mean()), 3)
            results[key] = entry
    finally:
        for p, flag in zip(G.parameters(), flags):
            p.requires_grad_(flag)
    minima = {f"min_{k}": min((r[k] for r in results.values()), default=float("nan"))
              for k in ("accuracy", "shared_accuracy")}
    return {"prompts": results, "images": n, "steps": steps, "lr": lr, "threshold": threshold, **minima,
            "passes": bool(results) and min(minima.values()) >= threshold}


def _share(hits: np.ndarray) -> float:
    return round(float(np.mean(hits)), 4)
