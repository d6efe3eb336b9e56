"""The DeltaSpace claim (paper section 3.1, Figure 1), measured on held-out mini-world images.

Raw space: N held-out images i_k and a caption of each made from its true attributes (t_k):
retrieval top-1 image -> text and text -> image among the N, mean cosine of matching and of
mismatched pairs. Delta space: M random pairs (a, b) of those images, Δi = normalize(i_b) -
normalize(i_a) against Δt = t_b - t_a, the same scores. The claim holds on a dataset when delta
space beats raw space on both retrieval directions and on the matched-minus-mismatched cosine gap,
each difference judged on its bootstrap interval over the queries (held / not held / within noise).
Beside the JSON, Figure 1's picture: t-SNE of image and text points in each space.

Mini world only: the captions need every image's true attributes (world/captions.py).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..cli import stage
from ..errors import DataError
from ..io.atomic import write_text_atomic
from ..io.drawing import bitmap_font, marker
from ..io.images import write_png
from ..io.shards import read_collection
from ..models.loading import load_clip_spec

log = logging.getLogger(__name__)

SPACES = ("raw", "delta")
#: Figure 1's colours: image and text points of the raw space (red, green) and of DeltaSpace (orange, brown).
COLOURS = {"raw": ((214, 39, 40), (44, 160, 44)), "delta": ((255, 127, 14), (140, 86, 75))}
PANEL = 320  # side of a scatter panel, pixels
MARGIN = 8
LINE = 12  # height of a text line in Pillow's default bitmap font, with spacing
DOT = 3  # marker radius
MARKERS = {"image": "disc", "text": "cross"}


CLAIM_SCORES = ("image_to_text_top1", "text_to_image_top1", "gap")
BOOTSTRAP = 1000  # resamples of the queries behind each difference's interval (a second at N = M = 256)


def judged_differences(raw_items: dict, delta_items: dict, seed: int, replicates: int = BOOTSTRAP) -> dict:
    """Each claim score's difference delta - raw with its 95% bootstrap interval, and the verdict.

    The scores are means over queries (images in raw space, pairs in delta space): each space's
    queries are resampled on their own (the two samples are independent), the difference of the
    resampled means gives the interval. The claim holds when every difference's interval lies above 0,
    fails when one lies below, and is within noise otherwise.
    """
    from ..metrics.bootstrap import resample_weights
    from ..tables.spread import interval
    from ..tables.spread import verdict as judged

    weights = {"raw": resample_weights(seed, replicates, len(raw_items["gap"])),
               "delta": resample_weights(seed + 1, replicates, len(delta_items["gap"]))}
    out = {}
    for score in CLAIM_SCORES:
        means = {space: w @ items[score] / w.sum(1)
                 for space, w, items in (("raw", weights["raw"], raw_items), ("delta", weights["delta"], delta_items))}
        low, high = interval(means["delta"] - means["raw"])
        out[score] = {"difference": round(float(delta_items[score].mean() - raw_items[score].mean()), 4),
                      "ci_low": round(low, 4), "ci_high": round(high, 4), "verdict": judged(low, high, True)}
    verdicts = {v["verdict"] for v in out.values()}
    overall = "not held" if "not held" in verdicts else "within noise" if "within noise" in verdicts else "held"
    return {"differences": out, "verdict": overall, "bootstrap": replicates}


def heldout_embeddings(codes_dir: Path, clip_dir: Path, train_count: int,
                       n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(index, file, CLIP image embedding) of the first n held-out images of a dataset."""
    from .fidelity import heldout_codes

    codes = heldout_codes(codes_dir, train_count, n, codes=())
    table = read_collection(clip_dir, ["index", "clip"])
    index = codes["index"]
    if index.size and (index.max() >= len(table["index"]) or not np.array_equal(table["index"][index], index)):
        raise DataError(f"{codes_dir} and {clip_dir} are not row-aligned (rerun their shards)")
    return index, codes["file"], table["clip"][index]


def tsne_2d(points: torch.Tensor, seed: int, threads: int = 1) -> np.ndarray:
    """2-D t-SNE of unit-normalised `points` (scikit-learn, PCA initialisation, seeded)."""
    from sklearn.manifold import TSNE

    x = torch.nn.functional.normalize(points, dim=-1).numpy().astype(np.float64)
    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=threads).fit_transform(x)


def figure_size(rows: int) -> tuple[int, int]:
    """(width, height) of the figure: a header line, then per row two titled panels and a legend line."""
    return 2 * PANEL + 3 * MARGIN, MARGIN + LINE + rows * (2 * LINE + PANEL + LINE + 2 * MARGIN)


