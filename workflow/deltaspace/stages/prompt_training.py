"""Train what a method kind learns per prompt (methods.base.MethodKind.train) and save it for its builder."""

from __future__ import annotations

import time
from pathlib import Path

from ..cli import stage


@stage("train-prompt-edit")
def train_prompt_edit(*, method: dict, prompt: dict, source: str, seed: int, out: Path, threads: int = 1) -> dict:
    """Train `method` (a method spec with "identity_loss", the loss identity net) for one prompt entry of the
    config ({target, ...}) with `seed`; save the state labelled with kind and prompt."""
    import torch

    from ..errors import ConfigError
    from ..methods.base import method_kind, save_prompt_training
    from .editing import prompts_from_config

    kind = method_kind(method["kind"], f"methods.{method['name']}.kind")
    if not kind.trains_per_prompt:
        raise ConfigError(f"methods.{method['name']}: kind {kind.name!r} learns nothing per prompt")
    [request] = prompts_from_config([prompt], source)
    start = time.time()
    torch.manual_seed(seed)
    state, summary = kind.train(method, request, seed)
    summary = {"method": method["name"], "kind": kind.name, "prompt": request.target, "seed": seed,
               "train_seconds": round(time.time() - start, 2), **summary}
    save_prompt_training(out, method, request, state, summary)
    return summary
