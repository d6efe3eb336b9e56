"""The interface every compared editing method implements, and the registry of method kinds.

A method gets a batch of evaluation images (their inverted codes, their CLIP image embeddings and
the images themselves) and a prompt (source and target text) and returns the edited images. What
happens in between (a mapper, a global direction, an optimisation per image) is its own business,
so later methods (StyleCLIP, StyleMC, TediGAN, diffusion methods) plug in without touching the
stages.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

import torch

from ..editing.text import Prompt
from ..errors import ConfigError


@dataclass
class EvalBatch:
    """Evaluation images and what the data stages know about them (row-aligned, B rows).

    s (B, s_dim) and s_rgb (B, s_rgb_dim): S code and toRGB styles of the inversion;
    wplus (B, n_latent, style_dim); embedding (B, clip_dim): unit CLIP embedding of the image;
    images (B, 3, H, W) in [-1, 1] at the generator's resolution.
    """

    s: torch.Tensor
    s_rgb: torch.Tensor
    wplus: torch.Tensor
    embedding: torch.Tensor
    images: torch.Tensor

    def __len__(self) -> int:
        return int(self.s.shape[0])


class EditingMethod(ABC):
    """A text-guided editing method. Subclasses implement `edit`."""

    #: name of the method kind (the registry key); the configured method name may differ
    kind: str = ""

    @abstractmethod
    def edit(self, batch: EvalBatch, prompt: Prompt) -> torch.Tensor:
        """Edited images (B, 3, H, W) in [-1, 1], row-aligned with `batch`."""

    def describe(self) -> dict:
        """Settings worth recording beside the results (backbones, thresholds, ...)."""
        return {"kind": self.kind}


_KINDS: dict[str, Callable[[dict], EditingMethod]] = {}


def register_method(kind: str):
    """Decorator: register a builder `spec dict -> EditingMethod` under a method kind."""

    def register(builder: Callable[[dict], EditingMethod]):
        if kind in _KINDS:
            raise ValueError(f"method kind {kind!r} is registered twice")
        _KINDS[kind] = builder
        return builder

    return register


def method_kinds() -> list[str]:
    return sorted(_KINDS)


def build_method(spec: dict) -> EditingMethod:
    """Build a method from its spec ({"kind": ..., settings and checkpoint paths})."""
    kind = spec.get("kind")
    if kind not in _KINDS:
        raise ConfigError(f"methods.{spec.get('name', '?')}.kind: unknown method kind {kind!r} "
                          f"(known kinds: {', '.join(method_kinds())})")
    return _KINDS[kind](spec)
