"""Summarise a workflow run's Snakemake benchmark files: time and memory per rule.

    python benchmarks/summarize_run.py results/mini/benchmarks [--markdown]

For each rule: number of jobs, summed job seconds, the longest job, peak RSS. Job seconds add up
across parallel jobs, so the sum is CPU-side effort; the run's wall time is in Snakemake's log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def collect(folder: Path) -> pd.DataFrame:
    rows = []
    for tsv in sorted(folder.rglob("*.tsv")):
        rule = tsv.relative_to(folder).parts[0].removesuffix(".tsv")
        bench = pd.read_csv(tsv, sep="\t")
        rows.append({"rule": rule, "job": str(tsv.relative_to(folder)), "s": float(bench["s"].iloc[-1]),
                     "max_rss_mb": float(pd.to_numeric(bench["max_rss"], errors="coerce").iloc[-1])})
    if not rows:
        sys.exit(f"no benchmark files under {folder}")
    return pd.DataFrame(rows)


def summarize(jobs: pd.DataFrame) -> pd.DataFrame:
    out = jobs.groupby("rule").agg(jobs=("job", "count"), total_s=("s", "sum"), longest_s=("s", "max"),
                                   peak_rss_mb=("max_rss_mb", "max"))
    return out.sort_values("total_s", ascending=False).round(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    table = summarize(collect(args.folder))
    print(table.to_markdown() if args.markdown else table.to_string())


if __name__ == "__main__":
    main()
