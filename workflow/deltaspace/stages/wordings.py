"""Wordings: how a method's edits generalise beyond the wording of the evaluation prompts, and to prompts
asking for two attribute values at once; and the table built from every measured method (tables/wordings.py).

The mini CLIP learns its language from captions (world/captions.py). The wordings target asks for the same
attribute values in words or sentence shapes those captions never use (held out of them by a test) and for
two values at once, and measures each method's edits beside those of the evaluation prompt asking for the
same value, on the same images and bootstrap resamples, so that the difference is paired.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from ..cli import stage
from ..errors import ConfigError
from ..io.atomic import write_text_atomic

log = logging.getLogger(__name__)

#: what the wordings table reports: accuracy, and whether the edit kept the rest of the face
WORDING_METRICS = ("edit_accuracy", "preservation", "target_distance")
CANONICAL = "canonical"  # the group of the evaluation prompts measured beside the wordings
PART = "-part"  # suffix of the group of one value of a prompt asking for several


def counterparts(wordings: list, canonical: list) -> list:
    """The evaluation prompts asking for one value that some wording prompt asks for (alone or with another)."""
    asked = {ask for prompt in wordings for ask in prompt.asks}
    return [prompt for prompt in canonical if len(prompt.asks) == 1 and prompt.asks[0] in asked]


def part_prompts(prompt) -> list:
    """One prompt per value a prompt asks for, each asking for that value alone (its edits are the prompt's)."""
    from ..directions.text import Prompt

    return [Prompt(target=prompt.target, source=prompt.source, name=f"{prompt.name}--{attribute}-{value}",
                   asks=((attribute, value),)) for attribute, value in prompt.asks]


@stage("wordings")
@torch.no_grad()
def wordings(*, evaluation_set: Path, method: dict, prompts: list, canonical: list, images: int, source: str,
             nets: dict, world: str, dataset: str, out: Path, metrics: list = WORDING_METRICS, bootstrap: int = 0,
             seed: int = 0, batch_size: int = 256, threads: int = 1) -> dict:
    """Edit the first `images` evaluation images with one method for every wording prompt (`prompts`: config
    entries with their `group`) and for every evaluation prompt (`canonical`) asking for a value they ask
    for, and measure the edits as the evaluate stage does (the same metrics, ideal edits and resamples).

    JSON lines, one per prompt, with its "group" ("canonical" for the evaluation prompts) and the evaluate
    stage's fields; for a prompt asking for several values, also one line per value ("group": the group +
    "-part", "of": the prompt) measuring the same edits for that value alone. Every line carries
    "no_edit_accuracy": the share of the unedited images that already show what it asks for.
    """
    from ..methods import build_method
    from .editing import prompts_from_config
    from .evaluate import edit_and_score, prompt_fields, scored_subset

    start = time.time()
    table, data, scorer = scored_subset(evaluation_set, images, "wordings.images", method, list(metrics), nets,
                                        world, bootstrap, seed)
    worded = prompts_from_config(prompts, source)
    groups = {prompt.name: entry["group"] for prompt, entry in zip(worded, prompts)}
    reference = counterparts(worded, prompts_from_config(canonical, source))
    clash = sorted(set(groups) & {prompt.name for prompt in reference})
    if clash:
        raise ConfigError(f"wordings.prompts: {clash} are also evaluation prompts (evaluation.prompts)")
    editor = build_method(method)
    head = {"world": world, "dataset": dataset, "method": method.get("name"), "kind": method["kind"]}
    originals = scorer.originals
    lines = []

    def line(prompt, fields: dict, group: str, **extra) -> dict:
        unedited = scorer.score(prompt, originals)["metrics"].get("edit_accuracy")
        return {**head, **fields, "group": group, **extra, "no_edit_accuracy": unedited}

    for prompt in [*reference, *worded]:
        fields, edited = edit_and_score(editor, data, scorer, prompt, batch_size, str(method.get("name")))
        group = groups.get(prompt.name, CANONICAL)
        lines.append(line(prompt, fields, group))
        for part in part_prompts(prompt) if len(prompt.asks) > 1 else []:
            scores = {**prompt_fields(part), **scorer.score(part, edited)}
            lines.append(line(part, scores, group + PART, of=prompt.name))
    write_text_atomic(out, "".join(json.dumps(entry) + "\n" for entry in lines))
    summary = {"method": method.get("name"), "dataset": dataset, "prompts": len(worded), "canonical": len(reference),
               "images": len(table["index"]), "seconds": round(time.time() - start, 1)}
    log.info("wordings %s", summary)
    return summary


@stage("wordings-table")
def wordings_table(*, results: list, dataset: str, world: str, out: Path, per_prompt: Path) -> dict:
    """From the wordings results of a dataset (one JSON lines file per method): per method and group, the
    prompt-averaged edit accuracy, preservation and distance to the ideal edit with their intervals, the
    no-edit rate, and the paired difference in accuracy from the evaluation prompts asking for the same values
    (tables/wordings.py); and every prompt's line."""
    from ..tables.table1 import read_results
    from ..tables.wordings import build_wordings_per_prompt, build_wordings_table
    from .tables import write_csv

    frame = read_results([Path(p) for p in results])
    table = build_wordings_table(frame, world, dataset)
    write_csv(table, out)
    write_csv(build_wordings_per_prompt(frame), per_prompt)
    summary = {"methods": int(frame["method"].nunique()), "rows": len(table)}
    log.info("wordings table %s", summary)
    return summary
