"""Ground-truth edit targets of the mini world: how far is each edit from the ideal edit?

Every evaluation image of the mini world is a render with known factors (the evaluation set
stores all of them, identity and pose included, and the dataset's render style), so the ideal
edit of a prompt (attribute, value) is known: the same factors with the asked value, rendered
(``ideal_edits``). Two metrics compare an edited image with its ideal render, mean over images:

* target PSNR: PSNR (dB) on [0, 1] images, capped at 100 dB like the psnr metric (an exact
  match scores the cap, not inf);
* target distance: a perceptual distance, the LPIPS recipe without learned weights on the
  activations of the mini world's attribute net (models/attribute_net.py): after each of its
  conv blocks (five at the default widths: 16 ch at 16 px, 32 at 16, 32 at 8, 64 at 8, 64 at 4
  for 32 px inputs), unit-normalise each position's channel vector, take the squared difference,
  sum it over channels, average it over positions, and sum over the layers. 0 for the same
  image, at most 2 per layer. Why this backbone: LPIPS's ImageNet networks cannot be downloaded
  here and would see 32 px cartoons; the attribute net is trained on renders of both styles to
  tell every attribute value apart, so its features respond to the details prompts edit
  (glasses frames, pupils, mouth, hair) as well as to a face coming apart.

The evaluation records each metric beside its no-edit reference (``*_noedit``: the unedited
original against the same ideal render): an edit moved toward its target when it beats the
reference. The real world has no ideal renders: these metrics are None there, never a stand-in.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import DataError
from ..models.attribute_net import AttributeNet, as_model_input
from ..world.attributes import Params, replace
from ..world.renderer import render_uint8

BATCH = 256


def ideal_edits(params: Params, style: str, size: int, asks: dict) -> np.ndarray:
    """The ideal edits, uint8 (N, size, size, 3): every face rendered again with the asked values
    ({attribute: value})."""
    return render_uint8(replace(params, **asks), size, style)


def prompt_targets(world_params: tuple[Params, str] | None, prompt, size: int) -> np.ndarray | None:
    """The ideal edits of the evaluation images for one prompt, or None where there are none.

    `world_params`: (factors, render style) of the evaluation set (stages.editing.evaluation_params),
    None in the real world; a prompt without the attribute values it asks for has no ideal edit either.
    """
    asks = dict(prompt.asks)
    if world_params is None or not asks or None in asks.values():
        return None
    params, style = world_params
    return ideal_edits(params, style, size, asks)


def _check_targets(images: np.ndarray, targets: np.ndarray) -> None:
    if targets.shape != images.shape:
        raise DataError(f"ideal renders {targets.shape} and edited images {images.shape} differ in shape")


def _activations(net: AttributeNet, images: np.ndarray) -> list[torch.Tensor]:
    """Each conv block's output, unit-normalised over channels at every position (as LPIPS does)."""
    x, out = as_model_input(images, net.size), []
    for block in net.convs:
        x = block(x)
        out.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10))
    return out


@torch.no_grad()
def perceptual_distances(net: AttributeNet, images: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-image distance (N,) float64 of uint8 images to their targets on the attribute net's blocks."""
    _check_targets(images, targets)
    was_training = net.training
    net.eval()
    try:
        parts = []
        for lo in range(0, len(images), BATCH):
            pairs = zip(_activations(net, images[lo:lo + BATCH]), _activations(net, targets[lo:lo + BATCH]))
            parts.append(sum((a - b).square().sum(1).mean((1, 2)) for a, b in pairs).double().numpy())
    finally:
        net.train(was_training)
    return np.concatenate(parts) if parts else np.zeros(0)
