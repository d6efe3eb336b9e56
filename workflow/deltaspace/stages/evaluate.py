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


class PromptScorer:
    """The metrics of edits of an evaluation set's images, one prompt at a time: what the evaluate stage
    measures, shared with the strength sweep (stages/sweep.py).

    `table`: the evaluation set as read_shard gives it (or its first rows). The originals go through
    each metric net once for all calls; each prompt's ideal edits (mini world) are rendered once; with
    `bootstrap` > 0 every call is also measured on the same resamples of the images, drawn from `seed`.
    A target metric is reported beside its no-edit reference (the unedited image against the ideal).
    """

    def __init__(self, table: dict, metrics: list, nets: dict, world: str, where: str,
                 bootstrap: int = 0, seed: int = 0):
        from ..metrics.bootstrap import resample_weights
        from ..metrics.registry import METRICS, load_metric_nets
        from .editing import evaluation_params

        self.originals = decode_pngs(table["image"], f"{where}:image")
        self.world_params = evaluation_params(table)
        if world == "mini" and self.world_params is None:
            raise DataError(f"{where}: no image factors or render style (an older evaluation set: rebuild it)")
        self.nets = load_metric_nets(nets)
        self.metrics = [*metrics, *(f"{m}_noedit" for m in metrics if f"{m}_noedit" in METRICS)]
        self.seed = seed
        self.weights = resample_weights(seed, bootstrap, len(self.originals)) if bootstrap else None
        self.bootstrap_seconds = 0.0
        self._memo: dict = {}  # the originals' network outputs, computed for the first prompt
        self._targets: dict = {}  # prompt name -> its ideal edits (None where there are none)

    def score(self, prompt, edited: np.ndarray) -> dict:
        """{"images", "metrics": {name: value}, "backbones", "bootstrap": resampled values or None} of one
        prompt's edited images (uint8, row-aligned with the originals)."""
        from ..metrics.bootstrap import point_value
        from ..metrics.edit_targets import prompt_targets
        from ..metrics.registry import metric_statistics

        if prompt.name not in self._targets:
            self._targets[prompt.name] = prompt_targets(self.world_params, prompt, self.originals.shape[1])
        statistics, backbones = metric_statistics(self.metrics, self.originals, edited, self.nets, prompt,
                                                  self._memo, self._targets[prompt.name])
        n = len(self.originals)
        tic = time.time()
        resampled = None if self.weights is None else _bootstrap(statistics, self.weights, self.seed)
        self.bootstrap_seconds += time.time() - tic
        return {"images": n, "metrics": {name: point_value(s, n) for name, s in statistics.items()},
                "backbones": backbones, "bootstrap": resampled}


def scored_subset(evaluation_set: Path, images: int, images_key: str, method: dict, metrics: list, nets: dict,
                  world: str, bootstrap: int, seed: int) -> tuple[dict, dict, PromptScorer]:
    """The first `images` rows of an evaluation set, as read_shard gives them and as tensors for editing with
    `method`'s generator, and their scorer: what a target that edits in process (sweep, wordings) measures on."""
    from ..models.loading import load_generator_spec
    from .editing import evaluation_tensors, first_rows

    table = read_shard(evaluation_set)
    if len(table["index"]) < images:
        raise DataError(f"{evaluation_set}: {len(table['index'])} evaluation images, {images_key} asks for {images}")
    table = first_rows(table, images)
    G, _ = load_generator_spec(method["generator"])
    data = evaluation_tensors(table, G, str(evaluation_set))
    return table, data, PromptScorer(table, metrics, nets, world, str(evaluation_set), bootstrap, seed)


def prompt_fields(prompt) -> dict:
    """What a result line records of its prompt (the mini world's ground truth: attribute, value, asks)."""
    return {"prompt": prompt.name, "source": prompt.source, "target": prompt.target, "attribute": prompt.attribute,
            "value": prompt.value, "asks": dict(prompt.asks)}


def edit_and_score(editor, data: dict, scorer: PromptScorer, prompt, batch_size: int, label: str) -> tuple[dict, np.ndarray]:
    """Edit the evaluation images (stages/editing.evaluation_tensors) for one prompt in this process and score
    the edits: (the result line's fields for the prompt, the edited images). The strength sweep and the
    wordings target measure their edits this way, without writing them."""
    from .editing import edit_all, warn_if_no_channels

    start = time.perf_counter()
    edited = edit_all(editor, data, prompt, batch_size)
    seconds = round(time.perf_counter() - start, 3)
    info = editor.prompt_info(prompt)
    warn_if_no_channels(label, prompt, info)
    return {**prompt_fields(prompt), **scorer.score(prompt, edited), "edit_seconds": seconds, "prompt_info": info}, edited


@stage("evaluate")
@torch.no_grad()
def evaluate(*, evaluation_set: Path, edits: Path, prompts: list, source: str, metrics: list, nets: dict,
             world: str, dataset: str, method: str, out: Path, bootstrap: int = 0, seed: int = 0,
             images: int | None = None, threads: int = 1) -> dict:
    """One JSON line per prompt: the metrics of the edited images against the inputs (the first `images`
    evaluation images only, for a method the config evaluates on fewer).

    Each line records the world, dataset, method, prompt, ground-truth attribute (mini world),
    number of images, every metric's value and backbone, and the method's editing seconds; with
    `bootstrap` > 0, also each metric on that many resamples of the images, drawn from `seed` (the
    same resamples for every method and prompt: metrics/bootstrap.py), under "bootstrap".
    In the mini world the target metrics compare each edit with its ideal render (metrics/edit_targets.py).
    """
    from .editing import first_rows, prompts_from_config, read_edits

    start = time.time()
    table = first_rows(read_shard(evaluation_set), images)
    scorer = PromptScorer(table, metrics, nets, world, str(evaluation_set), bootstrap, seed)
    edit_info = read_manifest(edits)["info"]
    lines = []
    for prompt in prompts_from_config(prompts, source):
        scores = scorer.score(prompt, read_edits(Path(edits), prompt.name, table["index"]))
        lines.append({
            "world": world, "dataset": dataset, "method": method, **prompt_fields(prompt), **scores,
            "edit_seconds": edit_info.get("seconds_per_prompt", {}).get(prompt.name),
            "method_settings": edit_info.get("settings"),
            # what the method did with the prompt, e.g. how many S channels it kept (0: the edit changed nothing)
            "prompt_info": edit_info.get("prompt_info", {}).get(prompt.name, {}),
        })
    write_text_atomic(out, "".join(json.dumps(line) + "\n" for line in lines))
    summary = {"method": method, "dataset": dataset, "prompts": len(lines), "seconds": round(time.time() - start, 1),
               "bootstrap": bootstrap, "bootstrap_seconds": round(scorer.bootstrap_seconds, 1)}
    log.info("evaluated %s", summary)
    return summary
