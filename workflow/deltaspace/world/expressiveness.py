"""Can S express every evaluation prompt? The oracle S edit of the mini world.

For each (attribute, value) asked by a prompt, the ideal edit of a dataset image is known: the
render of its true parameters with that value. The oracle S edit is the S code that reproduces
the ideal render best, found by Adam from the image's inverted S, with its toRGB styles held at
their inverted values (S excludes them). If the attribute net does not see the asked value in
the oracle's result, no S-space editing method can produce it on this generator.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..metrics.psnr import psnr_db
from . import attributes, renderer


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


def s_expressiveness(G, attribute_net, params: attributes.Params, s: torch.Tensor, s_rgb: torch.Tensor,
                     prompts: list[dict], *, style: str, steps: int = 100, lr: float = 0.03,
                     threshold: float = 0.9) -> dict:
    """Oracle S edits of N images for each prompt's (attribute, value); G's weights are not changed.

    params: the images' true render parameters (N items); s (N, s_dim), s_rgb (N, s_rgb_dim): their
    inverted codes. Per "attribute=value": accuracy (share of oracle results the attribute net
    classifies with the value), no_edit_rate (share of images whose true value it already is),
    ideal_accuracy (the net on the ideal renders: how far its verdict can be trusted) and
    psnr_db (oracle result vs ideal render, mean over images). passes: every accuracy >= threshold.
    """
    n = attributes.num_items(params)
    assert s.shape == (n, G.s_dim) and s_rgb.shape == (n, G.s_rgb_dim), (
        f"s_expressiveness: codes {tuple(s.shape)}, {tuple(s_rgb.shape)} for {n} images")
    weights = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    s_rgb = s_rgb.detach()
    results = {}
    try:
        for prompt in prompts:
            attribute, value = prompt["attribute"], prompt["value"]
            key = f"{attribute}={value}"
            if key in results:
                continue
            index = attributes.value_index(attribute, value)
            ideal = renderer.render(attributes.replace(params, **{attribute: index}), G.size, style)
            code = s.detach().clone().requires_grad_(True)
            with torch.enable_grad():
                psnr = fit_codes(lambda: G.synthesis(code, s_rgb, noise_mode="const"), [code], ideal, steps, lr)
            with torch.no_grad():
                edited = G.synthesis(code, s_rgb, noise_mode="const")
            results[key] = {
                "accuracy": _share(attribute_net.predict(edited)[attribute] == index),
                "no_edit_rate": _share(np.asarray(params[attribute]) == index),
                "ideal_accuracy": _share(attribute_net.predict(ideal)[attribute] == index),
                "psnr_db": round(float(psnr.mean()), 3),
            }
    finally:
        for p, flag in zip(G.parameters(), weights):
            p.requires_grad_(flag)
    min_accuracy = min((r["accuracy"] for r in results.values()), default=float("nan"))
    return {"prompts": results, "images": n, "steps": steps, "lr": lr, "threshold": threshold,
            "min_accuracy": min_accuracy, "passes": bool(results) and min_accuracy >= threshold}


def _share(hits: np.ndarray) -> float:
    return round(float(np.mean(hits)), 4)
