"""DeltaEdit-G and its ablations: a trained Delta Mapper turns a CLIP text direction into a latent edit.

One class covers the paper's model and the ablations of its Table 1, which differ only in what
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

import numpy as np
import torch

from ..editing.masking import relevance_mask
from ..editing.text import Prompt, text_direction
from ..errors import ConfigError
from ..models.delta_mapper import load_delta_mapper, text_condition
from ..models.loading import load_clip_spec, load_generator_spec
from .base import EditingMethod, EvalBatch, register_method


class DeltaEdit(EditingMethod):
    kind = "deltaedit"

    def __init__(self, G, clip, mapper: torch.nn.Module, info: dict, relevance: torch.Tensor | None = None,
                 threshold: float = 0.03, strength: float = 1.0):
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
        dt, t_target = text_direction(self.clip, source, target)
        direction = dt if self.condition == "delta" else t_target
        mask = None if self.relevance is None else relevance_mask(self.relevance, dt, self.threshold)
        return direction, mask

    @torch.no_grad()
    def code_delta(self, batch: EvalBatch, prompt: Prompt) -> torch.Tensor:
        """The predicted change of the code the mapper works in: (B, s_dim) or (B, n_latent*style_dim)."""
        direction, mask = self._direction(prompt.source, prompt.target)
        cond = text_condition(batch.embedding, direction.expand(len(batch), -1))
        code = batch.s if self.space == "s" else batch.wplus.flatten(1)
        delta = self.mapper(code, cond) * self.strength
        return delta if mask is None else delta * mask

    @torch.no_grad()
    def edit(self, batch: EvalBatch, prompt: Prompt) -> torch.Tensor:
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


@register_method("deltaedit")
def build_deltaedit(spec: dict) -> DeltaEdit:
    """spec: generator, clip (model specs), mapper (checkpoint path), mapper_key (its config key),
    relevance (R_s .npy path or null), threshold, strength."""
    from ..editing.relevance import load_relevance

    G, _ = load_generator_spec(spec["generator"])
    clip = load_clip_spec(spec["clip"])
    mapper, info = load_delta_mapper(spec["mapper"], spec.get("mapper_key", "mappers"))
    relevance = None
    if spec.get("relevance"):
        relevance = torch.from_numpy(np.asarray(load_relevance(spec["relevance"], "relevance")))
    return DeltaEdit(G, clip, mapper, info, relevance, spec.get("threshold", 0.03), spec.get("strength", 1.0))
