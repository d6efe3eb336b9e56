"""Edit strength, matched: edit accuracy at equal preservation (and at equal IDS), from strength sweeps.

A method pushes as far as its strength setting says, so comparing methods at one arbitrary strength
compares their settings as much as the methods. The strength sweep (stages/sweep.py) measures each
method at several multiples of its strength; along the scales, a method traces a curve of edit
accuracy against preservation (how much of the rest of the face it kept: disentanglement) and
against IDS. Reading every curve at the same preservation compares the methods at matched edit
strength.

* The curve's value at a level: the accuracy where the curve, followed in scale order, first
  reaches that preservation (linear between the two measured scales around it; `value_at`).
  "First" matters only for a curve that turns back (preservation rising again with strength):
  the weakest edit reaching the level counts.
* Levels: the range every compared curve spans, from the highest of the curves' lowest values to
  the lowest of their highest values, cut into LEVELS + 1 equal steps; the LEVELS points between
  them are the levels (`common_levels`). The range's own ends are left out: there a curve sits on
  its last measured point, and a bootstrap resample of it often falls short of the level.
  No overlap, no level: the methods are not comparable at equal preservation.
* Spread: the sweep measures every scale on the same bootstrap resamples of the images for every
  method (metrics/bootstrap.py), prompt-averaged per resample. Each resample gives its own curve and
  its own value at the level, so a difference of two methods at a level has a paired interval, and
  the claim hook judges it as tables/spread.py judges the Table 1 claims.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .published import TABLE1 as PAPER_ROWS
from .spread import _resamples, interval, verdict

ACCURACY = "edit_accuracy"
#: the axes accuracy is read at: metric -> its name in tables and figures
AXES = {"preservation": "preservation", "ids": "IDS"}
LEVELS = 3
#: the columns of the equal-level table (equal_level_table)
COLUMNS = ["world", "dataset", "axis", "level", "method", ACCURACY, f"{ACCURACY}_ci_low", f"{ACCURACY}_ci_high",
           "scale", "images", "prompts", "bootstrap", f"{ACCURACY}_backbone", "axis_backbone"]
#: the claim of section 5.2.3 judged on the curves: DeltaEdit-G against the straightforward solution
CLAIMANT, RIVAL = "deltaedit", "straightforward"


def read_curves(paths: list[Path], dataset: str) -> pd.DataFrame:
    """The prompt-averaged points of the strength sweeps of a dataset (their "average" lines), a row per
    (method, scale), each method's rows in scale order, the methods in the order of `paths`."""
    from .table1 import read_results

    results = read_results([Path(p) for p in paths])
    points = results[(results["row"] == "average") & (results["dataset"] == dataset)]
    if points.empty:
        raise DataError(f"{', '.join(map(str, paths))}: no strength sweep points for dataset {dataset!r}")
    if all(m.get(ACCURACY) is None for m in points["metrics"]):
        raise DataError(f"the strength sweeps have no {ACCURACY} (it needs the mini world's ground truth)")
    return pd.concat([rows.sort_values("scale") for _, rows in points.groupby("method", sort=False)],
                     ignore_index=True)


def value_at(xs, ys, level: float) -> float:
    """y where the polyline through the points (xs, ys), in their order, first reaches x = level (linear
    between two points); NaN if it never does (a point without a value breaks the line there)."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if len(xs) == 1 and xs[0] == level:
        return float(ys[0])
    for k in range(len(xs) - 1):
        (x0, x1), (y0, y1) = xs[k:k + 2], ys[k:k + 2]
        if min(x0, x1) <= level <= max(x0, x1):
            return float(y0 if x0 == x1 else y0 + (level - x0) / (x1 - x0) * (y1 - y0))
    return float("nan")


def common_levels(spans: list[tuple[float, float]], count: int = LEVELS) -> np.ndarray:
    """`count` levels inside the range every span (low, high) covers (see the module docstring)."""
    low, high = max(s[0] for s in spans), min(s[1] for s in spans)
    if not low < high:
        return np.array([])
    return np.linspace(low, high, count + 2)[1:-1]


def _column(curve: pd.DataFrame, metric: str) -> np.ndarray:
    return np.array([m.get(metric) for m in curve["metrics"]], dtype=np.float64)


def axis_levels(curves: list[pd.DataFrame], axis: str) -> np.ndarray:
    """The common levels of some methods' curves on an axis (none where a curve has no value on it)."""
    values = [_column(c, axis) for c in curves]
    if any(np.isnan(v).all() for v in values):
        return np.array([])
    return common_levels([(np.nanmin(v), np.nanmax(v)) for v in values])


