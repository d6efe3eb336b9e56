"""IDS: identity similarity of each image before and after the edit (cosine of ArcFace embeddings, mean over images).

The embeddings come from an ArcFace-style ONNX model loaded through insightface
(models/identity_net.py): the mini world's own identity net, or the user's ArcFace file in the
real world; ``ArcFaceEmbedder.embed`` returns unit rows.
"""

from __future__ import annotations

import numpy as np


def cosines(originals: np.ndarray, edited: np.ndarray) -> np.ndarray:
    """Per-image cos(original_k, edited_k) (N,) of unit embeddings (N, D); 1 for an unchanged face."""
    return np.sum(np.asarray(originals, np.float64) * np.asarray(edited, np.float64), axis=1)
