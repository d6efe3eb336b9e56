"""Stages that turn measured results into the paper's tables and figures."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from ..cli import stage
from ..io.images import decode_pngs, image_grid, write_png
from ..io.shards import read_shard, write_manifest

log = logging.getLogger(__name__)


def write_csv(frame, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.to_csv(tmp, index=False, float_format="%.4f")
    os.replace(tmp, out)


@stage("table1")
def table1(*, results: list, dataset: str, methods: list, out: Path) -> dict:
    """results/table1.csv from the evaluate stage's JSON lines (one file per dataset and method)."""
    from ..tables.table1 import build_table1, read_results

    table = build_table1(read_results([Path(p) for p in results]), dataset, list(methods))
    write_csv(table, out)
    log.info("table 1:\n%s", table.to_string(index=False))
    return {"rows": len(table), "out": str(out)}


@stage("edit-figures")
def edit_figures(*, evaluation_set: Path, edits: dict, out: dict, prompts: list, source: str, rows: int = 8) -> dict:
    """Per method, a grid of its edits: a row per image (the input first), a column per prompt.

    `edits` and `out` map method names to the method's edits folder and to its figure path.
    """
    from .editing import prompts_from_config, read_edits

    table = read_shard(evaluation_set, ["index", "image"])
    originals = decode_pngs(table["image"][:rows])
    prompt_list = prompts_from_config(prompts, source)
    for method, folder in edits.items():
        columns = [originals] + [read_edits(Path(folder), p.name, table["index"])[: len(originals)] for p in prompt_list]
        grid_rows = [np.stack([col[i] for col in columns]) for i in range(len(originals))]
        Path(out[method]).parent.mkdir(parents=True, exist_ok=True)
        write_png(out[method], image_grid(grid_rows))
    return {"figures": len(edits), "images": len(originals), "prompts": len(prompt_list)}


@stage("table-manifest")
def table_manifest(*, folder: Path, shards: list, rows: int, info: dict | None = None) -> dict:
    """Check a table's shards and write its manifest.json (last, atomically)."""
    manifest = write_manifest(folder, [Path(s) for s in shards], expected_rows=rows, info=info)
    return {"folder": str(folder), "rows": manifest["rows"], "shards": len(manifest["shards"])}