def accuracy_at(curve: pd.DataFrame, axis: str, level: float) -> tuple[float, float, np.ndarray | None]:
    """(accuracy, interpolated scale, accuracy per bootstrap resample or None) of one method's curve where
    it first reaches `level` on `axis`."""
    xs, ys = _column(curve, axis), _column(curve, ACCURACY)
    point, scale = value_at(xs, ys, level), value_at(xs, curve["scale"], level)
    reps = [[r.get(metric) for r in curve["replicates"]] for metric in (axis, ACCURACY)]
    if any(r is None for r in reps[0] + reps[1]):
        return point, scale, None
    rx, ry = (np.stack(r) for r in reps)  # (scales, resamples)
    return point, scale, np.array([value_at(rx[:, b], ry[:, b], level) for b in range(rx.shape[1])])


def _curves(curves: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {method: rows for method, rows in curves.groupby("method", sort=False)}


def equal_level_table(curves: pd.DataFrame, world: str, dataset: str) -> pd.DataFrame:
    """Each method's edit accuracy (with its 95% interval, and the scale it takes) at the common levels of
    preservation and of IDS of all the swept methods: a row per (axis, level, method)."""
    by_method, rows = _curves(curves), []
    for axis, name in AXES.items():
        for level in axis_levels(list(by_method.values()), axis):
            for method, curve in by_method.items():
                point, scale, reps = accuracy_at(curve, axis, level)
                low, high = interval(reps) if reps is not None and np.isfinite(reps).any() else (None, None)
                first = curve.iloc[0]
                rows.append([world, dataset, name, level, method, point, low, high, scale, int(first["images"]),
                             len(first["prompts"]), int(first["bootstrap"]), first[f"{ACCURACY}_backbone"],
                             first[f"{axis}_backbone"]])
    return pd.DataFrame(rows, columns=COLUMNS)


def tradeoff_claims(curves: pd.DataFrame, claimant: str = CLAIMANT, rival: str = RIVAL) -> pd.DataFrame:
    """The claim "DeltaEdit-G is more accurate and more disentangled than the straightforward solution" on
    the curves: a row per axis and level both curves span, with DeltaEdit-G's accuracy minus the rival's at
    that level, its paired 95% interval and the verdict (tables/spread.verdict; "not judged" without a
    bootstrap). Rows in the form of tables/claims.table1_claims, for tables/claims.claims_markdown.
    No rows when either method was not swept."""
    by_method = _curves(curves)
    if claimant not in by_method or rival not in by_method:
        return pd.DataFrame()
    pair = [by_method[claimant], by_method[rival]]
    if _resamples(pair[0], claimant) != _resamples(pair[1], rival):
        raise DataError(f"{claimant!r} and {rival!r} were not swept on the same images and resamples: not paired")
    labels = [PAPER_ROWS[m][0] if m in PAPER_ROWS else m for m in (claimant, rival)]
    rows = []
    for axis, name in AXES.items():
        for level in axis_levels(pair, axis):
            (a, _, reps_a), (b, _, reps_b) = (accuracy_at(c, axis, level) for c in pair)
            row = {"claim": f"{labels[0]} more accurate than {labels[1]} at {name} {level:.3f}", "metric": ACCURACY,
                   "axis": name, "level": level, "a": claimant, "b": rival, "difference": a - b,
                   "ci_low": np.nan, "ci_high": np.nan, "resamples": 0, "verdict": "not judged (no bootstrap)"}
            differences = None if reps_a is None or reps_b is None else reps_a - reps_b
            if differences is not None and np.isfinite(differences).any():
                low, high = interval(differences)
                # resamples whose curves both reach the level (a resample's curve can fall short of it)
                row.update(ci_low=low, ci_high=high, resamples=int(np.isfinite(differences).sum()),
                           verdict=verdict(low, high, True))
            rows.append(row)
    return pd.DataFrame(rows)
