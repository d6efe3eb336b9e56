"""The wordings table: per method and group of prompts (paraphrase, synonym, compositional, and the evaluation
prompts they are compared with), the prompt-averaged metrics with their intervals, and the paired difference
in edit accuracy from the evaluation prompt asking for the same value.

A paraphrase or synonym prompt is compared with the evaluation prompt asking for its value; a prompt asking
for two values is compared value by value (its "-part" lines: the same edits, scored for one value) with the
evaluation prompts asking for each alone. Both sides were measured on the same images and resamples, so
the difference is paired (tables/spread.py): *as accurate* when its 95% interval contains 0, *less accurate*
or *more accurate* when it lies below or above.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .spread import interval
from .table1 import _integer_counts, metric_cells, metric_names

CANONICAL = "canonical"
PART = "-part"
ACCURACY = "edit_accuracy"


def _asks_key(asks: dict) -> tuple:
    return tuple(sorted(asks.items()))


def accuracy_gap(lines: pd.DataFrame, canonical: pd.DataFrame) -> dict:
    """Mean over `lines` of (its edit accuracy - that of the canonical line asking for the same value), with
    the paired interval; NaN where a line has no canonical counterpart."""
    reference = {_asks_key(row.asks): row for row in canonical.itertuples()}
    points, replicates = [], []
    for row in lines.itertuples():
        match = reference.get(_asks_key(row.asks))
        if match is None or row.metrics.get(ACCURACY) is None or match.metrics.get(ACCURACY) is None:
            return {"accuracy_gap": np.nan, "gap_ci_low": np.nan, "gap_ci_high": np.nan, "gap_verdict": None}
        points.append(row.metrics[ACCURACY] - match.metrics[ACCURACY])
        if ACCURACY in row.replicates and ACCURACY in match.replicates:
            replicates.append(np.asarray(row.replicates[ACCURACY]) - np.asarray(match.replicates[ACCURACY]))
    gap = float(np.mean(points))
    if len(replicates) != len(points) or not replicates:
        return {"accuracy_gap": gap, "gap_ci_low": np.nan, "gap_ci_high": np.nan, "gap_verdict": None}
    low, high = interval(np.mean(np.stack(replicates), axis=0))
    verdict = "less accurate" if high < 0 else "more accurate" if low > 0 else "as accurate"
    return {"accuracy_gap": gap, "gap_ci_low": low, "gap_ci_high": high, "gap_verdict": verdict}


def build_wordings_table(results: pd.DataFrame, world: str, dataset: str) -> pd.DataFrame:
    """A row per (method, group), groups in the order they first appear (the canonical group first)."""
    metrics = metric_names(results)
    groups = [g for g in dict.fromkeys(results["group"]) if not g.endswith(PART)]
    groups = sorted(groups, key=lambda g: g != CANONICAL)
    rows = []
    for method, measured in results.groupby("method", sort=False):
        canonical = measured[measured["group"] == CANONICAL]
        for group in groups:
            lines = measured[measured["group"] == group]
            if lines.empty:
                continue
            parts = measured[measured["group"] == group + PART]
            row = {"world": world, "dataset": dataset, "method": method, "group": group,
                   "prompts": int(len(lines)), "images": int(lines.iloc[0]["images"]),
                   **metric_cells(lines, metrics),
                   "no_edit_accuracy": float(np.mean([v for v in lines["no_edit_accuracy"] if v is not None]))
                   if lines["no_edit_accuracy"].notna().any() else np.nan}
            if group != CANONICAL:
                # one value at a time for prompts asking for several (their parts), else the prompt itself
                compared = parts if not parts.empty else lines
                row["gap_compares"] = "each value asked with another vs alone" if not parts.empty else \
                    "this wording vs the evaluation prompt"
                row.update(accuracy_gap(compared, canonical))
                if not parts.empty:
                    row["each_value_accuracy"] = float(np.mean([m[ACCURACY] for m in parts["metrics"]]))
            rows.append(row)
    return _integer_counts(pd.DataFrame(rows))


def build_wordings_per_prompt(results: pd.DataFrame) -> pd.DataFrame:
    """Every measured line: method, group, prompt, what it asks for, its metrics and the no-edit rate."""
    metrics = metric_names(results)
    rows = [{"method": row.method, "group": row.group, "prompt": row.prompt, "target": row.target,
             "asks": ", ".join(f"{a}={v}" for a, v in row.asks.items()), "of": getattr(row, "of", None),
             **{m: row.metrics.get(m) for m in metrics}, "no_edit_accuracy": row.no_edit_accuracy}
            for row in results.itertuples()]
    return pd.DataFrame(rows)
