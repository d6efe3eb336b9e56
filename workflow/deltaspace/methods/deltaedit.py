"""DeltaEdit-G and its ablations: a trained Delta Mapper turns a CLIP text direction into a latent edit.

One kind covers the paper's model and the ablations of its Table 1, which differ only in what
the mapper was trained on and in the R_s masking at inference:

* DeltaEdit-G: S-space mapper trained on CLIP image deltas (condition "delta"); channels whose
  relevance |R_s dt| is below the threshold are zeroed;
* w/o R_s: the same mapper, no masking;
* W+ space: a mapper trained to predict dW+ (masking does not apply: R_s indexes S channels);
* straightforward: a mapper trained on raw image embeddings [i1, i2] (condition "raw"), driven at
  inference by the raw target text embedding instead of a text delta.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import EditingMethod, EvalBatch, MethodKind

if TYPE_CHECKING:  # torch is imported by the builder (see methods.base)
    import torch


class DeltaEdit(EditingMethod):
    kind = "deltaedit"

    def __init__(self, G, clip, mapper, info: dict, relevance=None, threshold: float = 0.03, strength: float = 1.0):
        self.G, self.clip, self.mapper = G.eval(), clip, mapper.eval()
        self.space, self.condition = info["space"], info["condition"]
        training = info.get("training") or {}  # absent in checkpoints not made by our trainer
        self.training = {"steps": training.get("steps"), "batch_size": training.get("batch_size"),
                         "heldout_cos": (training.get("heldout") or {}).get("cos")}
        if relevance is not None and self.space != "s":
            raise ConfigError(f"R_s masking needs an S-space mapper, this one predicts {self.space!r}")
        self.relevance, self.threshold, self.strength = relevance, float(threshold), float(strength)
        self._direction = lru_cache(maxsize=64)(self._compute_direction)

    def _compute_direction(self, source: str, target: str):
        """(mapper condition direction (D,), channel mask (S_dim,) or None) for one prompt."""
        from ..directions.masking import relevance_mask
        from ..directions.text import text_direction

        dt, t_target = text_direction(self.clip, source, target)
        direction = dt if self.condition == "delta" else t_target
        mask = None if self.relevance is None else relevance_mask(self.relevance, dt, self.threshold)
        return direction, mask

    def prompt_info(self, prompt) -> dict:
        """How many S channels R_s keeps for this prompt (all of them without masking)."""
        _, mask = self._direction(prompt.source, prompt.target)
        if mask is None:
            return {}
        return {"channels_kept": int(mask.sum()), "channels": int(mask.numel())}

    def code_delta(self, batch: EvalBatch, prompt) -> torch.Tensor:
        """The predicted change of the code the mapper works in: (B, s_dim) or (B, n_latent*style_dim)."""
        from ..models.delta_mapper import text_condition

        direction, mask = self._direction(prompt.source, prompt.target)
        cond = text_condition(batch.embedding, direction.expand(len(batch), -1))
        code = batch.s if self.space == "s" else batch.wplus.flatten(1)
        delta = self.mapper(code, cond) * self.strength
        return delta if mask is None else delta * mask

    def edit(self, batch: EvalBatch, prompt) -> torch.Tensor:
        delta = self.code_delta(batch, prompt)
        if self.space == "s":
            return self.G.synthesis(batch.s + delta, batch.s_rgb, noise_mode="const")
        s, s_rgb = self.G.styles_from_wplus(batch.wplus + delta.view_as(batch.wplus))
        return self.G.synthesis(s, s_rgb, noise_mode="const")

    def describe(self) -> dict:
        return {"kind": self.kind, "space": self.space, "condition": self.condition,
                "relevance_masking": self.relevance is not None,
                "threshold": self.threshold if self.relevance is not None else None, "strength": self.strength,
                "mapper_training": self.training}


def build(spec: dict) -> DeltaEdit:
    import numpy as np
    import torch

    from ..directions.relevance import load_relevance
    from ..models.delta_mapper import load_delta_mapper
    from ..models.loading import load_clip_spec, load_generator_spec

    settings, inputs = spec["settings"], spec["inputs"]
    G, _ = load_generator_spec(spec["generator"])
    mapper, info = load_delta_mapper(inputs["mapper"], f"mappers.{settings['mapper']}")
    relevance = None
    if inputs.get("relevance"):
        relevance = torch.from_numpy(np.asarray(load_relevance(inputs["relevance"], "relevance", s_dim=G.s_dim)))
    return DeltaEdit(G, load_clip_spec(spec["clip"]), mapper, info, relevance, settings["threshold"],
                     settings["strength"])


def check(name: str, settings: dict, config: dict) -> None:
    mapper = config["mappers"][settings["mapper"]]  # its existence is checked with the artefacts
    if settings["relevance"] and mapper["space"] != "s":
        raise ConfigError(f"methods.{name}.relevance: R_s masks S channels, but mapper "
                          f"{settings['mapper']!r} works in {mapper['space']!r}")


KIND = MethodKind(
    name="deltaedit",
    description="DeltaEdit-G and its ablations: a trained Delta Mapper, optionally masked by R_s.",
    settings={
        "mapper": {"type": "string", "description": "Name of the trained Delta Mapper (a key of mappers)."},
        "relevance": {"type": "boolean", "default": False,
                      "description": "Zero the S channels R_s finds irrelevant to the prompt."},
        "threshold": {"type": "number", "minimum": 0, "default": 0.03,
                      "description": "R_s masking: S channels with |R_s dt| below it are not edited (0.03 in the paper)."},
        "strength": {"type": "number", "default": 1.0, "description": "Scale of the predicted edit."},
    },
    required=("mapper",),
    inputs=lambda s: {"mapper": f"mapper:{s['mapper']}", "relevance": "relevance" if s["relevance"] else None},
    check=check,
    strength="strength",
    # the mapper's space; its edit depends on the image's own CLIP embedding
    space=lambda s, config: {"s": "S", "wplus": "W+"}[config["mappers"][s["mapper"]]["space"]],
    image_conditioned=True,
    build=build,
)
