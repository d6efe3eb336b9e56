"""Bootstrap resamples of the evaluation images, as weights, and metrics as statistics of weighted images.

A resample of N images (drawn with replacement) is a row of counts w (N,), summing to N: image k
is in it w_k times. Every metric is a *statistic*, a function of such rows: ``statistic(W)`` takes
W (B, N) and gives the metric on each of the B resamples; the point value is the statistic of one
row of ones (every image once). Per-image metrics (PSNR, IDS, ...) are the weighted mean of their
per-image values (``per_image_mean``); set metrics (FID, KID) recompute their statistic from the
weighted feature sets (metrics/fid.py, metrics/kid.py).

Resample b of N images is a pure function of (seed, "bootstrap", b) and N (deltaspace.rng): every
method and every prompt evaluated on the same N images gets the same resamples, so comparisons
between rows of a table are paired, resample by resample.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import rng

#: weights (B, N) -> the metric on each row (B,)
Statistic = Callable[[np.ndarray], np.ndarray]


def resample_weights(seed: int, replicates: int, n: int) -> np.ndarray:
    """Counts (replicates, n) float64: row b is bootstrap resample b of n images."""
    if n < 1:
        raise ValueError("a bootstrap needs at least one image")
    picks = np.floor(rng.uniform(seed, "bootstrap", np.arange(replicates), n) * n).astype(np.int64)
    rows = picks + n * np.arange(replicates)[:, None]
    return np.bincount(rows.ravel(), minlength=replicates * n).reshape(replicates, n).astype(np.float64)


def per_image_mean(values) -> Statistic:
    """The statistic of a metric that is the mean of per-image values (N,)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"per-image values must be one-dimensional, got shape {values.shape}")
    return lambda weights: weights @ values / weights.sum(axis=1)


def point_value(statistic: Statistic | None, n: int) -> float | None:
    """The statistic on the full set of n images (None stays None: a metric that does not apply)."""
    return None if statistic is None else float(statistic(np.ones((1, n)))[0])
