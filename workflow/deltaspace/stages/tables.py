"""Stages that turn measured results into the paper's tables (the figures: stages/figures.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..cli import stage
from ..io.shards import write_manifest

log = logging.getLogger(__name__)


def write_csv(frame, out: Path) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    frame.to_csv(tmp, index=False, float_format="%.6g")  # significant digits: KID is ~1e-3 on Inception features
    os.replace(tmp, out)


@stage("table1")
def table1(*, results: list, dataset: str, methods: list, out: Path, per_prompt: Path) -> dict:
    """Table 1 of a dataset (results/table1.csv) and its per-prompt table, from the evaluate stage's JSON
    lines (one file per dataset and method); every metric with its bootstrap interval."""
    from ..tables.table1 import build_table1, build_table1_per_prompt, read_results

    results = read_results([Path(p) for p in results])
    table = build_table1(results, dataset, list(methods))
    write_csv(table, out)
    write_csv(build_table1_per_prompt(results, dataset, list(methods)), per_prompt)
    log.info("table 1:\n%s", table.to_string(index=False))
    return {"rows": len(table), "out": str(out), "per_prompt": str(per_prompt)}


@stage("table-manifest")
def table_manifest(*, folder: Path, shards: list, rows: int, info: dict | None = None) -> dict:
    """Check a table's shards and write its manifest.json (last, atomically)."""
    manifest = write_manifest(folder, [Path(s) for s in shards], expected_rows=rows, info=info)
    return {"folder": str(folder), "rows": manifest["rows"], "shards": len(manifest["shards"])}
