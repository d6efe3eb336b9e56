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
    """An edit request: the neutral source text, the target text, a file-safe name and, in the mini world,
    the ground truth: the attribute values the target asks for (`asks`, ((attribute, value), ...); empty
    elsewhere). A prompt asking for one value may give it as `attribute` and `value`; for several
    ("face with red hair and eyeglasses"), `attribute` and `value` read "hair_color+eyeglasses", "red+yes"."""

    target: str
    source: str = "face"
    name: str = ""
    attribute: str | None = None
    value: str | None = None
    asks: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", prompt_name(self.target))
        if self.asks and self.attribute is not None:
            raise ValueError(f"prompt {self.target!r}: give `asks` or `attribute` and `value`, not both")
        if self.attribute is not None:
            object.__setattr__(self, "asks", ((self.attribute, self.value),))
        elif self.asks:
            asks = tuple((str(a), None if v is None else str(v)) for a, v in dict(self.asks).items())
            object.__setattr__(self, "asks", asks)
            object.__setattr__(self, "attribute", "+".join(a for a, _ in asks))
            object.__setattr__(self, "value", "+".join(str(v) for _, v in asks))


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
