"""The relevance matrix R_s (StyleCLIP global directions) and the S statistics it is built from."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..cli import stage
from ..directions.relevance import base_codes, relevance_fast, style_statistics
from ..io.atomic import atomic_path
from ..io.shards import read_manifest
from ..models.loading import load_clip_spec, load_generator_spec

log = logging.getLogger(__name__)


def _atomic_write(path: Path, write) -> None:
    """Call write(file object) on a temp file beside `path`, then rename it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


@stage("relevance")
@torch.no_grad()
def relevance(*, generator: dict, clip: dict, fakes_codes: Path, images: int = 100, sigma: float = 5.0,
              batch_size: int, out: Path, stats: Path, info: Path, threads: int = 1, device: str = "cpu") -> dict:
    """R_s (S_dim, clip_dim), unit rows: each S channel set to mean +- sigma std on the first `images` fakes.

    Writes the per-channel S mean/std of the whole fakes table to `stats` (s_stats.npz: mean, std,
    rows), R_s to `out` (float32 .npy) and what was done to `info` (JSON).
    """
    start = time.time()
    mean, std = style_statistics(fakes_codes)
    rows = int(read_manifest(fakes_codes)["rows"])
    _atomic_write(stats, lambda f: np.savez(f, mean=mean, std=std, rows=np.int64(rows)))
    G, _ = load_generator_spec(generator)
    model = load_clip_spec(clip)
    G.to(device)
    model.model.to(device)
    s, s_rgb = base_codes(fakes_codes, images)
    rs = relevance_fast(G, model, s, s_rgb, mean, std, sigma=sigma, batch_size=batch_size, progress=True)
    _atomic_write(out, lambda f: np.save(f, rs))
    seconds = round(time.time() - start, 1)
    summary = {
        "method": "fast", "images": images, "sigma": sigma, "s_dim": int(rs.shape[0]), "clip_dim": int(rs.shape[1]),
        "zero_rows": int((np.abs(rs).sum(1) == 0).sum()), "seconds": seconds, "source": str(fakes_codes),
        "stats_rows": rows, "base_rows": f"0..{images - 1}", "generator": str(generator.get("checkpoint")),
        "clip": str(clip.get("checkpoint")), "clip_normalize": bool(model.normalize), "batch_size": batch_size,
        "threads": threads, "device": device,
    }
    _atomic_write(info, lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
    log.info("R_s %s: %d channels x %d images, sigma %g, %.1f s (%.1f channels/s)", out, rs.shape[0], images,
             sigma, seconds, rs.shape[0] / max(seconds, 1e-9))
    return summary
