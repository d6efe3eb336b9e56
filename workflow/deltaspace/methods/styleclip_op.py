"""StyleCLIP latent optimisation (Patashnik et al. 2021): each image's W+ code optimised for the prompt.

Starting from the inversion w0, Adam moves w to lower the CLIP loss of G(w) (1 - cosine to the target
text) plus `l2_weight` ||w - w0||^2 plus `identity_weight` times the identity loss against G(w0), with
StyleCLIP's learning-rate ramp (warm-up, cosine decay). The official defaults are 300 steps at lr 0.1,
weights 0.008 and 0.005. Every image is optimised on its own (the loss is a sum over the batch, so a
batch computes the same as images one by one); no training, all the work is at edit time, so
configs evaluate it on the first `images` evaluation images (methods.<name>.images).
"""

from __future__ import annotations

from .base import EvalBatch, MethodKind
from .optimisation import EditTimeOptimiser, optimise_wplus


class StyleCLIPOptimisation(EditTimeOptimiser):
    kind = "styleclip-op"

    def __init__(self, G, clip, identity_net, settings: dict):
        super().__init__(G, clip, settings)
        self.identity_net = identity_net

    def edit(self, batch: EvalBatch, prompt):
        import torch

        from .losses import clip_loss, identity_embedding, identity_loss

        G, settings, target = self.G, self.settings, self.target(prompt)
        w0 = batch.wplus.float()
        with torch.no_grad():
            reference = identity_embedding(self.identity_net, G.synthesis(*G.styles_from_wplus(w0), noise_mode="const"))

        def loss_fn(w):
            image = G.synthesis(*G.styles_from_wplus(w), noise_mode="const")
            return (clip_loss(self.clip, image, target) + settings["l2_weight"] * (w - w0).pow(2).sum((1, 2))
                    + settings["identity_weight"] * identity_loss(self.identity_net, image, reference))

        w = optimise_wplus(w0, loss_fn, steps=settings["steps"], lr=settings["lr"])
        return G.synthesis(*G.styles_from_wplus(w), noise_mode="const")


def build(spec: dict) -> StyleCLIPOptimisation:
    from ..models.loss_identity import load_loss_identity_net
    from ..models.loading import load_clip_spec, load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    return StyleCLIPOptimisation(G, load_clip_spec(spec["clip"]),
                                 load_loss_identity_net(spec["inputs"]["identity_loss"]), spec["settings"])


KIND = MethodKind(
    name="styleclip-op",
    description="StyleCLIP latent optimisation: each image's W+ code optimised (CLIP, L2 and identity losses).",
    settings={
        "steps": {"type": "integer", "minimum": 1, "default": 300, "description": "Adam steps per image."},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.1, "description": "Peak learning rate."},
        "l2_weight": {"type": "number", "minimum": 0, "default": 0.008, "description": "Weight of ||w - w0||^2."},
        "identity_weight": {"type": "number", "minimum": 0, "default": 0.005,
                            "description": "Weight of the identity loss (losses.identity's net)."},
    },
    inputs=lambda settings: {"identity_loss": "identity_loss"},
    space="W+",
    image_conditioned=True,
    build=build,
)
