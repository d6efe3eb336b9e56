"""Table 1: GAN-based text-guided editing on (mini-)FFHQ: FID / PSNR / IDS averaged over the prompts.

One row per method of the paper's table. Measured rows average the evaluate stage's per-prompt
results; the published value sits beside each measured one; methods of the paper that the
workflow does not implement yet get a row that says so, with their published numbers only.
Edit accuracy and preservation (mini world only) are the ground truth the paper could not measure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..errors import DataError

METRICS = ("fid", "psnr", "ids", "edit_accuracy", "preservation")
PUBLISHED_METRICS = ("fid", "psnr", "ids")
REQUIRED_KEYS = ("world", "dataset", "method", "prompt", "images", "metrics")

# Rows of the paper's Table 1 in its order: workflow method name -> (label in the paper, published
# FID / PSNR / IDS). Source and caveats: tables/published.py.
from .published import TABLE1 as PAPER_ROWS  # noqa: E402


def read_results(paths: list[Path]) -> pd.DataFrame:
    """Per-prompt results (JSON lines written by the evaluate stage) as one frame."""
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
            rows.append({**{k: v for k, v in entry.items() if k not in ("metrics", "backbones")},
                         **{m: entry["metrics"].get(m) for m in METRICS},
                         **{f"{m}_backbone": b for m, b in entry.get("backbones", {}).items()}})
    if not rows:
        raise DataError("no evaluation results to tabulate")
    return pd.DataFrame(rows)


def _mean(values: pd.Series) -> float | None:
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(vals) / len(vals) if vals else None


def mapper_training(settings) -> dict:
    """How a Delta Mapper method's mapper was trained (steps, held-out cosine), so that rows trained
    for different lengths are visible as such; empty for methods without a trained mapper."""
    training = settings.get("mapper_training") if isinstance(settings, dict) else None
    if not training:
        return {}
    return {"mapper_steps": training.get("steps"), "mapper_heldout_cos": training.get("heldout_cos")}


def build_table1(results: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """Rows: the paper's methods (measured where configured, else marked) then any extra configured method."""
    results = results[results["dataset"] == dataset]
    order = list(PAPER_ROWS) + [m for m in methods if m not in PAPER_ROWS]
    rows = []
    for name in order:
        label, published = PAPER_ROWS.get(name, (name, {}))
        row = {"method": name, "paper_label": label}
        measured = results[results["method"] == name]
        if name in methods and measured.empty:
            raise DataError(f"method {name!r} is configured but has no results for dataset {dataset!r}")
        row["status"] = "measured" if name in methods else "not implemented"
        for m in METRICS:
            row[m] = _mean(measured[m]) if not measured.empty else None
            if m in PUBLISHED_METRICS:
                row[f"{m}_published"] = published.get(m)
        if not measured.empty:
            first = measured.iloc[0]
            row.update({
                "world": first["world"], "dataset": dataset, "images": int(first["images"]),
                "prompts": int(measured["prompt"].nunique()),
                **{f"{m}_backbone": first.get(f"{m}_backbone") for m in METRICS},
                **mapper_training(first.get("method_settings")),
            })
        rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("images", "prompts", "mapper_steps"):  # counts stay integers beside the empty rows
        if col in table:
            table[col] = table[col].astype("Int64")
    return table
