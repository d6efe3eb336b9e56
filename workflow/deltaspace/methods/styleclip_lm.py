"""StyleCLIP latent mapper (Patashnik et al. 2021): one mapper per prompt, in W+.

The mapper has one MLP per level of W+ (coarse, medium, fine; PixelNorm, then 4 equalised linear
layers with lr multiplier 0.01 and leaky ReLU, as the official mapper), shared by the level's
entries. The edit is w + step * M(w), with step 0.1 as in the official code. It trains on the inverted
codes of the training split (the official mapper trains on e4e inversions) with the CLIP loss
(1 - cosine of G(w_hat) to the target text), `l2_weight` times the mean squared latent step
(w_hat - w)^2 over all W+ entries, and `identity_weight` times the identity loss (1 - cosine of identity embeddings of
G(w_hat) and G(w), with the loss identity net). The official defaults are 0.8 and 0.1.
"""

from __future__ import annotations

from .base import EditingMethod, EvalBatch, MethodKind, load_prompt_training, trained_file
from .losses import clip_loss, identity_embedding, identity_loss


def latent_mapper(G, *, n_layers: int = 4, lr_mul: float = 0.01):
    """A mapper for G's W+: (B, n_latent, style_dim) -> the same shape."""
    import torch
    from torch import nn

    from ..models.delta_mapper import MLP, equal_linear, wplus_levels

    class LatentMapper(nn.Module):
        def __init__(self):
            super().__init__()
            levels = wplus_levels(G.layer_table, G.size, G.n_latent, G.style_dim)
            self.entries = [[start // G.style_dim for start, _ in level.slices] for level in levels]
            self.mlps = nn.ModuleList(MLP(G.style_dim, G.style_dim, n_layers=n_layers, lr_mul=lr_mul, pixel_norm=True,
                                          linear=equal_linear) for _ in levels)

        def forward(self, wplus):
            out = torch.zeros_like(wplus)
            for entries, mlp in zip(self.entries, self.mlps):
                out[:, entries] = mlp(wplus[:, entries])
            return out

    return LatentMapper()


def training_wplus(manifests: list, count: int):
    """The first `count` W+ codes (count, n_latent * style_dim) of the training split of the collections."""
    import numpy as np

    from ..errors import DataError
    from ..io.shards import iter_collection

    parts, have = [], 0
    for manifest in manifests:
        for shard in iter_collection(manifest, ["split", "wplus"]):
            rows = np.asarray(shard["wplus"])[np.asarray(shard["split"]) == "train"]
            parts.append(rows[: count - have])
            have += len(parts[-1])
            if have >= count:
                return np.concatenate(parts)
    if not have:
        raise DataError(f"training_codes: no training rows in {manifests}")
    return np.concatenate(parts)


class StyleCLIPLatentMapper(EditingMethod):
    kind = "styleclip-lm"

    def __init__(self, G, spec: dict):
        self.G, self.spec = G.eval(), spec
        self.step = float(spec["settings"]["step"])
        self._mappers: dict[str, object] = {}

    def mapper(self, prompt):
        if prompt.target not in self._mappers:
            settings = self.spec["settings"]
            mapper = latent_mapper(self.G, n_layers=settings["n_layers"], lr_mul=settings["lr_mul"])
            mapper.load_state_dict(load_prompt_training(trained_file(self.spec, prompt.target), self.spec,
                                                        prompt.target))
            self._mappers[prompt.target] = mapper.eval().requires_grad_(False)
        return self._mappers[prompt.target]

    def edit(self, batch: EvalBatch, prompt):
        wplus = batch.wplus + self.step * self.mapper(prompt)(batch.wplus)
        s, s_rgb = self.G.styles_from_wplus(wplus)
        return self.G.synthesis(s, s_rgb, noise_mode="const")

    def describe(self) -> dict:
        return {"kind": self.kind, **self.spec["settings"]}


def build(spec: dict) -> StyleCLIPLatentMapper:
    from ..models.loading import load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    return StyleCLIPLatentMapper(G, spec)


def train_mapper(G, clip, identity_net, target_embedding, codes, heldout, settings: dict, seed: int):
    """(mapper, report): a latent mapper for one unit text embedding, trained on W+ `codes` (N, n_latent,
    style_dim); the report has the losses per step and, on the `heldout` codes, each loss before and after."""
    import numpy as np
    import torch

    target = target_embedding.float()
    with torch.random.fork_rng():  # the initial weights depend on the seed alone
        torch.manual_seed(seed)
        mapper = latent_mapper(G, n_layers=settings["n_layers"], lr_mul=settings["lr_mul"])
    opt = torch.optim.Adam(mapper.parameters(), lr=settings["lr"])
    draw = np.random.default_rng(seed)

    def losses(w):
        w_hat = w + settings["step"] * mapper(w)
        with torch.no_grad():
            before = identity_embedding(identity_net, G.synthesis(*G.styles_from_wplus(w), noise_mode="const"))
        edited = G.synthesis(*G.styles_from_wplus(w_hat), noise_mode="const")
        l2 = (w_hat - w).pow(2).mean()  # the official MSELoss: a mean over every entry of W+
        return clip_loss(clip, edited, target).mean(), identity_loss(identity_net, edited, before).mean(), l2

    def evaluate():
        with torch.no_grad():
            return [x.item() for x in losses(heldout)] if len(heldout) else []

    start, history, batch_size = evaluate(), [], min(settings["batch_size"], len(codes))
    for _ in range(settings["steps"]):
        w = codes[torch.from_numpy(draw.choice(len(codes), batch_size, replace=False))]
        c_loss, id_loss, l2 = losses(w)
        loss = c_loss + settings["identity_weight"] * id_loss + settings["l2_weight"] * l2
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append([loss.item(), c_loss.item(), id_loss.item(), l2.item()])
    end = evaluate()
    names = ("clip", "identity", "l2")
    return mapper, {"losses": history, "training_codes": len(codes),
                    **{f"heldout_{n}_loss": [a, b] for n, a, b in zip(names, start, end)}}


def train(spec: dict, prompt, seed: int) -> tuple[dict, dict]:
    import torch

    from .losses import loss_models

    settings = spec["settings"]
    G, clip, identity_net, target = loss_models(spec, prompt)
    codes = torch.from_numpy(training_wplus(spec["inputs"]["codes"], settings["codes"] + settings["heldout"]))
    codes = codes.float().reshape(len(codes), G.n_latent, G.style_dim)
    mapper, report = train_mapper(G, clip, identity_net, target, codes[settings["heldout"]:],
                                  codes[: settings["heldout"]], settings, seed)
    return mapper.state_dict(), {**report, "identity_loss_net": str(spec["inputs"]["identity_loss"])}


KIND = MethodKind(
    name="styleclip-lm",
    description="StyleCLIP latent mapper: one W+ mapper per prompt (CLIP, latent L2 and identity losses).",
    settings={
        "step": {"type": "number", "default": 0.1, "description": "Edit: w + step * M(w) (the official 0.1)."},
        "steps": {"type": "integer", "minimum": 1, "default": 300, "description": "Training steps per prompt."},
        "batch_size": {"type": "integer", "minimum": 1, "default": 8, "description": "Codes per step."},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.5,
               "description": "Adam learning rate (before the layers' 0.01 multiplier, as the official 0.5)."},
        "l2_weight": {"type": "number", "minimum": 0, "default": 0.8, "description": "Latent L2 loss weight."},
        "identity_weight": {"type": "number", "minimum": 0, "default": 0.1, "description": "Identity loss weight."},
        "codes": {"type": "integer", "minimum": 1, "default": 4096,
                  "description": "Inverted training codes to train on (the first of the training split)."},
        "heldout": {"type": "integer", "minimum": 0, "default": 64,
                    "description": "Further training codes never trained on: losses before and after, recorded."},
        "n_layers": {"type": "integer", "minimum": 1, "default": 4, "description": "Layers per level's MLP."},
        "lr_mul": {"type": "number", "exclusiveMinimum": 0, "default": 0.01, "description": "Equalised-lr multiplier."},
    },
    inputs=lambda settings: {"identity_loss": "identity_loss", "codes": "training_codes"},
    strength="step",
    space="W+",
    image_conditioned=True,
    build=build,
    train=train,
)
