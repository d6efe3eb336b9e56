"""The fidelity report: how faithful the world's models are, measured on held-out data.

- generator PSNR against the renderer (mini world: the renderer is the ground truth of G(z));
- inversion PSNR G(E(x)) vs x on each dataset's held-out images (both worlds);
- CLIP zero-shot accuracy per attribute on held-out images (mini world: attributes are known);
- the DeltaSpace check: cos(Δi, Δt) for pairs differing in one attribute, matching vs mismatched
  prompts, beside the raw-space image-text cosines (mini world);
- S expressiveness: can S codes (toRGB styles held), per image and as one shared direction, reach
  the ideal edit of every evaluation prompt, as on the real FFHQ generator? (mini world:
  world/expressiveness.py; "not applicable" in the real world, which has no renderer to draw the
  ideal edit).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..metrics.psnr import psnr_db
from .. import rng
from ..cli import stage
from ..io.atomic import write_text_atomic
from ..io.drawing import labelled_grid
from ..io.images import load_batch, tensor_to_uint8, write_png
from ..io.shards import iter_collection
from ..models.loading import load_clip_spec, load_generator_spec

log = logging.getLogger(__name__)

GRID_COLUMNS = 8
EXPRESSIVENESS_THRESHOLD = 0.9  # oracle accuracy every prompt must reach on every dataset



def _summary(psnr: torch.Tensor) -> dict:
    return {"psnr_db_mean": round(float(psnr.mean()), 3), "psnr_db_median": round(float(psnr.median()), 3),
            "psnr_db_min": round(float(psnr.min()), 3), "images": int(psnr.numel())}


def heldout_codes(codes_dir: Path, train_count: int, n: int,
                  codes: tuple[str, ...] = ("s", "s_rgb")) -> dict[str, np.ndarray]:
    """index, file, split and `codes` columns of the first n held-out rows (split == eval; all rows of an
    evaluation-only dataset)."""
    parts, have = [], 0
    for part in iter_collection(codes_dir, ["index", "file", "split", *codes]):
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
def fidelity_report(*, world: str, generator: dict, clip: dict, datasets: dict, images: int, pairs: int, seed: int, out: Path, grid: Path, attribute_net: Path | None = None,
                    prompts: list | None = None, expressiveness_images: int = 64, expressiveness_steps: int = 100,
                    threads: int = 1) -> dict:
    """Measure generator, inversion and CLIP fidelity and S expressiveness on held-out data; write JSON and a PNG grid.

    datasets: {name: {"images", "codes" (its codes collection), "train_count", "style", "prior",
    "attributes" (mini world: its attributes.parquet)}}.

    prompts: [{"attribute", "value"}, ...] for the S-expressiveness check, run on the first
    expressiveness_images (at most `images`) held-out images of each dataset with `attribute_net`.
    """
    torch.set_num_threads(threads)
    start = time.time()
    G, _ = load_generator_spec(generator)
    clip_model = load_clip_spec(clip)
    report: dict = {"world": world, "clip_backbone": clip_backbone(clip), "generator_size": G.size, "datasets": {}}
    grid_rows: dict[str, np.ndarray] = {}  # the grid's rows, by label
    expressive, expressive_net = _expressiveness_setup(world, attribute_net, prompts)

    if world == "mini":
        from ..world.attributes import params_from_latent
        from ..world.renderer import render

        first = next(iter(datasets.values()))
        z = torch.from_numpy(rng.normal(seed, "report-generator", np.arange(images), G.style_dim))
        target = render(params_from_latent(z.numpy(), first["prior"]), G.size, first["style"])
        fake = G(z, noise_mode="const")
        report["generator"] = {"against": f"renderer (prior {first['prior']}, style {first['style']})",
                               **_summary(psnr_db(fake, target))}
        grid_rows["renderer (the ideal)"] = tensor_to_uint8(target[:GRID_COLUMNS])
        grid_rows["generator G(z)"] = tensor_to_uint8(fake[:GRID_COLUMNS])

    for name, ds in datasets.items():
        entry: dict = {}
        codes = heldout_codes(ds["codes"], ds["train_count"], images)
        originals = load_batch(ds["images"], list(codes["file"]), G.size)
        recon = _synth(G, codes["s"], codes["s_rgb"])
        entry["inversion"] = _summary(psnr_db(recon, originals))
        grid_rows[f"{name} held-out image"] = tensor_to_uint8(originals[:GRID_COLUMNS])
        grid_rows[f"{name} inversion"] = tensor_to_uint8(recon[:GRID_COLUMNS])
        if world == "mini" and ds.get("attributes"):
            params = true_params(ds["attributes"], codes["file"])
            entry.update(_clip_probes(clip_model, ds, params, originals, pairs, seed))
            if expressive_net is not None:
                expressive["datasets"][name] = _s_expressiveness(
                    G, expressive_net, name, ds, params, codes, prompts, expressiveness_images, expressiveness_steps)
        report["datasets"][name] = entry

    report["s_expressiveness"] = _expressiveness_verdict(expressive)
    report["seconds"] = round(time.time() - start, 1)
    write_text_atomic(out, json.dumps(report, indent=2))
    write_png(grid, fidelity_grid(grid_rows, f"Fidelity ({world} world, seed {seed}): generator against the renderer "
                                             "(same latents), inversions against held-out images"))
    log.info("fidelity report written to %s (%.1f s)", out, report["seconds"])
    return _headline(report)


def fidelity_grid(rows: dict[str, np.ndarray], title: str) -> np.ndarray:
    """The report's picture: a labelled row per entry of `rows` (uint8 (n, H, W, 3) each), as many columns as
    the shortest row has images, labelled with the sample's number in its row."""
    columns = min(len(images) for images in rows.values())
    cells = np.stack([images[:columns] for images in rows.values()])
    return labelled_grid(cells, [f"sample {k + 1}" for k in range(columns)], list(rows), title)


