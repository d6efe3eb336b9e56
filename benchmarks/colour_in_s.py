"""Does the mini generator carry colour in S (conv styles) or in its toRGB styles?

    python benchmarks/colour_in_s.py --generator results/mini/models/generator.pt [--images 256]
        [--attribute-net results/mini/models/attribute_net.pt] [--oracle-images 64] [--steps 100]
        [--threads 1] [--json out.json]

Ground truth in z space: for z and z' = z with one colour factor moved into the asked class (the
first NUM_FACTORS components of z drive the renderer), the target is render(z'). With s, s_rgb the
styles of z and s', s_rgb' those of z', it synthesises
  * W+ edit:   G(s', s_rgb')  (the whole edit; bounded by the generator's own fidelity),
  * S only:    G(s', s_rgb)   (what any S-space method can reach with G's own directions),
  * toRGB only: G(s, s_rgb'),  and no edit: G(s, s_rgb),
and prints per colour value the PSNR (dB) to render(z') and the share of the edit captured,
1 - MSE(out, render(z')) / MSE(G(s, s_rgb), render(z')) (1: all of it, 0: none). Only z whose
colour actually changes are used.

With --attribute-net it also runs the fidelity report's S-expressiveness check
(world/expressiveness.py: best S code per image, and best single S direction per prompt) for every
evaluation prompt of config/config.yaml on G's own codes of `--oracle-images` z, and prints its
oracle accuracies and time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "workflow"))

from deltaspace import rng  # noqa: E402
from deltaspace.metrics.psnr import psnr_db  # noqa: E402
from deltaspace.models.stylegan2 import load_generator  # noqa: E402
from deltaspace.world import attributes, renderer  # noqa: E402

COLOURS = {"hair_color": ("black", "blond", "red", "gray"), "skin_tone": ("pale", "tanned")}
CONFIG = Path(__file__).resolve().parent.parent / "config" / "config.yaml"


def move_factor(z: np.ndarray, attribute: str, value: str, prior: str) -> np.ndarray:
    """z with the attribute's latent component set to the centre of the value's class (in PixelNorm units)."""
    k = attributes.FACTORS.index(attribute)
    index = attributes.value_index(attribute, value)
    probs = np.asarray(attributes.PRIORS[prior][attribute], dtype=np.float64)
    centre = probs[:index].sum() + probs[index] / 2
    out = z.copy()
    others = np.delete(out, k, axis=1)
    # params_from_latent reads z / rms(z); solve for the component so that it reads ndtri(centre)
    q = float(torch.special.ndtri(torch.tensor(centre, dtype=torch.float64)))
    out[:, k] = q * np.sqrt(np.mean(others ** 2, axis=1) * (z.shape[1] - 1) / (z.shape[1] - q ** 2))
    return out


@torch.no_grad()
def swap_figures(G, n: int, seed: int, prior: str, style: str) -> dict:
    z = rng.normal(seed, "colour-in-s", range(n), G.style_dim)
    params = attributes.params_from_latent(z, prior)
    s, rgb = G.styles_from_z(torch.from_numpy(z))
    figures = {}
    for attribute, values in COLOURS.items():
        for value in values:
            z2 = move_factor(z, attribute, value, prior)
            p2 = attributes.params_from_latent(z2, prior)
            keep = (p2[attribute] == attributes.value_index(attribute, value)) & (params[attribute] != p2[attribute])
            target = renderer.render(attributes.select(p2, keep), G.size, style)
            s2, rgb2 = G.styles_from_z(torch.from_numpy(z2[keep]))
            s1, rgb1 = s[keep], rgb[keep]
            outs = {"wplus_edit": G.synthesis(s2, rgb2), "s_only": G.synthesis(s2, rgb1),
                    "torgb_only": G.synthesis(s1, rgb2), "no_edit": G.synthesis(s1, rgb1)}
            base = (outs["no_edit"] - target).square().mean()
            figures[f"{attribute}={value}"] = {"images": int(keep.sum()), **{
                name: {"psnr_db": round(float(psnr_db(out, target).mean()), 2),
                       "captured": round(float(1 - (out - target).square().mean() / base), 3)}
                for name, out in outs.items()}}
    return figures


def oracle_figures(G, net_path: Path, n: int, steps: int, seed: int, prior: str, style: str) -> dict:
    from deltaspace.models.attribute_net import load_attribute_net
    from deltaspace.metrics.expressiveness import s_expressiveness

    prompts = yaml.safe_load(CONFIG.read_text())["evaluation"]["prompts"]
    z = rng.normal(seed, "colour-in-s-oracle", range(n), G.style_dim)
    with torch.no_grad():
        s, rgb = G.styles_from_z(torch.from_numpy(z))
    t0 = time.perf_counter()
    result = s_expressiveness(G, load_attribute_net(net_path, "attribute_net"), attributes.params_from_latent(z, prior),
                              s, rgb, prompts, style=style, steps=steps)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    return result


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator", type=Path, default=Path("results/mini/models/generator.pt"))
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--attribute-net", type=Path)
    ap.add_argument("--oracle-images", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prior", default="ffhq")
    ap.add_argument("--style", default="ffhq")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    G, _ = load_generator(args.generator, "generator")
    extra = torch.load(args.generator, weights_only=True)["extra"]
    out = {"generator": str(args.generator), "torgb_styles": extra.get("torgb_styles", "free (not recorded)"),
           "generator_psnr_db": extra.get("psnr_db"),
           "swap": swap_figures(G, args.images, args.seed, args.prior, args.style)}
    print(f"{args.generator}: toRGB styles {out['torgb_styles']}, held-out PSNR {out['generator_psnr_db']:.2f} dB")
    print(f"{'edit':<18} {'n':>4}  " + "  ".join(f"{k:>18}" for k in ("wplus_edit", "s_only", "torgb_only", "no_edit"))
          + "   (PSNR dB to render(z') / share of the edit captured)")
    for key, row in out["swap"].items():
        print(f"{key:<18} {row['images']:>4}  " + "  ".join(
            f"{row[k]['psnr_db']:>10.2f} / {row[k]['captured']:>5.2f}" for k in ("wplus_edit", "s_only", "torgb_only", "no_edit")))
    if args.attribute_net:
        res = out["oracle"] = oracle_figures(G, args.attribute_net, args.oracle_images, args.steps, args.seed,
                                             args.prior, args.style)
        print(f"S-expressiveness oracle ({res['images']} z, {res['steps']} steps, {res['seconds']} s): min accuracy "
              f"{res['min_accuracy']:.3f} per image, {res['min_shared_accuracy']:.3f} shared; passes {res['passes']}")
        print(f"  {'prompt':<18} {'per image':>9} {'shared':>7} {'no-edit':>7} {'ideal':>6}   PSNR dB per image / shared")
        for key, row in res["prompts"].items():
            print(f"  {key:<18} {row['accuracy']:9.3f} {row['shared_accuracy']:7.3f} {row['no_edit_rate']:7.3f} "
                  f"{row['ideal_accuracy']:6.3f}   {row['psnr_db']:.2f} / {row['shared_psnr_db']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
