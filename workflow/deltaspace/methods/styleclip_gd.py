"""StyleCLIP global directions (Patashnik et al. 2021), the training-free baseline of Table 1.

From the same R_s that DeltaEdit masks with: r = R_s normalize(dt); channels with |r| < beta are
zeroed; r is divided by max |r| and scaled by each channel's standard deviation over the fakes;
the edit is s + alpha * r. One direction per prompt, the same for every image (no mapper).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from ..editing.text import Prompt, text_direction
from ..models.loading import load_clip_spec, load_generator_spec
from .base import EditingMethod, EvalBatch, register_method


def global_direction(relevance: torch.Tensor, direction: torch.Tensor, std: torch.Tensor, beta: float) -> torch.Tensor:
    """(S_dim,) edit direction: R_s normalize(dt), disentangled by beta, peak-normalised, times S std."""
    r = relevance.float() @ F.normalize(direction.float(), dim=-1)
    r = torch.where(r.abs() >= beta, r, torch.zeros_like(r))
    peak = r.abs().max()
    return r if peak == 0 else r / peak * std.float()


class StyleCLIPGlobalDirection(EditingMethod):
    kind = "styleclip-gd"

    def __init__(self, G, clip, relevance: torch.Tensor, std: torch.Tensor, alpha: float = 4.1, beta: float = 0.15):
        self.G, self.clip = G.eval(), clip
        self.relevance, self.std, self.alpha, self.beta = relevance, std, float(alpha), float(beta)
        self._direction = lru_cache(maxsize=64)(self._compute)

    def _compute(self, source: str, target: str) -> torch.Tensor:
        dt, _ = text_direction(self.clip, source, target)
        return global_direction(self.relevance, dt, self.std, self.beta)

    @torch.no_grad()
    def edit(self, batch: EvalBatch, prompt: Prompt) -> torch.Tensor:
        ds = self._direction(prompt.source, prompt.target)
        return self.G.synthesis(batch.s + self.alpha * ds, batch.s_rgb, noise_mode="const")

    def describe(self) -> dict:
        return {"kind": self.kind, "alpha": self.alpha, "beta": self.beta}


@register_method("styleclip-gd")
def build_styleclip_gd(spec: dict) -> StyleCLIPGlobalDirection:
    """spec: generator, clip (model specs), relevance (R_s .npy), stats (s_stats.npz), alpha, beta."""
    from ..editing.relevance import load_relevance, load_style_stats

    G, _ = load_generator_spec(spec["generator"])
    relevance = torch.from_numpy(np.asarray(load_relevance(spec["relevance"], "relevance", s_dim=G.s_dim)))
    _, std = load_style_stats(spec["stats"])
    return StyleCLIPGlobalDirection(G, load_clip_spec(spec["clip"]), relevance, torch.from_numpy(std),
                                    spec.get("alpha", 4.1), spec.get("beta", 0.15))
