"""Differentiable pieces of the compared methods' losses (no method kind here): CLIP and identity
embeddings with gradients, the CLIP loss, the identity loss, and StyleCLIP's learning-rate ramp."""

from __future__ import annotations

import math


def clip_image_embedding(clip, images):
    """Unit CLIP embeddings of [-1, 1] images, differentiable (models.clip.encode_images is not)."""
    import torch.nn.functional as F

    from ..models.clip import preprocess_images

    return F.normalize(clip.model.encode_image(preprocess_images(clip.model, images, normalize=clip.normalize)).float(),
                       dim=-1)


def identity_embedding(net, images):
    """Unit embeddings of the (loss) identity net, differentiable."""
    import torch.nn.functional as F

    return F.normalize(net(net.prepare(images)), dim=-1)


def clip_loss(clip, images, target):
    """Per image, 1 - cosine of the image's CLIP embedding to the unit text embedding `target` (D,) or (1, D)."""
    return 1 - clip_image_embedding(clip, images) @ target.float().reshape(-1)


def identity_loss(net, images, reference_embeddings):
    """Per image, 1 - cosine of its identity embedding to the reference's (unit, computed without gradient)."""
    return 1 - (identity_embedding(net, images) * reference_embeddings).sum(-1)


def loss_models(spec: dict, prompt):
    """What a per-prompt training's losses need, from its method spec: (generator, frozen; CLIP; the loss identity
    net; the prompt's unit target text embedding)."""
    from ..directions.text import text_direction
    from ..models.loss_identity import load_loss_identity_net
    from ..models.loading import load_clip_spec, load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    clip = load_clip_spec(spec["clip"])
    _, target = text_direction(clip, prompt.source, prompt.target)
    return G.requires_grad_(False), clip, load_loss_identity_net(spec["inputs"]["identity_loss"]), target


def ramped_lr(t: float, lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """The learning rate at progress t in [0, 1] of StyleCLIP's optimisation: a linear warm-up over the first
    `rampup`, a cosine decay to zero over the last `rampdown`."""
    down = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / rampdown) * math.pi)
    return lr * down * min(1.0, t / rampup)
