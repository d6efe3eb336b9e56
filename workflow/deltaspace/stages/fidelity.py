"""The fidelity report: how faithful the world's models are, measured on held-out data.

- generator PSNR against the renderer (mini world: the renderer is the ground truth of G(z));
- inversion PSNR G(E(x)) vs x on each dataset's held-out images (both worlds);
- CLIP zero-shot accuracy per attribute on held-out images (mini world: attributes are known);
- the DeltaSpace check: cos(Δi, Δt) for pairs differing in one attribute, matching vs mismatched
  prompts, beside the raw-space image-text cosines (mini world).
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..metrics.psnr import psnr_db
from .. import rng
from ..cli import stage
from ..io.images import image_grid, list_images, load_batch, tensor_to_uint8, write_png
from ..io.shards import iter_table
from ..models.loading import load_clip_spec, load_generator_spec

log = logging.getLogger(__name__)

GRID_COLUMNS = 8



def _summary(psnr: torch.Tensor) -> dict:
    return {"psnr_db_mean": round(float(psnr.mean()), 3), "psnr_db_median": round(float(psnr.median()), 3),
            "psnr_db_min": round(float(psnr.min()), 3), "images": int(psnr.numel())}


def heldout_codes(codes_dir: Path, train_count: int, n: int) -> dict[str, np.ndarray]:
    """The first n held-out rows (split == eval; all rows of an evaluation-only dataset)."""
    parts, have = [], 0
    for part in iter_table(codes_dir, ["index", "file", "split", "s", "s_rgb"]):
        keep = part["split"] == "eval" if train_count else np.ones(len(part["index"]), bool)
        part = {k: v[keep] for k, v in part.items()}
        parts.append(part)
        have += len(part["index"])
        if have >= n:
            break
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


@torch.no_grad()
def _synth(G, s: np.ndarray, s_rgb: np.ndarray, batch: int = 256) -> torch.Tensor:
    out = [G.synthesis(torch.from_numpy(s[i : i + batch]), torch.from_numpy(s_rgb[i : i + batch]), noise_mode="const")
           for i in range(0, len(s), batch)]
    return torch.cat(out)


@stage("fidelity-report")
@torch.no_grad()
def fidelity_report(*, world: str, generator: dict, clip: dict, datasets: dict, codes_root: Path,
                    images: int, pairs: int, seed: int, out: Path, grid: Path, threads: int = 1) -> dict:
    """Measure generator, inversion and CLIP fidelity on held-out data; write JSON and a PNG grid."""
    torch.set_num_threads(threads)
    start = time.time()
    G, _ = load_generator_spec(generator)
    clip_model = load_clip_spec(clip)
    report: dict = {"world": world, "clip_backbone": clip.get("arch") if clip["format"] == "open_clip"
                    else "deltaspace-mini", "generator_size": G.size, "datasets": {}}
    grid_rows = []

    if world == "mini":
        from ..world.attributes import params_from_latent
        from ..world.renderer import render

        first = next(iter(datasets.values()))
        z = torch.from_numpy(rng.normal(seed, "report-generator", np.arange(images), G.style_dim))
        target = render(params_from_latent(z.numpy(), first["prior"]), G.size, first["style"])
        fake = G(z, noise_mode="const")
        report["generator"] = {"against": f"renderer (prior {first['prior']}, style {first['style']})",
                               **_summary(psnr_db(fake, target))}
        grid_rows += [tensor_to_uint8(target[:GRID_COLUMNS]), tensor_to_uint8(fake[:GRID_COLUMNS])]

    for name, ds in datasets.items():
        entry: dict = {}
        codes = heldout_codes(Path(codes_root) / name, ds["train_count"], images)
        originals = load_batch(ds["images"], list(codes["file"]), G.size)
        recon = _synth(G, codes["s"], codes["s_rgb"])
        entry["inversion"] = _summary(psnr_db(recon, originals))
        grid_rows += [tensor_to_uint8(originals[:GRID_COLUMNS]), tensor_to_uint8(recon[:GRID_COLUMNS])]
        if world == "mini" and ds.get("attributes"):
            entry.update(_clip_probes(clip_model, ds, codes, originals, pairs, seed))
        report["datasets"][name] = entry

    report["seconds"] = round(time.time() - start, 1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, out)
    write_png(grid, image_grid(grid_rows))
    log.info("fidelity report written to %s (%.1f s)", out, report["seconds"])
    return _headline(report)


def _clip_probes(clip_model, ds: dict, codes: dict, originals: torch.Tensor, pairs: int, seed: int) -> dict:
    from ..world.attributes import params_from_frame
    from ..world.probes import delta_alignment, zero_shot_accuracy

    attrs = pd.read_parquet(ds["attributes"]).set_index("file").loc[list(codes["file"])].reset_index()
    params = params_from_frame(attrs)
    kwargs = dict(normalize=clip_model.normalize)
    return {
        "clip_zero_shot_accuracy": zero_shot_accuracy(clip_model.model, clip_model.tokenizer, originals, params, **kwargs),
        "clip_zero_shot_balanced_accuracy": zero_shot_accuracy(
            clip_model.model, clip_model.tokenizer, originals, params, balanced=True, **kwargs),
        "delta_alignment": delta_alignment(clip_model.model, clip_model.tokenizer, seed, pairs,
                                           originals.shape[-1], ds["style"], **kwargs),
    }


def _headline(report: dict) -> dict:
    """The few numbers worth a log line."""
    head = {"generator_psnr_db": report.get("generator", {}).get("psnr_db_mean")}
    for name, entry in report["datasets"].items():
        head[f"{name}_inversion_psnr_db"] = entry["inversion"]["psnr_db_mean"]
        if "clip_zero_shot_accuracy" in entry:
            head[f"{name}_clip_min_accuracy"] = round(min(entry["clip_zero_shot_accuracy"].values()), 3)
            head[f"{name}_delta_alignment"] = entry["delta_alignment"].get("mean")
    return head
