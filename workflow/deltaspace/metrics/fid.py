"""FID between edited images and their originals, computed by clean-fid on a world's feature space.

clean-fid's ``fid_from_feats`` (mean and covariance of each feature set, then the Frechet distance)
does the arithmetic in both worlds; only the feature extractor changes:

* mini world: the trunk features (128-d) of the workflow's attribute net (models/attribute_net.py),
  a network that knows the cartoon faces; Inception would see 32 px cartoons upsampled to 299 px.
* real world: clean-fid's Inception-v3 TorchScript file (``inception-2015-12-05.pt``), from the
  local path in the config key ``metrics.inception`` (never downloaded), with clean-fid's "clean"
  pre-processing: PIL bicubic resize to 299 x 299 on float pixels, then (x - 128) / 128 into the
  network's ``layers`` (as clean-fid's ``InceptionV3W`` does), 2048-d pool features.

FID from N images is biased upwards for small N (and for N below the feature dimension the
covariances are singular): compare values measured with the same N only; the evaluation records N.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import LinAlgWarning

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


def fid_from_features(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """clean-fid's Frechet distance between two feature sets (rows are images)."""
    from cleanfid.fid import fid_from_feats

    if len(features_a) < 2 or len(features_b) < 2:
        raise ValueError("FID needs at least two images per set")
    with warnings.catch_warnings():
        # scipy's sqrtm warns of singular covariances (expected when N < feature dim, see above)
        # and of clean-fid's use of a deprecated argument; neither changes the value
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(fid_from_feats(np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)))
