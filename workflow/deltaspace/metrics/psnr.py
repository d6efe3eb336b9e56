"""PSNR of image batches in the generator's [-1, 1] range."""

import torch


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of two [-1, 1] image batches, measured on [0, 1] images."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).square().flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
