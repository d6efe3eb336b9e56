"""IDS: identity similarity of each image before and after the edit (mean cosine of ArcFace embeddings).

The embeddings come from an ArcFace-style ONNX model loaded through insightface
(models/identity_net.py): the mini world's own identity net, or the user's ArcFace file in the
real world; ``ArcFaceEmbedder.embed`` returns unit rows.
"""

from __future__ import annotations

import numpy as np


def mean_cosine(originals: np.ndarray, edited: np.ndarray) -> float:
    """Mean over images k of cos(original_k, edited_k) for unit embeddings (N, D); 1 for unchanged faces."""
    return float(np.mean(np.sum(originals * edited, axis=1)))
