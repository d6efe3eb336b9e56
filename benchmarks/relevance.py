"""R_s: the fast batched implementation against the per-channel reference loop, in the same run.

    python benchmarks/relevance.py [--generator G.pt --clip C.pt --fakes FOLDER]
                                   [--images 100] [--reference-channels 64] [--threads 1] [--json out.json]

Defaults: the mini world's trained models (results/mini/models/generator.pt, clip.pt) and the
first `--images` rows of its fakes table (results/mini/codes/fakes; S mean/std over the whole
table). Without a fakes table, codes and statistics come from 10,000 z drawn with deltaspace.rng.

The reference loop renders the full generator for every channel, so its time per channel hardly
depends on the channel; it runs on `--reference-channels` channels spread evenly over S (every
layer in proportion to its size) and its time for all channels is extrapolated from them (marked
"extrapolated" in the table). The fast implementation runs on the same subset, alternating with
the reference layer by layer (so a change of machine load hits both alike), and then on all
channels. A per-layer table shows where the time goes: the fast path saves the layers before the
perturbed one, so late (high-resolution, narrow) layers gain most. Both use the same CLIP, codes,
statistics and thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from deltaspace import rng
from deltaspace.directions.relevance import base_codes, relevance_fast, relevance_reference, style_statistics
from deltaspace.models.loading import load_clip_spec, load_generator_spec

MINI = Path("results/mini")


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def _inputs(G, fakes: Path, images: int):
    """(base s, base s_rgb, mean, std, description of the source)."""
    if (fakes / "manifest.json").is_file():
        mean, std = style_statistics(fakes)
        s, s_rgb = base_codes(fakes, images)
        return s, s_rgb, mean, std, f"{fakes} (first {images} rows; mean/std over the table)"
    z = torch.from_numpy(rng.normal(0, "benchmark-relevance", range(10_000), G.style_dim))
    with torch.no_grad():
        s, s_rgb = G.styles_from_z(z)
    s64 = s.double()
    return (s[:images].numpy(), s_rgb[:images].numpy(), s64.mean(0).numpy(), s64.std(0, unbiased=False).numpy(),
            "10,000 z from deltaspace.rng (no fakes table)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", type=Path, default=MINI / "models/generator.pt")
    parser.add_argument("--clip", type=Path, default=MINI / "models/clip.pt")
    parser.add_argument("--fakes", type=Path, default=MINI / "codes/fakes")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--sigma", type=float, default=5.0)
    parser.add_argument("--reference-channels", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=256, help="fast: images per forward (default 256)")
    parser.add_argument("--reference-batch-size", type=int, default=100, help="reference: images per forward")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    for path in (args.generator, args.clip):
        if not path.is_file():
            sys.exit(f"no model at {path}: run the workflow's mini models first or pass --generator/--clip")
    G, _ = load_generator_spec({"format": "deltaspace", "checkpoint": str(args.generator)})
    clip = load_clip_spec({"format": "deltaspace", "checkpoint": str(args.clip), "normalize": True})
    s, s_rgb, mean, std, source = _inputs(G, args.fakes, args.images)
    n_ref = min(args.reference_channels, G.s_dim)
    subset = np.unique(np.linspace(0, G.s_dim - 1, n_ref).round().astype(int))
    common = dict(sigma=args.sigma)
    load_before = os.getloadavg()

    # Reference and fast alternate layer by layer on the same channels, so a change of machine
    # load during the run hits both alike.
    ref, fast_sub, per_layer = [], [], []
    for layer in G.conv_layers():
        chans = [int(c) for c in subset if layer.start <= c < layer.stop]
        if not chans:
            continue
        r, t_r = _timed(relevance_reference, G, clip, s, s_rgb, mean, std, channels=chans,
                        batch_size=args.reference_batch_size, **common)
        f, t_f = _timed(relevance_fast, G, clip, s, s_rgb, mean, std, channels=chans,
                        batch_size=args.batch_size, **common)
        ref.append(r)
        fast_sub.append(f)
        per_layer.append((layer.name, layer.resolution, layer.channels, len(chans), t_r, t_f))
    ref, fast_sub = np.concatenate(ref), np.concatenate(fast_sub)
    t_ref, t_fast_sub = sum(x[4] for x in per_layer), sum(x[5] for x in per_layer)
    fast_all, t_fast_all = _timed(relevance_fast, G, clip, s, s_rgb, mean, std, batch_size=args.batch_size,
                                  progress=True, **common)
    load_after = os.getloadavg()

    print(f"\n{'layer':<9} {'px':>4} {'channels':>8} {'timed':>6} {'ref s/ch':>9} {'fast s/ch':>10} {'speedup':>8}")
    for name, res, width, k, t_r, t_f in per_layer:
        print(f"{name:<9} {res:>4} {width:>8} {k:>6} {t_r / k:>9.3f} {t_f / k:>10.3f} {t_r / t_f:>7.2f}x")
    t_ref_all = t_ref / len(subset) * G.s_dim
    # float32 rounding can put a cosine a hair above 1
    cos_sub = min(1.0, float((ref * fast_sub).sum(1).min()))
    cos_all = min(1.0, float((ref * fast_all[subset]).sum(1).min()))
    # the fast time of all channels, weighting each layer's per-channel time by its channel count
    t_fast_est = sum(width * t_f / k for _, _, width, k, _, t_f in per_layer)
    rows = [
        ("reference", f"{len(subset)} (measured)", t_ref, len(subset) / t_ref, 1.0, None),
        ("fast", f"{len(subset)} (measured)", t_fast_sub, len(subset) / t_fast_sub, t_ref / t_fast_sub, 1 - cos_sub),
        ("reference", f"{G.s_dim} (extrapolated)", t_ref_all, G.s_dim / t_ref_all, 1.0, None),
        ("fast", f"{G.s_dim} (extrapolated)", t_fast_est, G.s_dim / t_fast_est, t_ref_all / t_fast_est, None),
        ("fast", f"{G.s_dim} (measured)", t_fast_all, G.s_dim / t_fast_all, t_ref_all / t_fast_all, 1 - cos_all),
    ]
    print(f"\nR_s, {args.images} images x 2 signs per channel, sigma {args.sigma}; S_dim {G.s_dim}, "
          f"CLIP dim {fast_all.shape[1]}; torch {torch.__version__}, {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}, load average {load_before[0]:.1f} -> {load_after[0]:.1f}")
    print(f"codes: {source}")
    print(f"{'method':<10} {'channels':<20} {'seconds':>9} {'channels/s':>11} {'speedup':>8} {'1 - min row cos':>16}")
    for name, chans, sec, rate, speedup, dcos in rows:
        dtxt = "-" if dcos is None else f"{dcos:.2e}"
        print(f"{name:<10} {chans:<20} {sec:>9.1f} {rate:>11.2f} {speedup:>7.2f}x {dtxt:>16}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "images": args.images, "sigma": args.sigma, "s_dim": G.s_dim, "threads": args.threads,
            "reference_channels": len(subset), "reference_seconds": t_ref,
            "reference_seconds_all_extrapolated": t_ref_all,
            "fast_seconds_subset": t_fast_sub, "fast_seconds_all": t_fast_all,
            "fast_seconds_all_extrapolated": t_fast_est,
            "per_layer": [dict(zip(("layer", "resolution", "channels", "timed", "reference_s", "fast_s"), row))
                          for row in per_layer],
            "speedup_all": t_ref_all / t_fast_all, "speedup_subset": t_ref / t_fast_sub,
            "min_row_cosine_subset": cos_sub, "min_row_cosine_all": cos_all, "load_average": [load_before, load_after],
            "source": source, "generator": str(args.generator), "clip": str(args.clip),
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
