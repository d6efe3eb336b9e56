"""The evaluate stage: metrics of one method's edits of one dataset, per prompt, as JSON lines."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import torch

from ..cli import stage
from ..io.images import decode_pngs
from ..io.shards import read_manifest, read_shard

log = logging.getLogger(__name__)


@stage("evaluate")
@torch.no_grad()
def evaluate(*, evaluation_set: Path, edits: Path, prompts: list, source: str, metrics: list, nets: dict,
             world: str, dataset: str, method: str, out: Path, threads: int = 1) -> dict:
    """One JSON line per prompt: the metrics of the edited images against the inputs.

    Each line records the world, dataset, method, prompt, ground-truth attribute (mini world),
    number of images, every metric's value and backbone, and the method's editing seconds.
    """
    from ..metrics.registry import compute_metrics, load_metric_nets
    from .editing import prompts_from_config, read_edits

    torch.set_num_threads(threads)
    start = time.time()
    table = read_shard(evaluation_set, ["index", "image"])
    originals = decode_pngs(table["image"], f"{evaluation_set}:image")
    loaded = load_metric_nets(nets)
    edit_info = read_manifest(edits)["info"]
    lines = []
    memo = {}  # the originals' network outputs, computed for the first prompt and reused by the others
    for prompt in prompts_from_config(prompts, source):
        edited = read_edits(Path(edits), prompt.name, table["index"])
        values, backbones = compute_metrics(metrics, originals, edited, loaded, prompt, memo)
        lines.append({
            "world": world, "dataset": dataset, "method": method, "prompt": prompt.name,
            "source": prompt.source, "target": prompt.target, "attribute": prompt.attribute, "value": prompt.value,
            "images": len(originals), "metrics": values, "backbones": backbones,
            "edit_seconds": edit_info.get("seconds_per_prompt", {}).get(prompt.name),
            "method_settings": edit_info.get("settings"),
        })
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(json.dumps(line) + "\n" for line in lines))
    os.replace(tmp, out)
    summary = {"method": method, "dataset": dataset, "prompts": len(lines), "seconds": round(time.time() - start, 1)}
    log.info("evaluated %s", summary)
    return summary
