"""How well can the generator express each dataset at all? Encoder inversion against per-image optimization.

    python benchmarks/inversion_ceiling.py [--results results/mini] [--images 64] [--steps 300]
                                           [--threads 2] [--json out.json]

For the first `--images` held-out images of each dataset (the rows the fidelity report measures) it
reports PSNR (dB, mean over images) of
  * encoder:   G(E(x)), the inversion the workflow uses (codes/<dataset>, as in the fidelity report);
  * W+ optim:  W+ optimised per image from E(x) to minimise the pixel MSE (Adam, `--steps` steps);
  * S optim:   the S code (and toRGB styles) optimised per image from E(x) the same way: every
               channel's style free, a superset of what any W+ encoder can reach.
The S optimum bounds what a better encoder could give: if it stays below a target, no encoder of
this generator reaches the target on that dataset; the gap between the encoder and the W+ optimum
is what encoder training could still win. Mini world only (it reads the mini config's folders).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from deltaspace.io.images import load_batch  # noqa: E402
from deltaspace.metrics.psnr import psnr_db  # noqa: E402
from deltaspace.models.loading import load_encoder_spec, load_generator_spec  # noqa: E402
from deltaspace.models.e4e import encode  # noqa: E402
from deltaspace.stages.fidelity import heldout_codes  # noqa: E402
from deltaspace.metrics.expressiveness import fit_codes  # noqa: E402

DATASETS = {"mini-ffhq": 58000, "mini-celeba": 0}  # name -> train_count (config/config.yaml)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results/mini"))
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = args.results / "models"
    gen_spec = {"format": "deltaspace", "checkpoint": str(models / "generator.pt")}
    G, _ = load_generator_spec(gen_spec)
    E = load_encoder_spec({"format": "deltaspace", "checkpoint": str(models / "encoder.pt")}, gen_spec)
    for p in G.parameters():
        p.requires_grad_(False)

    out = {"machine": platform.processor() or platform.machine(), "threads": args.threads, "images": args.images,
           "steps": args.steps, "lr": args.lr, "datasets": {}}
    print(f"{'dataset':<13} {'encoder':>8} {'W+ optim':>9} {'S optim':>8}   (PSNR dB, mean of {args.images} images)")
    for name, train_count in DATASETS.items():
        rows = heldout_codes(args.results / "codes" / name, train_count, args.images)
        x = load_batch(args.results / "world" / name / "images", list(rows["file"]), G.size)
        t0 = time.perf_counter()
        with torch.no_grad():
            w0 = encode(E, x)
            s0, rgb0 = G.styles_from_wplus(w0)
            enc = psnr_db(G.synthesis(s0, rgb0, noise_mode="const"), x)
        w = w0.clone().requires_grad_(True)
        w_opt = fit_codes(lambda: G.synthesis_wplus(w, noise_mode="const"), [w], x, args.steps, args.lr)
        s, rgb = s0.clone().requires_grad_(True), rgb0.clone().requires_grad_(True)
        s_opt = fit_codes(lambda: G.synthesis(s, rgb, noise_mode="const"), [s, rgb], x, args.steps, args.lr)
        entry = {"encoder_psnr_db": float(enc.mean()), "wplus_optimised_psnr_db": float(w_opt.mean()),
                 "s_optimised_psnr_db": float(s_opt.mean()), "seconds": round(time.perf_counter() - t0, 1)}
        out["datasets"][name] = entry
        print(f"{name:<13} {entry['encoder_psnr_db']:8.2f} {entry['wplus_optimised_psnr_db']:9.2f} "
              f"{entry['s_optimised_psnr_db']:8.2f}   ({entry['seconds']} s)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
