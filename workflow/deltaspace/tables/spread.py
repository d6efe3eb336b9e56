"""The spread of the tables' numbers: bootstrap intervals, paired differences between rows, verdicts.

The evaluate stage writes, per (method, prompt), each metric's value on the N evaluation images
and on B bootstrap resamples of them; resample b is the same for every method and prompt of a
dataset (metrics/bootstrap.py). A cell of a table averages a metric over the prompts; averaging
the replicates prompt by prompt, replicate by replicate, gives B values of that average, and
their 2.5th and 97.5th percentiles are its 95% interval. Two rows measured on the same resamples
compare replicate by replicate: the interval of the difference of their averages is paired, so
what the two rows share (which images happened to be drawn) cancels.

Replicates are centred on the measured value before anything is averaged (``centred``). FID is
biased upwards at small N, and a resample holds only about 63% distinct images, so FID's raw
replicates sit above the value measured on all N images (by 6-9% in checks with 1,000
images of 128-d features): the raw percentiles would bracket a value nobody measured. The centred
replicates keep the bootstrap's spread and shape and place it around the measured value: the
interval says how far the value measured on N images would move on another N images. For the
per-image means (PSNR, IDS, ...) the shift is negligible (the resamples' mean is unbiased).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError

LEVEL = 0.95
NOT_COMPARABLE = "not comparable"
VERDICTS = ("held", "not held", "within noise", NOT_COMPARABLE)
#: metrics whose value depends on the number of images (FID is biased upwards at small N): rows measured on
#: different numbers of images are not compared on them
SIZE_BIASED = ("fid",)


def centred(replicates, point: float) -> np.ndarray:
    """Replicates shifted so that their mean is the measured value (None, a replicate where the metric
    is undefined, becomes NaN and stays out of means and intervals)."""
    replicates = np.asarray(replicates, dtype=np.float64)
    return replicates - np.nanmean(replicates) + point


def interval(replicates: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (95%: their 2.5th and 97.5th percentiles)."""
    low, high = np.nanpercentile(replicates, [50 * (1 - level), 50 * (1 + level)])
    return float(low), float(high)


def prompt_average(rows: pd.DataFrame, metric: str) -> tuple[float | None, np.ndarray | None]:
    """A metric averaged over the prompts (rows of read_results) where it applies, and the same average
    per bootstrap replicate (None without a bootstrap)."""
    applies = [row for row in rows.itertuples() if row.metrics.get(metric) is not None]
    if not applies:
        return None, None
    point = float(np.mean([row.metrics[metric] for row in applies]))
    replicates = [row.replicates.get(metric) for row in applies]
    if any(r is None for r in replicates):
        return point, None
    return point, np.mean(np.stack(replicates), axis=0)


def _resamples(rows: pd.DataFrame, method: str) -> tuple:
    """The one (images, replicates, seed) a method's rows were resampled with."""
    keys = set(zip(rows["images"], rows["bootstrap"], rows["bootstrap_seed"]))
    if len(keys) != 1:
        raise DataError(f"method {method!r}: results with different images or bootstrap resamples: {sorted(keys)}")
    return keys.pop()


def same_resamples(results: pd.DataFrame, dataset: str, a: str, b: str) -> bool:
    """Whether two methods were measured on the same images and bootstrap resamples of a dataset."""
    results = results[results["dataset"] == dataset]
    rows = {m: results[results["method"] == m] for m in (a, b)}
    for method, frame in rows.items():
        if frame.empty:
            raise DataError(f"method {method!r} has no results for dataset {dataset!r}")
    return _resamples(rows[a], a) == _resamples(rows[b], b)


def paired_difference(results: pd.DataFrame, dataset: str, metric: str, a: str, b: str,
                      level: float = LEVEL, paired: bool = True) -> dict:
    """Method a's prompt-averaged metric minus method b's, with the interval of the difference from the
    shared resamples; averaged over the prompts where both have the metric. paired=False compares rows
    measured on different images (a method evaluated on the first N only): b's replicates are shuffled
    against a's, an unpaired bootstrap of the difference, valid for per-image means (not for SIZE_BIASED)."""
    same = same_resamples(results, dataset, a, b)
    if paired and not same:
        raise DataError(f"{a!r} and {b!r} were not measured on the same images and resamples: not paired")
    results = results[results["dataset"] == dataset]
    rows = {m: results[results["method"] == m] for m in (a, b)}
    prompts = set.intersection(*({p for p, v in zip(f["prompt"], f["metrics"]) if v.get(metric) is not None}
                                 for f in rows.values()))
    if not prompts:
        raise DataError(f"{metric}: no prompt where both {a!r} and {b!r} have a value")
    (point_a, reps_a), (point_b, reps_b) = (prompt_average(f[f["prompt"].isin(prompts)], metric) for f in rows.values())
    if reps_a is None or reps_b is None:
        raise DataError(f"{metric}: no bootstrap replicates (evaluation.bootstrap is 0)")
    if not same:  # independent resamples: decouple replicate b of one row from replicate b of the other
        reps_b = reps_b[np.random.default_rng(0).permutation(len(reps_b))]
    low, high = interval(reps_a - reps_b, level)
    return {"metric": metric, "a": a, "b": b, "difference": point_a - point_b, "ci_low": low, "ci_high": high,
            "prompts": len(prompts), "bootstrap": len(reps_a), "paired": same}


def verdict(ci_low: float, ci_high: float, higher_is_better: bool) -> str:
    """The claim "a is better than b", judged on the interval of a - b: "held" when the whole interval
    is on a's better side, "not held" when it is on the worse side, else "within noise"."""
    if ci_low <= 0 <= ci_high:
        return "within noise"
    return "held" if (ci_low > 0) == higher_is_better else "not held"
