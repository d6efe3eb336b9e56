"""Edit figures: per method, a labelled grid of its edits of the first evaluation images."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..cli import stage
from ..io.drawing import labelled_grid
from ..io.images import decode_pngs, tensor_to_uint8, write_png
from ..io.shards import read_shard

log = logging.getLogger(__name__)

@stage("edit-figures")
@torch.no_grad()
def edit_figures(*, evaluation_set: Path, edits: dict, out: dict, prompts: list, source: str, generator: dict,
                 world: str, dataset: str, rows: int = 8) -> dict:
    """Per method, a labelled grid of its edits of the first `rows` evaluation images.

    A row per image, labelled with its index in the dataset (the evaluation set's `index`); the
    columns: the input, its reconstruction (the generator's render of the inverted S code with
    its toRGB styles: what every edit starts from), then one per prompt, labelled with its text.
    `edits` and `out` map method names to the method's edits folder and to its figure path.
    """
    from ..models.loading import load_generator_spec
    from .editing import prompts_from_config, read_edits

    table = read_shard(evaluation_set, ["index", "image", "s", "s_rgb"])
    index = table["index"][:rows]
    originals = decode_pngs(table["image"][:rows], f"{evaluation_set}:image")
    G, _ = load_generator_spec(generator)
    codes = [torch.tensor(table[k][:rows]) for k in ("s", "s_rgb")]
    reconstructions = tensor_to_uint8(G.synthesis(*codes, noise_mode="const"))
    prompt_list = prompts_from_config(prompts, source)
    labels = ["input", "reconstruction", *(p.target for p in prompt_list)]
    for method, folder in edits.items():
        # a method evaluated on fewer images than `rows` (methods.<name>.images) has fewer rows
        edited = [read_edits(Path(folder), p.name, index, prefix=True)[:rows] for p in prompt_list]
        n = min(len(e) for e in edited)
        cells = np.stack([originals[:n], reconstructions[:n], *(e[:n] for e in edited)], axis=1)
        title = f"{method} on {dataset} ({world} world)"
        Path(out[method]).parent.mkdir(parents=True, exist_ok=True)
        write_png(out[method], labelled_grid(cells, labels, [str(i) for i in index[:n]], title))
    summary = {"figures": len(edits), "images": len(originals), "prompts": len(prompt_list)}
    log.info("edit figures %s", summary)
    return summary
