"""Data stages that produce latent codes: encoder inversion of image folders and generator samples."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import rng
from ..cli import stage
from ..io.images import list_images, load_batch
from ..io.shards import shard_range, write_shard
from ..models.loading import load_encoder_spec, load_generator_spec

log = logging.getLogger(__name__)

FAKES_STREAM = "fakes"


def _batches(indices: range, batch_size: int):
    for lo in range(0, len(indices), batch_size):
        yield indices[lo : lo + batch_size]


@stage("invert-shard")
@torch.no_grad()
def invert_shard(*, images: Path, images_key: str, part: int, rows_per_shard: int, train_count: int,
                 generator: dict, encoder: dict, out: Path, threads: int = 1) -> dict:
    """Invert one shard of an image folder with the encoder: W+ and S codes per image.

    Rows are the folder's images sorted by name; the first `train_count` are marked split=train.
    """
    from ..models.e4e import encode

    start = time.time()
    names = list_images(images, images_key)
    rows = shard_range(part, len(names), rows_per_shard)
    G, _ = load_generator_spec(generator)
    E = load_encoder_spec(encoder, generator)
    wplus, s, s_rgb = [], [], []
    for idx in tqdm(list(_batches(rows, encoder["batch_size"])), desc=f"invert part {part}"):
        x = load_batch(images, [names[i] for i in idx], E.input_size)
        wp = encode(E, x)
        s_b, rgb_b = G.styles_from_wplus(wp)
        wplus.append(wp.flatten(1).numpy())
        s.append(s_b.numpy())
        s_rgb.append(rgb_b.numpy())
    index = np.asarray(rows, dtype=np.int64)
    write_shard(out, {
        "index": index,
        "file": np.asarray([names[i] for i in rows]),
        "split": np.where(index < train_count, "train", "eval"),
        "wplus": np.concatenate(wplus),
        "s": np.concatenate(s),
        "s_rgb": np.concatenate(s_rgb),
    }, metadata={"stage": "invert", "n_latent": str(G.n_latent), "style_dim": str(G.style_dim)})
    summary = {"part": part, "rows": len(rows), "seconds": round(time.time() - start, 1)}
    log.info("inverted %s", summary)
    return summary


def fake_latents(seed: int, indices, style_dim: int) -> np.ndarray:
    """z of fake number i: a pure function of (seed, i), independent of sharding."""
    return rng.normal(seed, FAKES_STREAM, indices, style_dim)


@stage("sample-shard")
@torch.no_grad()
def sample_shard(*, generator: dict, part: int, rows_per_shard: int, count: int, seed: int,
                 truncation: float = 1.0, out: Path, batch_size: int = 4096, threads: int = 1) -> dict:
    """Draw one shard of generator fakes: z, w and S codes (the images are G(s, s_rgb))."""
    start = time.time()
    G, latent_avg = load_generator_spec(generator)
    rows = shard_range(part, count, rows_per_shard)
    cols = {"z": [], "w": [], "s": [], "s_rgb": []}
    for idx in _batches(rows, batch_size):
        z = torch.from_numpy(fake_latents(seed, idx, G.style_dim))
        w = G.mapping(z)
        if truncation != 1.0:
            w = latent_avg.view(1, -1) + truncation * (w - latent_avg.view(1, -1))
        s_b, rgb_b = G.styles_from_wplus(w.unsqueeze(1).expand(-1, G.n_latent, -1))
        for k, v in zip(cols, (z, w, s_b, rgb_b)):
            cols[k].append(v.numpy())
    write_shard(out, {"index": np.asarray(rows, dtype=np.int64), **{k: np.concatenate(v) for k, v in cols.items()}},
                metadata={"stage": "sample", "seed": str(seed), "truncation": str(truncation)})
    summary = {"part": part, "rows": len(rows), "seconds": round(time.time() - start, 1)}
    log.info("sampled %s", summary)
    return summary
