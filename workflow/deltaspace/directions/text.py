"""Text directions in CLIP space: dt = t(target) - t(source).

t() is the mean of unit CLIP text embeddings over the model's prompt templates, renormalised
(models.clip.text_embeddings). dt stays un-normalised: official DeltaEdit thresholds |R_s dt| on
the raw difference and normalises dt only where it enters the mapper's condition.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Prompt:
    """An edit request: the neutral source text, the target text, a file-safe name and, in the
    mini world, the ground-truth attribute value the target asks for (None elsewhere)."""

    target: str
    source: str = "face"
    name: str = ""
    attribute: str | None = None
    value: str | None = None

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", prompt_name(self.target))


def prompt_name(text: str) -> str:
    """"face with red hair" -> "face-with-red-hair" (used for file names and table rows)."""
    keep = "".join(c.lower() if c.isalnum() else "-" for c in text.strip())
    return "-".join(part for part in keep.split("-") if part)


@torch.no_grad()
def text_direction(clip, source: str, target: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(dt, t_target): the raw difference t(target) - t(source) and the unit target embedding."""
    from ..models.clip import text_embeddings  # open_clip costs ~4 s; Prompt users (evaluate, tables) skip it

    emb = text_embeddings(clip.model, clip.tokenizer, [source, target])
    return emb[1] - emb[0], emb[1]
