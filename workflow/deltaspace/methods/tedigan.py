"""TediGAN's text-guided manipulation as its public CLIP-guided release does it (Xia et al. 2021).

Each image's W+ code is optimised from the encoder's inversion (its "in-domain" start) with the
release's four losses: pixel reconstruction of the input (MSE, weight 1), perceptual reconstruction
(MSE of features, `perceptual_weight`), the encoder's domain regulariser ||E(G(w)) - w||^2
(`encoder_weight`) and the CLIP loss (1 - cosine to the target text, `clip_weight`), with Adam at a
fixed learning rate; the release's defaults are 200 steps at lr 0.01 and weights 5e-5, 2 and 2.
The release's perceptual net is VGG16; here it is the conv trunk of the loss identity net (losses.identity:
the mini world's second identity net, or IR-SE50), whose features are smaller, so the 5e-5 term weighs
less than VGG's would. The release optimises the
whole W+ code; `levels` can restrict it to some of W+'s levels (coarse, medium, fine). All the work is
at edit time: configs evaluate it on the first `images` evaluation images (methods.<name>.images).
"""

from __future__ import annotations

from .base import EvalBatch, MethodKind
from .optimisation import EditTimeOptimiser, optimise_wplus

LEVELS = ("coarse", "medium", "fine")


class TediGAN(EditTimeOptimiser):
    kind = "tedigan"

    def __init__(self, G, E, clip, perceptual_net, settings: dict):
        super().__init__(G, clip, settings)
        self.E, self.net = E.eval(), perceptual_net
        self.mask = self._level_mask(settings["levels"])

    def _level_mask(self, levels):
        """(1, n_latent, 1): 1 for the W+ entries of the optimised levels."""
        import torch

        from ..models.delta_mapper import wplus_levels

        mask = torch.zeros(1, self.G.n_latent, 1)
        for level in wplus_levels(self.G.layer_table, self.G.size, self.G.n_latent, self.G.style_dim):
            if level.name in levels:
                for start, _ in level.slices:
                    mask[0, start // self.G.style_dim] = 1
        return mask

    def features(self, images):
        return self.net.features(self.net.prepare(images))

    def edit(self, batch: EvalBatch, prompt):
        import torch

        from ..models.e4e import preprocess
        from .losses import clip_loss

        G, settings, target = self.G, self.settings, self.target(prompt)
        x = batch.images.float()
        w0 = batch.wplus.float()
        with torch.no_grad():
            x_features = self.features(x)

        def synthesise(w):
            return G.synthesis(*G.styles_from_wplus(w0 + self.mask * (w - w0)), noise_mode="const")

        def loss_fn(w):
            image = synthesise(w)
            pixel = (image - x).pow(2).mean((1, 2, 3))
            perceptual = (self.features(image) - x_features).pow(2).flatten(1).mean(1)
            regulariser = (self.E(preprocess(self.E, image)) - w).pow(2).mean((1, 2))
            return (pixel + settings["perceptual_weight"] * perceptual + settings["encoder_weight"] * regulariser
                    + settings["clip_weight"] * clip_loss(self.clip, image, target))

        w = optimise_wplus(w0, loss_fn, steps=settings["steps"], lr=settings["lr"], ramp=False)
        return synthesise(w)

    def describe(self) -> dict:
        return {**super().describe(), "perceptual_net": "losses.identity (trunk)"}


def build(spec: dict) -> TediGAN:
    from ..models.loss_identity import load_loss_identity_net
    from ..models.loading import load_clip_spec, load_encoder_spec, load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    E = load_encoder_spec(spec["inputs"]["encoder"], spec["generator"])
    return TediGAN(G, E, load_clip_spec(spec["clip"]),
                   load_loss_identity_net(spec["inputs"]["identity_loss"]), spec["settings"])


KIND = MethodKind(
    name="tedigan",
    description="TediGAN (public CLIP-guided release): W+ optimisation from the encoder's inversion with pixel, "
                "perceptual, encoder-regulariser and CLIP losses.",
    settings={
        "steps": {"type": "integer", "minimum": 1, "default": 200, "description": "Adam steps per image."},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "Learning rate."},
        "perceptual_weight": {"type": "number", "minimum": 0, "default": 5e-5, "description": "Perceptual loss weight."},
        "encoder_weight": {"type": "number", "minimum": 0, "default": 2.0, "description": "Encoder regulariser weight."},
        "clip_weight": {"type": "number", "minimum": 0, "default": 2.0, "description": "CLIP loss weight."},
        "levels": {"type": "array", "items": {"enum": list(LEVELS)}, "minItems": 1, "uniqueItems": True,
                   "default": list(LEVELS), "description": "The W+ levels optimised (the release: all)."},
    },
    inputs=lambda settings: {"identity_loss": "identity_loss", "encoder": "encoder"},
    space="W+",
    image_conditioned=True,
    build=build,
)