def clip_backbone(spec: dict) -> str:
    """The CLIP a report was measured with, as reports and figures record it."""
    return spec.get("arch") if spec["format"] == "open_clip" else "deltaspace-mini"


def true_params(attributes: Path, files) -> dict:
    """The render parameters of dataset images `files` (mini world: the dataset's attributes.parquet), in that order."""
    from ..world.attributes import params_from_frame

    return params_from_frame(pd.read_parquet(attributes).set_index("file").loc[list(files)].reset_index())


def _clip_probes(clip_model, ds: dict, params: dict, originals: torch.Tensor, pairs: int, seed: int) -> dict:
    from ..metrics.clip_probes import delta_alignment, zero_shot_accuracy

    kwargs = dict(normalize=clip_model.normalize)
    return {
        "clip_zero_shot_accuracy": zero_shot_accuracy(clip_model.model, clip_model.tokenizer, originals, params, **kwargs),
        "clip_zero_shot_balanced_accuracy": zero_shot_accuracy(
            clip_model.model, clip_model.tokenizer, originals, params, balanced=True, **kwargs),
        "delta_alignment": delta_alignment(clip_model.model, clip_model.tokenizer, seed, pairs,
                                           originals.shape[-1], ds["style"], **kwargs),
    }


def _expressiveness_setup(world: str, attribute_net, prompts) -> tuple[dict, object]:
    """(the report entry to fill, the attribute net to judge with, or None where the check does not apply)."""
    if world != "mini":
        return {"applicable": False, "reason": "real world: no renderer to draw the ideal edit"}, None
    if not attribute_net or not prompts:
        return {"applicable": False, "reason": "no attribute net or no prompts given"}, None
    from ..models.attribute_net import load_attribute_net

    return {"applicable": True, "datasets": {}}, load_attribute_net(attribute_net, "models.attribute_net")


def _s_expressiveness(G, net, name: str, ds: dict, params: dict, codes: dict, prompts: list, n: int,
                      steps: int) -> dict:
    from ..world.attributes import select
    from ..metrics.expressiveness import s_expressiveness

    n = min(n, len(codes["s"]))
    t0 = time.time()
    result = s_expressiveness(G, net, select(params, slice(0, n)), torch.from_numpy(codes["s"][:n]),
                              torch.from_numpy(codes["s_rgb"][:n]), prompts, style=ds["style"], steps=steps,
                              threshold=EXPRESSIVENESS_THRESHOLD)
    result["seconds"] = round(time.time() - t0, 1)
    log.info("S expressiveness on %s: min oracle accuracy %.3f per image, %.3f shared, over %d prompts, "
             "%d images (%.0f s)", name, result["min_accuracy"], result["min_shared_accuracy"],
             len(result["prompts"]), n, result["seconds"])
    return result


def _expressiveness_verdict(entry: dict) -> dict:
    """The check passes only if every prompt reaches the threshold on every dataset."""
    if not entry["applicable"]:
        return {**entry, "passes": None}
    per_dataset = entry["datasets"].values()
    worst: dict = {}  # prompt -> its lowest oracle accuracies (per image, shared) over the datasets
    for d in per_dataset:
        for key, r in d["prompts"].items():
            w = worst.setdefault(key, {"accuracy": 1.0, "shared_accuracy": 1.0})
            for k in w:
                w[k] = min(w[k], r[k])
    passes = bool(worst) and all(d["passes"] for d in per_dataset)
    return {**entry, "prompts": worst, "threshold": EXPRESSIVENESS_THRESHOLD,
            "min_accuracy": min((w["accuracy"] for w in worst.values()), default=None),
            "min_shared_accuracy": min((w["shared_accuracy"] for w in worst.values()), default=None),
            "passes": passes}


def _headline(report: dict) -> dict:
    """The few numbers worth a log line."""
    head = {"generator_psnr_db": report.get("generator", {}).get("psnr_db_mean"),
            "s_expressiveness_passes": report["s_expressiveness"]["passes"]}
    for name, entry in report["datasets"].items():
        head[f"{name}_inversion_psnr_db"] = entry["inversion"]["psnr_db_mean"]
        if "clip_zero_shot_accuracy" in entry:
            head[f"{name}_clip_min_accuracy"] = round(min(entry["clip_zero_shot_accuracy"].values()), 3)
            head[f"{name}_delta_alignment"] = entry["delta_alignment"].get("mean")
    return head
