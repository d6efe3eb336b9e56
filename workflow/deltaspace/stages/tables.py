"""Stages that turn measured results into the paper's tables (the figures: stages/figures.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..cli import stage
from ..io.atomic import atomic_path, write_text_atomic

log = logging.getLogger(__name__)


def write_csv(frame, out: Path) -> None:
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")  # significant digits: KID is ~1e-3 on Inception features


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


@stage("table1-seeds")
def table1_seeds(*, results: list, dataset: str, methods: list, retrained: dict, seeds: list, out: Path) -> dict:
    """Table 1 over training seeds (results/table1-seeds.csv): each metric's mean, standard deviation and value per
    seed beside the bootstrap spread over images; results[k]: the JSON lines files of replicate k (seed seeds[k]),
    retrained: {method: [trained artefacts it reads]} (the other methods are the same for every seed)."""
    from ..tables.seeds import build_table1_seeds
    from ..tables.table1 import read_results

    replicates = [read_results([Path(p) for p in paths]) for paths in results]
    table = build_table1_seeds(replicates, dataset, list(methods), dict(retrained), list(seeds))
    write_csv(table, out)
    log.info("table 1 over seeds %s:\n%s", seeds, table.to_string(index=False))
    return {"rows": len(table), "seeds": list(seeds), "out": str(out)}


@stage("claims")
def claims(*, results: dict, methods: list, world: str, out: Path) -> dict:
    """results/<world>/claims.md: each claim of the paper's Table 1 judged on every evaluated dataset
    (`results`: {dataset: [JSON lines files]}) as held / not held / within noise, with the numbers."""
    from ..tables.claims import claims_markdown, table1_claims
    from ..tables.table1 import read_results

    sections, counts = [], {}
    for dataset, paths in results.items():
        judged = table1_claims(read_results([Path(p) for p in paths]), dataset, list(methods))
        sections.append(claims_markdown(judged, dataset))
        counts[dataset] = judged["verdict"].value_counts().to_dict() if not judged.empty else {}
    header = (f"# The paper's claims, measured ({world} world)\n\n"
              "Each claim compares DeltaEdit-G with one other row of the paper's Table 1 on one metric. Its verdict "
              "comes from the 95% bootstrap interval of the paired difference over the evaluation images (the same "
              "resamples for both rows): *held* when the interval lies on the claimed side of 0, *not held* when "
              "it lies on the other side, *within noise* when it contains 0. The interval covers the choice of "
              "evaluation images, not the training seeds (results/table1-seeds.csv, where built).\n\n")
    write_text_atomic(out, header + "\n".join(sections))
    return {"out": str(out), "verdicts": counts}


@stage("table5")
def table5(*, methods: list, timings: list, out: Path, claims: Path) -> dict:
    """Table 5 (time efficiency): methods = [{"method", "kind", "space", "image_conditioned", "preprocessing":
    [benchmark files], "training": [benchmark files]}]; timings = the time-inference results, one per method."""
    from ..tables.table5 import build_table5, table5_claims

    measured = {}
    for path in timings:
        result = json.loads(Path(path).read_text())
        measured[result["method"]] = result
    table = build_table5(list(methods), measured)
    write_text_atomic(out, table.to_csv(index=False))
    write_text_atomic(claims, table5_claims(table))
    return {"rows": len(table), "out": str(out)}
