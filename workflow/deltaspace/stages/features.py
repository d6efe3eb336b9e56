"""CLIP image embeddings of every real image and every fake, one shard per job."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..cli import stage
from ..io.images import list_images, load_batch
from ..io.shards import read_shard, shard_range, write_shard
from ..models.loading import load_clip_spec, load_generator_spec

log = logging.getLogger(__name__)


def _embed(clip, images: torch.Tensor) -> np.ndarray:
    from ..models.clip import encode_images

    return encode_images(clip.model, images, normalize=clip.normalize).numpy()


@stage("clip-images-shard")
@torch.no_grad()
def clip_images_shard(*, images: Path, images_key: str, part: int, rows_per_shard: int, clip: dict,
                      out: Path, threads: int = 1) -> dict:
    """CLIP embeddings of one shard of an image folder (the real images themselves)."""
    start = time.time()
    names = list_images(images, images_key)
    rows = shard_range(part, len(names), rows_per_shard)
    model = load_clip_spec(clip)
    size = model.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    feats = []
    for lo in tqdm(range(0, len(rows), clip["batch_size"]), desc=f"clip part {part}"):
        idx = rows[lo : lo + clip["batch_size"]]
        feats.append(_embed(model, load_batch(images, [names[i] for i in idx], size)))
    write_shard(out, {"index": np.asarray(rows, dtype=np.int64), "clip": np.concatenate(feats)},
                metadata={"stage": "clip", "source": "images"})
    summary = {"part": part, "rows": len(rows), "seconds": round(time.time() - start, 1)}
    log.info("embedded %s", summary)
    return summary


@stage("clip-codes-shard")
@torch.no_grad()
def clip_codes_shard(*, codes: Path, generator: dict, clip: dict, out: Path, batch_size: int = 64,
                     threads: int = 1) -> dict:
    """CLIP embeddings of the images a codes shard describes: G(s, s_rgb), rendered batch by batch.

    Batches of 64 synthesise faster on a CPU than larger ones (allocation of large activations).
    """
    start = time.time()
    table = read_shard(codes, ["index", "s", "s_rgb"])
    G, _ = load_generator_spec(generator)
    model = load_clip_spec(clip)
    feats = []
    n = len(table["index"])
    for lo in tqdm(range(0, n, batch_size), desc=f"clip {Path(codes).name}"):
        s = torch.from_numpy(table["s"][lo : lo + batch_size])
        s_rgb = torch.from_numpy(table["s_rgb"][lo : lo + batch_size])
        feats.append(_embed(model, G.synthesis(s, s_rgb, noise_mode="const")))
    write_shard(out, {"index": table["index"], "clip": np.concatenate(feats)},
                metadata={"stage": "clip", "source": "generator"})
    summary = {"shard": Path(codes).name, "rows": n, "seconds": round(time.time() - start, 1)}
    log.info("embedded %s", summary)
    return summary