def tsne_figure(header: str, rows: list[dict]) -> np.ndarray:
    """The picture, uint8 (H, W, 3): per row, panels {space: (title, image xy (K, 2), text xy (L, 2))}
    for "raw" (left) and "delta" (right); image points as discs, text points as crosses."""
    from PIL import Image, ImageDraw

    font = bitmap_font()
    canvas = Image.new("RGB", figure_size(len(rows)), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((MARGIN, MARGIN), header, fill=(0, 0, 0), font=font)
    top = MARGIN + LINE
    for row in rows:
        for col, space in enumerate(SPACES):
            title, image_xy, text_xy = row[space]
            x0, y0 = MARGIN + col * (PANEL + MARGIN), top + MARGIN
            for k, line in enumerate(title.split("\n")[:2]):
                draw.text((x0, y0 + k * LINE), line, fill=(0, 0, 0), font=font)
            box = (x0, y0 + 2 * LINE, x0 + PANEL - 1, y0 + 2 * LINE + PANEL - 1)
            draw.rectangle(box, outline=(160, 160, 160))
            px = _to_pixels(np.concatenate([image_xy, text_xy]), box)
            image_px, text_px = px[: len(image_xy)], px[len(image_xy):]
            for kind, points, colour, legend_x in zip(("image", "text"), (image_px, text_px), COLOURS[space], (0, 60)):
                for x, y in points:
                    marker(draw, MARKERS[kind], x, y, colour, DOT)
                # legend below the panel
                marker(draw, MARKERS[kind], x0 + legend_x + DOT, box[3] + LINE // 2 + 1, colour, DOT)
                draw.text((x0 + legend_x + 3 * DOT, box[3] + 2), kind, fill=(0, 0, 0), font=font)
        top += 2 * LINE + PANEL + LINE + 2 * MARGIN
    return np.asarray(canvas)


def _to_pixels(xy: np.ndarray, box: tuple[int, int, int, int]) -> list[list[int]]:
    """Points scaled into `box` (x0, y0, x1, y1) with one scale for both axes, DOT + 2 px inside its edges."""
    inner = min(box[2] - box[0], box[3] - box[1]) - 2 * (DOT + 2)
    lo, span = xy.min(axis=0), np.ptp(xy, axis=0).max()
    scaled = (xy - lo) / (span if span > 0 else 1.0) * inner
    return np.rint(scaled + np.array([box[0], box[1]]) + DOT + 2).astype(np.int64).tolist()


def _title(space: str, name: str, count: int, scores: dict) -> str:
    what = f"raw CLIP space, {count} images" if space == "raw" else f"DeltaSpace, {count} pairs"
    return (f"{name}: {what}\ntop-1 i>t {scores['image_to_text_top1']:.2f} t>i {scores['text_to_image_top1']:.2f}"
            f"  gap {scores['gap']:.3f}")


@stage("deltaspace-alignment")
@torch.no_grad()
def deltaspace_alignment(*, clip: dict, datasets: dict, images: int, pairs: int,
                         seed: int, out: Path, figure: Path, world: str = "mini", threads: int = 1) -> dict:
    """Test the DeltaSpace claim on held-out images of each dataset; write the JSON report and the t-SNE PNG.

    datasets: {name: {"attributes": its attributes.parquet, "train_count", "codes" and "clip": its codes and
    CLIP image-embedding collections (row-aligned)}}. `images`
    held-out images per dataset (N, fewer if the dataset has fewer), `pairs` random pairs of them (M;
    M = N gives both spaces the same chance top-1).
    """
    from ..models.clip import encode_text
    from ..world.captions import caption
    from ..metrics.clip_probes import alignment_per_item, pair_deltas, paired_alignment, random_pairs
    from .fidelity import clip_backbone, true_params

    start = time.time()
    model = load_clip_spec(clip)
    report: dict = {"world": world, "clip_backbone": clip_backbone(clip), "seed": int(seed),
                    "claim": "delta space beats raw space on image->text and text->image top-1 and on the "
                             "matched-minus-mismatched cosine gap", "datasets": {}}
    rows = []
    for name, ds in datasets.items():
        index, files, emb = heldout_embeddings(ds["codes"], ds["clip"], ds["train_count"], images)
        if len(index) < 2:
            raise DataError(f"{ds['codes']}: {len(index)} held-out image(s), the DeltaSpace check needs two")
        texts = encode_text(model.model, model.tokenizer, caption(true_params(ds["attributes"], files), seed, index))
        emb = torch.from_numpy(np.ascontiguousarray(emb))
        vectors = {"raw": (emb, texts), "delta": pair_deltas(emb, texts, random_pairs(seed, len(index), pairs))}
        scores = {space: paired_alignment(*vectors[space]) for space in SPACES}
        judged = judged_differences(*(alignment_per_item(*vectors[space]) for space in SPACES), seed)
        entry = {"images": len(index), "pairs": int(pairs),
                 **{space: {k: round(v, 4) for k, v in scores[space].items()} for space in SPACES}, **judged}
        report["datasets"][name] = entry
        log.info("%s: %s", name, json.dumps(entry))
        panel = {}
        for space, (vi, vt) in vectors.items():
            xy = tsne_2d(torch.cat([vi, vt]), seed, threads)
            panel[space] = (_title(space, name, len(vi), scores[space]), xy[: len(vi)], xy[len(vi):])
        rows.append(panel)
    verdicts = {e["verdict"] for e in report["datasets"].values()}
    report["verdict"] = "not held" if "not held" in verdicts else "within noise" if "within noise" in verdicts else "held"
    report["seconds"] = round(time.time() - start, 1)
    write_text_atomic(out, json.dumps(report, indent=2))
    header = f"t-SNE of CLIP features (world {world}, CLIP {report['clip_backbone']}, seed {seed})"
    write_png(figure, tsne_figure(header, rows))
    log.info("DeltaSpace report written to %s (%.1f s): %s", out, report["seconds"], report["verdict"])
    return {"verdict": report["verdict"], **{f"{n}_{s}_gap": e[s]["gap"] for n, e in report["datasets"].items()
                                             for s in SPACES}}
