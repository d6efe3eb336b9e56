"""Load the generator, encoder and CLIP of either world from a model spec (a dict from the config).

A spec is the config's `models.<name>` section plus the resolved checkpoint path:
    {"format": "deltaspace" | "rosinality" | "e4e" | "open_clip", "checkpoint": path, ...}
In the mini world the checkpoints are the workflow's own (format "deltaspace"); in the real world
they are the user's files in their published formats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import ConfigError


def _key(name: str) -> str:
    return f"models.{name}.checkpoint"


def load_generator_spec(spec: dict):
    """-> (Generator in eval mode, latent_avg)."""
    from .stylegan2 import load_generator, load_rosinality

    fmt, path = spec["format"], spec["checkpoint"]
    if fmt == "deltaspace":
        G, latent_avg = load_generator(path, _key("generator"))
    elif fmt == "rosinality":
        G, latent_avg = load_rosinality(
            path, spec["size"], spec["style_dim"], spec["n_mlp"], spec["channel_multiplier"], _key("generator"),
            channels=spec.get("channels"),
        )
    else:
        raise ConfigError(f"models.generator.format: unknown format {fmt!r}")
    return G.eval().requires_grad_(False), latent_avg


def load_encoder_spec(spec: dict, generator_spec: dict):
    """-> encoder in eval mode. e4e checkpoints carry their own decoder; ours reference the generator."""
    from .e4e import load_e4e_checkpoint, load_encoder

    fmt, path = spec["format"], spec["checkpoint"]
    if fmt == "deltaspace":
        E = load_encoder(path, _key("encoder"))
    elif fmt == "e4e":
        arch = {k: spec[k] for k in ("size", "style_dim", "n_mlp", "channel_multiplier")}
        arch["channels"] = spec.get("channels")
        E, _, _ = load_e4e_checkpoint(path, _key("encoder"), arch)
    else:
        raise ConfigError(f"models.encoder.format: unknown format {fmt!r}")
    return E.eval().requires_grad_(False)


@dataclass
class Clip:
    model: torch.nn.Module
    tokenizer: object
    normalize: bool


def load_clip_spec(spec: dict) -> Clip:
    from . import clip as clip_models

    fmt, path = spec["format"], spec["checkpoint"]
    if fmt == "deltaspace":
        model, tokenizer = clip_models.load_clip(path, _key("clip"))
    elif fmt == "open_clip":
        model, tokenizer = clip_models.load_open_clip(spec["arch"], path, _key("clip"))
    else:
        raise ConfigError(f"models.clip.format: unknown format {fmt!r}")
    return Clip(model.eval().requires_grad_(False), tokenizer, bool(spec.get("normalize", True)))
