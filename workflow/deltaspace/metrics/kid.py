"""KID between edited images and their originals: the squared MMD with KID's polynomial kernel.

KID (Binkowski et al., 2018; clean-fid's ``kernel_distance``) is an unbiased estimate of the squared
maximum mean discrepancy between the two feature distributions, with the kernel
k(x, y) = (x . y / d + 1)^3 on d-dimensional features (the same features as FID, metrics/fid.py).

The two sets here are paired (edited image k is made from original k), so the estimate is the
U-statistic over pairs of *different* images i != j (Gretton et al., 2012, MMD^2_u):

    h_ij = k(a_i, a_j) + k(b_i, b_j) - k(a_i, b_j) - k(a_j, b_i),   KID = mean over i != j of h_ij

which stays unbiased when a_k and b_k depend on each other, and is exactly 0 for an unchanged edit.
clean-fid's ``kernel_distance`` keeps the cross pairs of the same image (its sets are taken as
independent) and averages random subsets of 1,000 images from an unseeded generator; on independent
sets both estimate the same quantity. A bootstrap resample weights image k by its count w_k; pairs
of the same image stay out: KID_w = (w^T H w - sum_k w_k^2 h_kk) / ((sum_k w_k)^2 - sum_k w_k^2).

The kernel matrices are built in row blocks, so memory stays (block x N) for any N; cost per
evaluation O(N^2 d + B N^2) for B resamples (about 0.1 s for 1,000 images, 128-d, B = 200).
"""

from __future__ import annotations

import numpy as np

from .fid import paired_features

BLOCK = 1024


def _kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1) ** 3


def kernel_distances(features_a: np.ndarray, features_b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """KID of two paired feature sets (N, d), one per row of image weights (B, N) (counts)."""
    a, b = paired_features(features_a, features_b, "KID")
    weights = np.asarray(weights, np.float64)
    quadratic = np.zeros(len(weights))  # w^T H w per resample
    for lo in range(0, len(a), BLOCK):
        rows = slice(lo, lo + BLOCK)
        h = _kernel(a[rows], a) + _kernel(b[rows], b) - _kernel(a[rows], b) - _kernel(b[rows], a)
        quadratic += np.sum((weights[:, rows] @ h) * weights, axis=1)
    d = a.shape[1]
    same_image = ((a * a).sum(1) / d + 1) ** 3 + ((b * b).sum(1) / d + 1) ** 3 - 2 * ((a * b).sum(1) / d + 1) ** 3
    squared = weights ** 2
    pairs = weights.sum(1) ** 2 - squared.sum(1)  # 0 for a resample of one distinct image: KID undefined (NaN)
    return np.divide(quadratic - squared @ same_image, pairs, out=np.full(len(weights), np.nan), where=pairs > 0)

