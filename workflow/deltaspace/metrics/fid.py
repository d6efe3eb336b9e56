"""FID between edited images and their originals, on a world's feature space.

The Frechet distance of the Gaussians fitted to the two feature sets (rows are images),
|mu_a - mu_b|^2 + tr S_a + tr S_b - 2 tr sqrt(S_a S_b), is computed here for a whole bootstrap of
weighted resamples (metrics/bootstrap.py) at the cost of a few small factorisations each:
write each covariance as S = R^T R, with R from the QR factorisation of the weighted, centred
features; the eigenvalues of S_a S_b are the squared singular values of R_a R_b^T, so
tr sqrt(S_a S_b) is the sum of those singular values. No matrix square root (clean-fid's
``frechet_distance`` calls scipy's ``sqrtm`` on S_a S_b); the value equals clean-fid's
``fid_from_feats`` to rounding where its covariances are well conditioned (tests/test_bootstrap.py),
and stays exact for singular covariances (N below the feature dimension, dead ReLU units), where
``sqrtm`` loses digits. Cost per resample: two QR of (distinct images x d) and one SVD of
min(N, d) x min(N, d); for 1,000 images of 128-d features, 3.5 ms on one thread (weighted
covariances + ``sqrtm``: 5.5-6.3 ms).

Only the feature extractor changes between the worlds:

* mini world: the trunk features (128-d) of the workflow's attribute net (models/attribute_net.py),
  a network that knows the cartoon faces; Inception would see 32 px cartoons upsampled to 299 px.
* real world: clean-fid's Inception-v3 TorchScript file (``inception-2015-12-05.pt``), from the
  local path in the config key ``metrics.inception`` (never downloaded), with clean-fid's "clean"
  pre-processing: PIL bicubic resize to 299 x 299 on float pixels, then (x - 128) / 128 into the
  network's ``layers`` (as clean-fid's ``InceptionV3W`` does), 2048-d pool features.

FID from N images is biased upwards for small N: compare values measured with the same N only;
the evaluation records N.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError
from ..models.attribute_net import AttributeNet

INCEPTION_KEY = "metrics.inception"


@dataclass
class AttributeNetFeatures:
    """Mini world: the attribute net's trunk features."""

    net: AttributeNet
    backbone: str = "mini-attribute-net trunk"

    def features(self, images: np.ndarray) -> np.ndarray:
        return self.net.features(images)


@dataclass
class CleanFidInception:
    """Real world: clean-fid's Inception-v3 TorchScript model and its "clean" resize."""

    model: torch.jit.ScriptModule
    backbone: str = "inception-v3 (clean-fid)"
    batch_size: int = 32

    def features(self, images: np.ndarray) -> np.ndarray:
        from cleanfid.resize import build_resizer

        resize = build_resizer("clean")  # uint8 HWC -> float32 (299, 299, 3) in [0, 255]
        parts = []
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = np.stack([resize(img) for img in images[start:start + self.batch_size]])
                x = torch.from_numpy(batch).permute(0, 3, 1, 2)
                parts.append(self.model.layers.forward((x - 128) / 128).reshape(len(batch), -1).double().numpy())
        return np.concatenate(parts)


def load_inception(path: str | os.PathLike | None, config_key: str = INCEPTION_KEY) -> CleanFidInception:
    """Load clean-fid's Inception TorchScript file from a local path (a missing one names the key)."""
    if path is None:
        raise CheckpointError(
            f"{config_key}: not set; FID in the real world needs clean-fid's Inception TorchScript file "
            "(inception-2015-12-05.pt), given by its local path"
        )
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{config_key}: no file at {path} (expected clean-fid's inception-2015-12-05.pt)")
    try:
        with warnings.catch_warnings():  # torch deprecates TorchScript, but it is the format clean-fid ships
            warnings.simplefilter("ignore", FutureWarning)
            model = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:
        raise CheckpointError(f"{config_key}: cannot read {path} as a TorchScript model: {exc}") from exc
    if not hasattr(model, "layers"):
        raise CheckpointError(f"{config_key}: {path} is a TorchScript model without clean-fid's `layers` submodule")
    return CleanFidInception(model)


def paired_features(features_a, features_b, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Two feature sets (N, d) as float64, checked to be row-aligned (image k of both) and >= 2 images."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"feature sets must be paired (N, d) arrays, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"{metric} needs at least two images per set")
    return a, b


def frechet_distances(features_a: np.ndarray, features_b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Frechet distance of two paired feature sets (N, d), one per row of image weights (B, N) (counts)."""
    a, b = paired_features(features_a, features_b, "FID")
    out = np.empty(len(weights))
    for row, w in enumerate(np.asarray(weights, np.float64)):
        mean_a, r_a = _moments(a, w)
        mean_b, r_b = _moments(b, w)
        trace_sqrt = np.linalg.svd(r_a @ r_b.T, compute_uv=False).sum()
        out[row] = np.sum((mean_a - mean_b) ** 2) + np.sum(r_a ** 2) + np.sum(r_b ** 2) - 2 * trace_sqrt
    return out


def _moments(features: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean and R with R^T R = the unbiased covariance (np.cov with fweights=weights)."""
    total, keep = weights.sum(), weights > 0
    mean = weights @ features / total
    centred = (features[keep] - mean) * np.sqrt(weights[keep] / (total - 1))[:, None]
    return mean, np.linalg.qr(centred, mode="r")


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID of two paired feature sets (rows are images), every image once."""
    return float(frechet_distances(features_a, features_b, np.ones((1, len(features_a))))[0])
