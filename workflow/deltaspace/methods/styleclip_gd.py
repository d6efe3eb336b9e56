"""StyleCLIP global directions (Patashnik et al. 2021), the training-free baseline of Table 1.

From the same R_s that DeltaEdit masks with: r = R_s normalize(dt); channels with |r| < beta are
zeroed; r is divided by max |r| and scaled by each channel's standard deviation over the fakes;
the edit is s + alpha * r. One direction per prompt, the same for every image (no mapper).
"""

from __future__ import annotations

from functools import lru_cache

from .base import EditingMethod, EvalBatch, MethodKind


def global_direction(relevance, direction, std, beta: float):
    """(S_dim,) edit direction: R_s normalize(dt), disentangled by beta, peak-normalised, times S std."""
    import torch
    import torch.nn.functional as F

    r = relevance.float() @ F.normalize(direction.float(), dim=-1)
    r = torch.where(r.abs() >= beta, r, torch.zeros_like(r))
    peak = r.abs().max()
    return r if peak == 0 else r / peak * std.float()


class StyleCLIPGlobalDirection(EditingMethod):
    kind = "styleclip-gd"

    def __init__(self, G, clip, relevance, std, alpha: float = 4.1, beta: float = 0.15):
        self.G, self.clip = G.eval(), clip
        self.relevance, self.std, self.alpha, self.beta = relevance, std, float(alpha), float(beta)
        self._direction = lru_cache(maxsize=64)(self._compute)

    def _compute(self, source: str, target: str):
        from ..directions.text import text_direction

        dt, _ = text_direction(self.clip, source, target)
        return global_direction(self.relevance, dt, self.std, self.beta)

    def prompt_info(self, prompt) -> dict:
        ds = self._direction(prompt.source, prompt.target)
        return {"channels_kept": int((ds != 0).sum()), "channels": int(ds.numel())}

    def edit(self, batch: EvalBatch, prompt):
        ds = self._direction(prompt.source, prompt.target)
        return self.G.synthesis(batch.s + self.alpha * ds, batch.s_rgb, noise_mode="const")

    def describe(self) -> dict:
        return {"kind": self.kind, "alpha": self.alpha, "beta": self.beta}


def build(spec: dict) -> StyleCLIPGlobalDirection:
    import numpy as np
    import torch

    from ..directions.relevance import load_relevance, load_style_stats
    from ..models.loading import load_clip_spec, load_generator_spec

    settings, inputs = spec["settings"], spec["inputs"]
    G, _ = load_generator_spec(spec["generator"])
    relevance = torch.from_numpy(np.asarray(load_relevance(inputs["relevance"], "relevance", s_dim=G.s_dim)))
    _, std = load_style_stats(inputs["style_stats"])
    return StyleCLIPGlobalDirection(G, load_clip_spec(spec["clip"]), relevance, torch.from_numpy(std),
                                    settings["alpha"], settings["beta"])


KIND = MethodKind(
    name="styleclip-gd",
    description="StyleCLIP global directions from R_s (training-free).",
    settings={
        "alpha": {"type": "number", "default": 4.1, "description": "Edit strength (alpha)."},
        "beta": {"type": "number", "minimum": 0, "default": 0.15,
                 "description": "Disentanglement threshold (beta) on |R_s normalize(dt)|."},
    },
    inputs=lambda s: {"relevance": "relevance", "style_stats": "style_stats"},
    strength="alpha",
    space="S",
    image_conditioned=False,  # one direction per prompt for every image
    build=build,
)
