"""IDS: identity similarity of each image before and after the edit (mean cosine of ArcFace embeddings).

The embedder is an ArcFace-style ONNX model loaded through insightface (models/identity_net.py):
the mini world's own identity net, or the user's ArcFace file in the real world.
"""

from __future__ import annotations

import numpy as np

from ..models.identity_net import ArcFaceEmbedder


def identity_similarity(embedder: ArcFaceEmbedder, originals: np.ndarray, edited: np.ndarray) -> float:
    """Mean over images of cos(embedding(original_k), embedding(edited_k)); 1 for unchanged faces."""
    a, b = embedder.embed(originals), embedder.embed(edited)
    return float(np.mean(np.sum(a * b, axis=1)))
