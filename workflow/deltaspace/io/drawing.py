"""Drawing figures with Pillow (matplotlib is not a dependency): the font, labelled image grids, point
markers, plot axes.

Every figure of the workflow writes text with Pillow's default bitmap font (no font file to find,
the same pixels with any FreeType). Plots map data to pixels with `Axes`, drawn by `draw_axes`:
a frame, ticks at round numbers (`nice_ticks`) with their labels, and the axis names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INK = (0, 0, 0)
FRAME = (160, 160, 160)
LINE = 12  # height of a text line of the bitmap font, with spacing
TICK = 4  # length of a tick mark, pixels
#: colours of a figure's curves, in order (matplotlib's "tab10")
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def bitmap_font():
    """Pillow's default bitmap font: crisp at small sizes (Pillow < 10.1: load_default)."""
    from PIL import ImageFont

    return getattr(ImageFont, "load_default_imagefont", ImageFont.load_default)()


def marker(draw, shape: str, x: int, y: int, colour: tuple[int, int, int], radius: int = 3) -> None:
    """A point marker centred on (x, y): "disc" (filled), "ring" (outline) or "cross"."""
    box = (x - radius, y - radius, x + radius, y + radius)
    if shape == "disc":
        draw.ellipse(box, fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=2)
    elif shape == "cross":
        draw.line(box, fill=colour, width=2)
        draw.line((x - radius, y + radius, x + radius, y - radius), fill=colour, width=2)
    else:
        raise ValueError(f"unknown marker shape {shape!r} (disc, ring, cross)")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` ticks inside [low, high], at a step of 1, 2 or 5 times a power of ten."""
    if not high > low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    return [round(k * step, 12) for k in range(first, math.floor(high / step + 1e-9) + 1)]


def padded(values, fraction: float = 0.06) -> tuple[float, float]:
    """The range of finite `values`, widened by `fraction` of it on each side (by 0.5 if it is one point)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    margin = (high - low) * fraction if high > low else 0.5
    return low - margin, high + margin


@dataclass(frozen=True)
class Axes:
    """Data (x, y) within xlim, ylim drawn in the pixel box (x0, y0, x1, y1), y growing upwards."""

    box: tuple[int, int, int, int]
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def pixel(self, x: float, y: float) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        u = (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        v = (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return round(x0 + u * (x1 - x0)), round(y1 - v * (y1 - y0))


def tick_label(value: float) -> str:
    return f"{value:.6g}"


def draw_axes(draw, axes: Axes, xlabel: str, ylabel: str, font) -> None:
    """The frame of `axes`, ticks with their values below and left of it, the x label under the tick
    labels (centred) and the y label above the frame's top-left corner."""
    x0, y0, x1, y1 = axes.box
    draw.rectangle(axes.box, outline=FRAME)
    for x in nice_ticks(*axes.xlim):
        px = axes.pixel(x, axes.ylim[0])[0]
        draw.line((px, y1, px, y1 + TICK), fill=INK)
        text = tick_label(x)
        draw.text((px - draw.textlength(text, font=font) / 2, y1 + TICK + 1), text, fill=INK, font=font)
    for y in nice_ticks(*axes.ylim):
        py = axes.pixel(axes.xlim[0], y)[1]
        draw.line((x0 - TICK, py, x0, py), fill=INK)
        text = tick_label(y)
        draw.text((x0 - TICK - 2 - draw.textlength(text, font=font), py - LINE // 2 + 1), text, fill=INK, font=font)
    draw.text(((x0 + x1 - draw.textlength(xlabel, font=font)) / 2, y1 + TICK + LINE + 2), xlabel, fill=INK, font=font)
    draw.text((x0, y0 - LINE - 2), ylabel, fill=INK, font=font)


# ---- labelled image grids --------------------------------------------------------------------

SCALE = 3  # cells are upscaled (nearest neighbour): a 32 px image is drawn 96 px wide
GAP = 4  # white pixels between cells, and around labels
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
