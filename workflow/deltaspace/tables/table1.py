"""Table 1: GAN-based text-guided editing on (mini-)FFHQ: FID / PSNR / IDS averaged over the prompts.

One row per method of the paper's table. Measured rows average the evaluate stage's per-prompt
results; every metric has its 95% bootstrap interval beside it (``<metric>_ci_low``,
``<metric>_ci_high``: tables/spread.py; ``bootstrap`` is the number of resamples, 0 for none) and
the published value after it; methods of the paper that the workflow does not implement yet get a
row that says so, with their published numbers only. The per-prompt table has one row per measured
method and prompt, with the same columns. Edit accuracy and preservation (mini world only) are the
ground truth the paper could not measure. The metric columns are the metrics of the results, in
the order the evaluate stage wrote them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import DataError
from .spread import centred, interval, prompt_average

PUBLISHED_METRICS = ("fid", "psnr", "ids")
REQUIRED_KEYS = ("world", "dataset", "method", "prompt", "images", "metrics")

# Rows of the paper's Table 1 in its order: workflow method name -> (label in the paper, published
# FID / PSNR / IDS). Source and caveats: tables/published.py.
from .published import TABLE1 as PAPER_ROWS  # noqa: E402


def centred_replicates(entry: dict) -> dict:
    """{metric: replicates centred on the metric's value} of one result line ({} without a bootstrap)."""
    values = (entry.get("bootstrap") or {}).get("values", {})
    return {m: centred(r, entry["metrics"][m]) for m, r in values.items() if r is not None}


def read_results(paths: list[Path]) -> pd.DataFrame:
    """Per-prompt results (JSON lines written by the evaluate stage) as one frame: a row per line, its
    `metrics` ({name: value}) and `replicates` ({name: centred bootstrap replicates}) as dicts."""
    rows = []
    for path in paths:
        for n, line in enumerate(Path(path).read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not a JSON line ({exc})") from exc
            missing = [k for k in REQUIRED_KEYS if k not in entry]
            if missing:
                raise DataError(f"{path}:{n}: result lacks {missing}")
            bootstrap = entry.get("bootstrap") or {}
            rows.append({**{k: v for k, v in entry.items() if k not in ("backbones", "bootstrap")},
                         "replicates": centred_replicates(entry),
                         "bootstrap": bootstrap.get("replicates", 0), "bootstrap_seed": bootstrap.get("seed"),
                         **{f"{m}_backbone": b for m, b in entry.get("backbones", {}).items()}})
    if not rows:
        raise DataError("no evaluation results to tabulate")
    return pd.DataFrame(rows)


def metric_names(results: pd.DataFrame) -> list[str]:
    """The metrics of the results, in the order they were written."""
    return list(dict.fromkeys(name for metrics in results["metrics"] for name in metrics))


def metric_cells(rows: pd.DataFrame, metrics: list[str], published: dict | None = None) -> dict:
    """Each metric averaged over the rows' prompts, with its interval (and published value, if given)."""
    cells = {}
    for m in metrics:
        point, replicates = prompt_average(rows, m)
        low, high = interval(replicates) if replicates is not None else (None, None)
        cells.update({m: point, f"{m}_ci_low": low, f"{m}_ci_high": high})
        if published is not None and m in PUBLISHED_METRICS:
            cells[f"{m}_published"] = published.get(m)
    return cells


def mapper_training(settings) -> dict:
    """How a Delta Mapper method's mapper was trained (steps, held-out cosine), so that rows trained
    for different lengths are visible as such; empty for methods without a trained mapper."""
    training = settings.get("mapper_training") if isinstance(settings, dict) else None
    if not training:
        return {}
    return {"mapper_steps": training.get("steps"), "mapper_heldout_cos": training.get("heldout_cos")}


def _ordered_methods(methods: list[str]) -> list[str]:
    return list(PAPER_ROWS) + [m for m in methods if m not in PAPER_ROWS]


def _measured(results: pd.DataFrame, dataset: str, name: str) -> pd.DataFrame:
    measured = results[(results["dataset"] == dataset) & (results["method"] == name)]
    if measured.empty:
        raise DataError(f"method {name!r} is configured but has no results for dataset {dataset!r}")
    return measured


def _description(measured: pd.DataFrame, metrics: list[str]) -> dict:
    """World, images, resamples and backbones of a method's results."""
    first = measured.iloc[0]
    return {"world": first["world"], "dataset": first["dataset"], "images": int(first["images"]),
            "bootstrap": int(first["bootstrap"]), **{f"{m}_backbone": first.get(f"{m}_backbone") for m in metrics}}


def _integer_counts(table: pd.DataFrame) -> pd.DataFrame:
    for col in ("images", "prompts", "bootstrap", "mapper_steps"):  # counts stay integers beside empty rows
        if col in table:
            table[col] = table[col].astype("Int64")
    return table


def build_table1(results: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """Rows: the paper's methods (measured where configured, else marked) then any extra configured method."""
    metrics = metric_names(results)
    rows = []
    for name in _ordered_methods(methods):
        label, published = PAPER_ROWS.get(name, (name, {}))
        measured = _measured(results, dataset, name) if name in methods else results.iloc[:0]
        row = {"method": name, "paper_label": label, "status": "measured" if name in methods else "not implemented",
               **metric_cells(measured, metrics, published)}
        if not measured.empty:
            row.update({"prompts": int(measured["prompt"].nunique()), **_description(measured, metrics),
                        **mapper_training(measured.iloc[0].get("method_settings"))})
        rows.append(row)
    return _integer_counts(pd.DataFrame(rows))


def build_table1_per_prompt(results: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """One row per measured method (in Table 1's order) and prompt, each metric with its interval."""
    metrics = metric_names(results)
    rows = []
    for name in _ordered_methods(methods):
        if name not in methods:
            continue
        measured = _measured(results, dataset, name)
        for prompt in measured["prompt"].unique():
            line = measured[measured["prompt"] == prompt]
            first = line.iloc[0]
            rows.append({"method": name, "prompt": prompt, "attribute": first.get("attribute"),
                         "value": first.get("value"), **metric_cells(line, metrics), **_description(line, metrics)})
    return _integer_counts(pd.DataFrame(rows))
