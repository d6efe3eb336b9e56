"""The evaluate stage: metrics of one method's edits of one dataset, per prompt, as JSON lines."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..cli import stage
from ..errors import DataError
from ..io.atomic import write_text_atomic
from ..io.images import decode_pngs
from ..io.shards import read_manifest, read_shard

log = logging.getLogger(__name__)


def _bootstrap(statistics: dict, weights: np.ndarray, seed: int) -> dict:
    """Each metric on every resample (the rows of `weights`); a replicate where it is undefined (NaN) as null."""
    values = {name: None if s is None else [float(v) if np.isfinite(v) else None for v in s(weights)]
              for name, s in statistics.items()}
    return {"seed": seed, "replicates": len(weights), "values": values}


@stage("evaluate")
@torch.no_grad()
def evaluate(*, evaluation_set: Path, edits: Path, prompts: list, source: str, metrics: list, nets: dict,
             world: str, dataset: str, method: str, out: Path, bootstrap: int = 0, seed: int = 0,
             threads: int = 1) -> dict:
    """One JSON line per prompt: the metrics of the edited images against the inputs.

    Each line records the world, dataset, method, prompt, ground-truth attribute (mini world),
    number of images, every metric's value and backbone, and the method's editing seconds; with
    `bootstrap` > 0, also each metric on that many resamples of the images, drawn from `seed` (the
    same resamples for every method and prompt: metrics/bootstrap.py), under "bootstrap".
    In the mini world the target metrics compare each edit with its ideal render (metrics/edit_targets.py).
    """
    from ..metrics.edit_targets import prompt_targets
    from ..metrics.bootstrap import point_value, resample_weights
    from ..metrics.registry import METRICS, load_metric_nets, metric_statistics
    from .editing import evaluation_params, prompts_from_config, read_edits

    start = time.time()
    table = read_shard(evaluation_set)
    originals = decode_pngs(table["image"], f"{evaluation_set}:image")
    world_params = evaluation_params(table)
    if world == "mini" and world_params is None:
        raise DataError(f"{evaluation_set}: no image factors or render style (an older evaluation set: rebuild it)")
    loaded = load_metric_nets(nets)
    edit_info = read_manifest(edits)["info"]
    lines = []
    memo = {}  # the originals' network outputs, computed for the first prompt and reused by the others
    weights = resample_weights(seed, bootstrap, len(originals)) if bootstrap else None
    bootstrap_seconds = 0.0
    # a target metric is reported beside its no-edit reference (the unedited image against the ideal)
    metrics = [*metrics, *(f"{m}_noedit" for m in metrics if f"{m}_noedit" in METRICS)]
    for prompt in prompts_from_config(prompts, source):
        edited = read_edits(Path(edits), prompt.name, table["index"])
        targets = prompt_targets(world_params, prompt, originals.shape[1])
        statistics, backbones = metric_statistics(metrics, originals, edited, loaded, prompt, memo, targets)
        values = {name: point_value(s, len(originals)) for name, s in statistics.items()}
        tic = time.time()
        resampled = None if weights is None else _bootstrap(statistics, weights, seed)
        bootstrap_seconds += time.time() - tic
        lines.append({
            "world": world, "dataset": dataset, "method": method, "prompt": prompt.name,
            "source": prompt.source, "target": prompt.target, "attribute": prompt.attribute, "value": prompt.value,
            "images": len(originals), "metrics": values, "backbones": backbones, "bootstrap": resampled,
            "edit_seconds": edit_info.get("seconds_per_prompt", {}).get(prompt.name),
            "method_settings": edit_info.get("settings"),
            # what the method did with the prompt, e.g. how many S channels it kept (0: the edit changed nothing)
            "prompt_info": edit_info.get("prompt_info", {}).get(prompt.name, {}),
        })
    write_text_atomic(out, "".join(json.dumps(line) + "\n" for line in lines))
    summary = {"method": method, "dataset": dataset, "prompts": len(lines), "seconds": round(time.time() - start, 1),
               "bootstrap": bootstrap, "bootstrap_seconds": round(bootstrap_seconds, 1)}
    log.info("evaluated %s", summary)
    return summary
