"""Edit figures: per method, a labelled grid of its edits of the first evaluation images."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from ..cli import stage
from ..io.drawing import bitmap_font
from ..io.images import decode_pngs, tensor_to_uint8, write_png
from ..io.shards import read_shard

log = logging.getLogger(__name__)

SCALE = 3  # cells are upscaled (nearest neighbour): a 32 px image is drawn 96 px wide
GAP = 4  # white pixels between cells, and around labels
INK = (0, 0, 0)
CORNER = "image"  # heads the column of row labels (the evaluation set's image index)


def _wrap(draw, text: str, width: int, font) -> list[str]:
    """Greedy word wrap into lines at most `width` pixels wide (a longer word gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}", font=font) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def labelled_grid(cells: np.ndarray, column_labels: list[str], row_labels: list[str], title: str = "",
                  scale: int = SCALE, gap: int = GAP) -> np.ndarray:
    """Cells uint8 (R, C, H, W, 3) as one labelled uint8 image.

    Each cell is upscaled `scale` times (nearest). Above the cells: an optional title line, then
    each column's label word-wrapped to the cell width; left of them, each row's label. Cell
    (i, j) sits at x = left + j (W*scale + gap), y = top + i (H*scale + gap), with a gap after the
    last row and column, so the image is (top + R (H*scale + gap), left + C (W*scale + gap)).
    Text uses Pillow's default bitmap font (no font file to find).
    """
    from PIL import Image, ImageDraw

    rows, cols, h, w = cells.shape[:4]
    if len(column_labels) != cols or len(row_labels) != rows:
        raise ValueError(f"{rows} x {cols} cells need as many row and column labels, "
                         f"got {len(row_labels)} and {len(column_labels)}")
    h, w = h * scale, w * scale
    font = bitmap_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = font.getbbox("Ag")[3] + 2
    wrapped = [_wrap(measure, label, w, font) for label in column_labels]
    header = (line + gap if title else 0) + gap
    top = header + max(len(lines) for lines in wrapped) * line + gap
    left = 3 * gap + math.ceil(max(measure.textlength(label, font=font) for label in [CORNER, *row_labels]))
    canvas = Image.new("RGB", (left + cols * (w + gap), top + rows * (h + gap)), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((gap, gap), title, fill=INK, font=font)
    draw.text((gap, header), CORNER, fill=INK, font=font)
    for j, lines in enumerate(wrapped):
        for k, text in enumerate(lines):
            draw.text((left + j * (w + gap), header + k * line), text, fill=INK, font=font)
    for i, label in enumerate(row_labels):
        draw.text((gap, top + i * (h + gap) + (h - line) // 2), label, fill=INK, font=font)
    grid = np.array(canvas)
    for i in range(rows):
        for j in range(cols):
            y, x = top + i * (h + gap), left + j * (w + gap)
            grid[y:y + h, x:x + w] = cells[i, j].repeat(scale, 0).repeat(scale, 1)
    return grid


@stage("edit-figures")
@torch.no_grad()
def edit_figures(*, evaluation_set: Path, edits: dict, out: dict, prompts: list, source: str, generator: dict,
                 world: str, dataset: str, rows: int = 8) -> dict:
    """Per method, a labelled grid of its edits of the first `rows` evaluation images.

    A row per image, labelled with its index in the dataset (the evaluation set's `index`); the
    columns: the input, its reconstruction (the generator's render of the inverted S code with
    its toRGB styles: what every edit starts from), then one per prompt, labelled with its text.
    `edits` and `out` map method names to the method's edits folder and to its figure path.
    """
    from ..models.loading import load_generator_spec
    from .editing import prompts_from_config, read_edits

    table = read_shard(evaluation_set, ["index", "image", "s", "s_rgb"])
    index = table["index"][:rows]
    originals = decode_pngs(table["image"][:rows], f"{evaluation_set}:image")
    G, _ = load_generator_spec(generator)
    codes = [torch.tensor(table[k][:rows]) for k in ("s", "s_rgb")]
    reconstructions = tensor_to_uint8(G.synthesis(*codes, noise_mode="const"))
    prompt_list = prompts_from_config(prompts, source)
    labels = ["input", "reconstruction", *(p.target for p in prompt_list)]
    for method, folder in edits.items():
        edited = [read_edits(Path(folder), p.name, table["index"])[:rows] for p in prompt_list]
        cells = np.stack([originals, reconstructions, *edited], axis=1)
        title = f"{method} on {dataset} ({world} world)"
        Path(out[method]).parent.mkdir(parents=True, exist_ok=True)
        write_png(out[method], labelled_grid(cells, labels, [str(i) for i in index], title))
    summary = {"figures": len(edits), "images": len(originals), "prompts": len(prompt_list)}
    log.info("edit figures %s", summary)
    return summary
