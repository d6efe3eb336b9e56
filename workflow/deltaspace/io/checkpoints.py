"""Checkpoint files: our own format (architecture stored beside the weights) and safe loading.

Our format is a plain dict saved by torch.save:
    {"format": "deltaspace/<kind>", "version": 1, "arch": {...}, "state_dict": {...}, "extra": {...}}
Loading never executes code from the file: torch.load(weights_only=True), with only
argparse.Namespace allow-listed (rosinality checkpoints store their training args as one).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from .atomic import atomic_path

FORMAT_VERSION = 1


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """Write to a temp file in the same folder, then rename: a killed run leaves no half file."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def safe_torch_load(path: str | os.PathLike, config_key: str, expected: str) -> Any:
    """torch.load with weights_only=True; missing or unreadable files name the config key."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{config_key}: no file at {path} (expected {expected})")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with disallowed globals, ...
        raise CheckpointError(
            f"{config_key}: cannot read {path} as {expected}: {type(exc).__name__}: {exc}"
        ) from exc


def save_checkpoint(
    path: str | os.PathLike,
    kind: str,
    arch: dict,
    state_dict: dict,
    extra: dict | None = None,
) -> None:
    """Save a model in our format. `arch` must hold every constructor argument (JSON-able)."""
    atomic_torch_save(
        {
            "format": f"deltaspace/{kind}",
            "version": FORMAT_VERSION,
            "arch": dict(arch),
            "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
            "extra": dict(extra or {}),
        },
        path,
    )


def load_checkpoint(path: str | os.PathLike, kind: str, config_key: str) -> dict:
    """Load one of our checkpoints of the given kind; a file of another kind is a clear error."""
    obj = safe_torch_load(path, config_key, f"a deltaspace/{kind} checkpoint")
    fmt = obj.get("format") if isinstance(obj, dict) else None
    if fmt != f"deltaspace/{kind}":
        found = fmt or (f"a dict with keys {sorted(obj)[:6]}" if isinstance(obj, dict) else type(obj).__name__)
        raise CheckpointError(
            f"{config_key}: {path} is not a deltaspace/{kind} checkpoint (found {found})"
        )
    if obj.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_key}: {path} has format version {obj.get('version')}, this code reads {FORMAT_VERSION}"
        )
    return obj


def load_state_dict_strict(module: torch.nn.Module, state_dict: dict, config_key: str, path) -> None:
    """load_state_dict that reports a mismatch in one short message instead of a wall of keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} tensors of another shape (first: {wrong[0]})")
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[0]})")
        raise CheckpointError(
            f"{config_key}: {path} does not fit the configured architecture: " + "; ".join(parts)
            + ". Check the architecture settings in the config (size, channels, ...)."
        )
    module.load_state_dict(state_dict, strict=True)
