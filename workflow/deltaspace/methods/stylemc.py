"""StyleMC (Kocasari et al., WACV 2022): one global S direction per prompt, found by optimisation.

For each prompt a direction ds over the S code is learned on random generator samples: the image
G(s + ds) should match the target text in CLIP (1 - cosine), keep the identity of G(s) (1 - cosine
of identity embeddings, with the loss identity net, not the IDS net), and ds stays small (L2). Every
step draws fresh samples (z from a seeded stream), so the direction is global, not per image. The
edit is s + alpha * ds on the inverted S code of any image: no mapper, no image conditioning.
"""

from __future__ import annotations

from .base import EditingMethod, EvalBatch, MethodKind, load_prompt_training, trained_file
from .losses import clip_loss, identity_embedding, identity_loss


def _samples(G, seed: int, stream: str, idx):
    import torch

    from .. import rng

    z = torch.from_numpy(rng.normal(seed, stream, idx, G.style_dim)).float()
    with torch.no_grad():
        return G.styles_from_z(z)


def _losses(G, clip, identity_net, target, s, s_rgb, ds):
    """(CLIP loss, identity loss) of the edit s + ds, each a mean over the batch."""
    import torch

    with torch.no_grad():
        before = identity_embedding(identity_net, G.synthesis(s, s_rgb, noise_mode="const"))
    edited = G.synthesis(s + ds, s_rgb, noise_mode="const")
    return clip_loss(clip, edited, target).mean(), identity_loss(identity_net, edited, before).mean()


def train_direction(G, clip, identity_net, target_embedding, *, steps: int, batch_size: int, lr: float,
                    identity_weight: float, l2_weight: float, seed: int, heldout: int = 32):
    """(ds (s_dim,), report): StyleMC's global direction for one unit text embedding. The report gives the
    losses per step and, on `heldout` samples never trained on, both losses before and after."""
    import torch

    ds = torch.zeros(G.s_dim, requires_grad=True)
    opt = torch.optim.Adam([ds], lr=lr)
    target = target_embedding.float()
    losses = []
    for step in range(steps):
        s, s_rgb = _samples(G, seed, "stylemc/z", range(step * batch_size, (step + 1) * batch_size))
        c_loss, id_loss = _losses(G, clip, identity_net, target, s, s_rgb, ds)
        loss = c_loss + identity_weight * id_loss + l2_weight * ds.pow(2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append([loss.item(), c_loss.item(), id_loss.item()])
    s, s_rgb = _samples(G, seed, "stylemc/heldout", range(heldout))
    with torch.no_grad():
        start = [x.item() for x in _losses(G, clip, identity_net, target, s, s_rgb, torch.zeros_like(ds))]
        end = [x.item() for x in _losses(G, clip, identity_net, target, s, s_rgb, ds)]
    report = {"losses": losses, "heldout_clip_loss": [start[0], end[0]], "heldout_identity_loss": [start[1], end[1]]}
    return ds.detach(), report


class StyleMC(EditingMethod):
    kind = "stylemc"

    def __init__(self, G, spec: dict, alpha: float = 1.0):
        self.G, self.spec, self.alpha = G.eval(), spec, float(alpha)
        self._directions: dict[str, object] = {}

    def direction(self, prompt):
        if prompt.target not in self._directions:
            state = load_prompt_training(trained_file(self.spec, prompt.target), self.spec, prompt.target)
            self._directions[prompt.target] = state["direction"].float()
        return self._directions[prompt.target]

    def edit(self, batch: EvalBatch, prompt):
        return self.G.synthesis(batch.s + self.alpha * self.direction(prompt), batch.s_rgb, noise_mode="const")

    def prompt_info(self, prompt) -> dict:
        ds = self.direction(prompt)
        return {"direction_norm": round(float(ds.norm()), 4)}

    def describe(self) -> dict:
        return {"kind": self.kind, "alpha": self.alpha, **{k: v for k, v in self.spec["settings"].items() if k != "alpha"}}


def build(spec: dict) -> StyleMC:
    from ..models.loading import load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    return StyleMC(G, spec, spec["settings"]["alpha"])


def train(spec: dict, prompt, seed: int) -> tuple[dict, dict]:
    from .losses import loss_models

    settings = spec["settings"]
    G, clip, identity_net, target = loss_models(spec, prompt)
    ds, report = train_direction(G, clip, identity_net, target, steps=settings["steps"],
                                 batch_size=settings["batch_size"], lr=settings["lr"],
                                 identity_weight=settings["identity_weight"], l2_weight=settings["l2_weight"], seed=seed)
    return {"direction": ds}, {**report, "direction_norm": float(ds.norm()),
                               "identity_loss_net": str(spec["inputs"]["identity_loss"])}


KIND = MethodKind(
    name="stylemc",
    description="StyleMC: a global S direction per prompt, optimised with a CLIP loss and an identity loss.",
    settings={
        "alpha": {"type": "number", "default": 1.0, "description": "Edit strength: s + alpha * direction."},
        "steps": {"type": "integer", "minimum": 1, "default": 100, "description": "Optimisation steps per prompt."},
        "batch_size": {"type": "integer", "minimum": 1, "default": 8, "description": "Random samples per step."},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.05, "description": "Adam learning rate."},
        "identity_weight": {"type": "number", "minimum": 0, "default": 0.5,
                            "description": "Weight of the identity loss (losses.identity's net)."},
        "l2_weight": {"type": "number", "minimum": 0, "default": 0.0,
                      "description": "Weight of the squared L2 norm of the direction."},
    },
    inputs=lambda settings: {"identity_loss": "identity_loss"},
    strength="alpha",
    space="S",
    image_conditioned=False,  # one direction per prompt for every image (the paper's Table 5 says "yes")
    build=build,
    train=train,
)
