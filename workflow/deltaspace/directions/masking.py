"""Channel masks from the relevance matrix R_s (S_dim, clip_dim)."""

from __future__ import annotations

import torch


def relevance_mask(relevance: torch.Tensor, direction: torch.Tensor, threshold: float) -> torch.Tensor:
    """(S_dim,) float mask: 1 where |R_s dt| >= threshold, 0 elsewhere.

    dt is the raw text difference (not normalised), as in official DeltaEdit inference; with
    threshold 0 every channel is kept.
    """
    if relevance.shape[1] != direction.shape[-1]:
        raise ValueError(f"R_s has clip_dim {relevance.shape[1]}, the text direction {direction.shape[-1]}")
    score = (relevance.float() @ direction.float()).abs()
    return (score >= threshold).float()
