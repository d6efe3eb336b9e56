"""Procedural renderer of the mini world's cartoon faces.

``render(params, size, style)`` paints a batch of faces with torch, vectorised over the batch: every
shape is a signed-distance function of the pixel centre, turned into a coverage in [0, 1] by a
one-pixel linear ramp (analytic anti-aliasing), and composited back to front onto the background.
No operation mixes items, so a face renders the same alone or inside any batch.

Geometry is in normalised image units: x to the right and y downwards, both in [-1, 1]; one pixel
is 2 / size units, so the same face renders at any size.

Two styles share the geometry: ``"ffhq"`` (flat colours) and ``"celeba"`` (a shifted look: top-left
lighting on the figure, a dark face outline, a warm palette tint, taller hair with a flared fall and
side-swept bangs). Every attribute stays recognisable in both.
"""

from __future__ import annotations

import numpy as np
import torch

from deltaspace.world.attributes import ATTRIBUTES, FACTORS, IDENTITY, POSE, Params, num_items

STYLES: tuple[str, ...] = ("ffhq", "celeba")

# Palettes (RGB in [0, 1]) in the order of ATTRIBUTES' values.
HAIR_COLORS = torch.tensor(
    [
        [0.07, 0.06, 0.06],  # black
        [0.96, 0.84, 0.40],  # blond
        [0.86, 0.26, 0.08],  # red
        [0.46, 0.28, 0.13],  # brown
        [0.66, 0.66, 0.68],  # gray
    ]
)
SKIN_COLORS = torch.tensor(
    [
        [1.00, 0.88, 0.80],  # pale
        [0.88, 0.66, 0.47],  # medium
        [0.60, 0.38, 0.22],  # tanned
    ]
)
BACKGROUND_COLORS = torch.tensor(
    [
        [0.97, 0.97, 0.97],  # white
        [0.40, 0.58, 0.92],  # blue
        [0.48, 0.80, 0.45],  # green
        [0.98, 0.66, 0.80],  # pink
    ]
)
SHIRT_COLOR = torch.tensor([0.30, 0.30, 0.40])
SCLERA_COLOR = torch.tensor([0.98, 0.98, 0.98])
PUPIL_COLOR = torch.tensor([0.10, 0.08, 0.10])
MOUTH_OPEN_COLOR = torch.tensor([0.50, 0.06, 0.10])
MOUTH_CLOSED_COLOR = torch.tensor([0.55, 0.16, 0.16])
TEETH_COLOR = torch.tensor([0.98, 0.98, 0.95])
FRAME_COLOR = torch.tensor([0.06, 0.06, 0.08])
LENS_COLOR = torch.tensor([0.70, 0.85, 1.00])
CELEBA_TINT = torch.tensor([1.03, 0.96, 0.86])

#: Largest pose shift in image units: 1.5 px at 32 px.
POSE_SHIFT = 1.5 * 2.0 / 32.0


def _coverage(sd: torch.Tensor, pixel: float) -> torch.Tensor:
    """Fraction of a pixel inside a shape with signed distance ``sd`` (negative inside)."""
    return (0.5 - sd / pixel).clamp_(0.0, 1.0)


def _ellipse_sd(x: torch.Tensor, y: torch.Tensor, rx, ry) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse centred at the origin.

    Uses k0 (k0 - 1) / k1 with k0 = |p / r| and k1 = |p / r^2|: exact on circles and accurate to
    well under a pixel near the boundary, which is all the anti-aliasing needs.
    """
    ux, uy = x / rx, y / ry
    k0 = torch.sqrt(ux * ux + uy * uy)
    vx, vy = ux / rx, uy / ry
    k1 = torch.sqrt(vx * vx + vy * vy).clamp_(min=1e-6)
    return k0 * (k0 - 1.0) / k1


def _box_sd(x: torch.Tensor, y: torch.Tensor, bx, by, radius=0.0) -> torch.Tensor:
    """Signed distance to a box of half-sizes (bx, by) centred at the origin, corners rounded."""
    qx = x.abs() - (bx - radius)
    qy = y.abs() - (by - radius)
    outside = torch.sqrt(qx.clamp(min=0.0) ** 2 + qy.clamp(min=0.0) ** 2)
    inside = torch.maximum(qx, qy).clamp_(max=0.0)
    return outside + inside - radius


def _paint(img: torch.Tensor, alpha: torch.Tensor, color: torch.Tensor) -> None:
    """Composite ``color`` ((N or 1), 3, 1, 1) with coverage ``alpha`` (N, 1, H, W) onto ``img`` in place."""
    img.add_(alpha * (color - img))


def _column(params: Params, name: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(params[name]), dtype=dtype).reshape(-1, 1, 1, 1)


def render(params: Params, size: int = 32, style: str = "ffhq") -> torch.Tensor:
    """Render faces as float32 images (N, 3, size, size) in [-1, 1]."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    if int(size) < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    size = int(size)
    n = num_items(params)
    f32 = torch.float32
    celeba = style == "celeba"
    pixel = 2.0 / size

    idx = {name: _column(params, name, torch.long).reshape(-1) for name in ATTRIBUTES}
    for name in ATTRIBUTES:
        if n and (idx[name].min() < 0 or idx[name].max() >= len(ATTRIBUTES[name])):
            raise ValueError(f"class index out of range for attribute {name}")
    ident = {name: _column(params, name, f32).clamp(0.0, 1.0) for name in IDENTITY}
    pose = {name: _column(params, name, f32).clamp(-1.0, 1.0) for name in POSE}

    def colors(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return table[index].reshape(-1, 3, 1, 1)

    hair = colors(HAIR_COLORS, idx["hair_color"])
    skin = colors(SKIN_COLORS, idx["skin_tone"])
    background = colors(BACKGROUND_COLORS, idx["background"])
    long_hair = idx["hair_length"].reshape(-1, 1, 1, 1).to(f32)
    bangs = idx["bangs"].reshape(-1, 1, 1, 1).to(f32)
    smile = idx["smile"].reshape(-1, 1, 1, 1).to(f32)
    glasses = idx["eyeglasses"].reshape(-1, 1, 1, 1).to(f32)
    big_eyes = idx["eye_size"].reshape(-1, 1, 1, 1).to(f32)

    # Pixel centres, shifted by the pose: x is (N, 1, 1, W), y is (N, 1, H, 1).
    grid = (torch.arange(size, dtype=f32) + 0.5) * pixel - 1.0
    x = grid.reshape(1, 1, 1, size) - pose["offset_x"] * POSE_SHIFT
    y = grid.reshape(1, 1, size, 1) - pose["offset_y"] * POSE_SHIFT
    ax = x.abs()

    # Identity geometry (each parameter moves features by a pixel or two at 32 px).
    cy = 0.08
    rx = 0.40 + 0.08 * (ident["face_width"] - 0.5)
    ry = 0.52 + 0.08 * (ident["face_height"] - 0.5)
    ex = 0.205 + 0.05 * (ident["eye_spacing"] - 0.5)
    ey = cy + 0.08 * (ident["eye_height"] - 0.5)
    nose_len = 0.10 + 0.07 * (ident["nose_length"] - 0.5)
    mouth_scale = 1.0 + 0.3 * (ident["mouth_width"] - 0.5)
    my = cy + 0.58 * ry

    img = background.expand(n, 3, size, size).contiguous()
    figure = torch.zeros(n, 1, size, size) if celeba else None

    def paint(alpha: torch.Tensor, color: torch.Tensor, part_of_figure: bool = False) -> None:
        alpha = alpha.expand(n, 1, size, size)
        _paint(img, alpha, color)
        if figure is not None and part_of_figure:
            torch.maximum(figure, alpha, out=figure)

    # Shirt (shoulders) at the bottom.
    paint(_coverage(_ellipse_sd(x, y - 1.25, 0.80, 0.45), pixel), SHIRT_COLOR.reshape(1, 3, 1, 1), True)

    # Hair behind the head: a cap around the skull; long hair adds a fall down to the shoulders.
    cap_cy = cy - (0.13 if celeba else 0.10)
    cap_rx, cap_ry = rx + (0.10 if celeba else 0.09), ry + (0.17 if celeba else 0.12)
    cap_sd = _ellipse_sd(x, y - cap_cy, cap_rx, cap_ry)
    short_sd = torch.maximum(cap_sd, y - (ey - 0.10))
    fall_top, fall_bottom = cy - 0.10, 0.98
    fall_half_width = rx + 0.13
    if celeba:  # the fall flares out towards the shoulders
        fall_half_width = fall_half_width + 0.12 * (y - cy).clamp(min=0.0)
    fall_sd = _box_sd(x, y - 0.5 * (fall_top + fall_bottom), fall_half_width, 0.5 * (fall_bottom - fall_top), 0.08)
    long_sd = torch.minimum(cap_sd, fall_sd)
    back_hair = torch.lerp(_coverage(short_sd, pixel), _coverage(long_sd, pixel), long_hair)
    paint(back_hair, hair, True)

    # Neck and face.
    neck_top = cy + ry - 0.12
    paint(_coverage(_box_sd(x, y - 0.5 * (neck_top + 0.92), 0.13, 0.5 * (0.92 - neck_top), 0.03), pixel), skin * 0.85, True)
    face_sd = _ellipse_sd(x, y - cy, rx, ry)
    paint(_coverage(face_sd, pixel), skin, True)
    if celeba:
        outline = _coverage(face_sd.abs() - 0.02, pixel)
        paint(outline, skin * 0.55)

    # Nose: a small darker oval.
    paint(_coverage(_ellipse_sd(x, y - (ey + 0.07 + 0.5 * nose_len), 0.04, 0.5 * nose_len), pixel), skin * 0.78)

    # Mouth: a wide open D-shaped smile with teeth, or a small flat closed line.
    smile_top = my - 0.05
    smile_rx = 0.19 * mouth_scale
    smile_shape = _ellipse_sd(x, y - smile_top, smile_rx, 0.13)
    smile_sd = torch.maximum(smile_shape, smile_top - y)
    teeth_sd = torch.maximum(smile_sd + 0.015, y - (smile_top + 0.045))
    closed_sd = _box_sd(x, y - my, 0.085 * mouth_scale, 0.032, 0.02)
    paint(_coverage(closed_sd, pixel) * (1.0 - smile), MOUTH_CLOSED_COLOR.reshape(1, 3, 1, 1))
    paint(_coverage(smile_sd, pixel) * smile, MOUTH_OPEN_COLOR.reshape(1, 3, 1, 1))
    paint(_coverage(teeth_sd, pixel) * smile, TEETH_COLOR.reshape(1, 3, 1, 1))

    # Eyes (mirror-symmetric, so one distance serves both): white sclera and a dark pupil.
    sclera_rx = 0.075 + 0.045 * big_eyes
    sclera_ry = 0.055 + 0.05 * big_eyes
    pupil_r = 0.045 + 0.03 * big_eyes
    ex_rel, ey_rel = ax - ex, y - ey
    paint(_coverage(_ellipse_sd(ex_rel, ey_rel, sclera_rx, sclera_ry), pixel), SCLERA_COLOR.reshape(1, 3, 1, 1))
    eye_dist = torch.sqrt(ex_rel * ex_rel + ey_rel * ey_rel)
    paint(_coverage(eye_dist - pupil_r, pixel), PUPIL_COLOR.reshape(1, 3, 1, 1))

    # Hair in front: over the upper forehead, or down to just above the eyes with bangs.
    if celeba:  # side-swept bangs, higher on the left
        bangs_line = ey - 0.15 + 0.25 * x * x + 0.08 * x
    else:
        bangs_line = ey - 0.15 + 0.30 * x * x
    hairline = cy - 0.70 * ry + 0.9 * x * x
    hairline = torch.lerp(hairline, bangs_line, bangs)
    front_sd = torch.maximum(cap_sd, y - hairline)
    paint(_coverage(front_sd, pixel), hair, True)

    # Eyeglasses: tinted lenses and a dark frame around both eyes, a bridge and temple arms.
    lens_r = 0.15
    ring_sd = (eye_dist - lens_r).abs() - 0.027
    bridge_sd = _box_sd(x, y - (ey - 0.02), ex - lens_r + 0.01, 0.022)
    temple_sd = _box_sd(ax - 0.5 * (ex + lens_r + rx + 0.03), y - (ey - 0.04), 0.5 * (rx + 0.03 - ex - lens_r), 0.02)
    frame_sd = torch.minimum(torch.minimum(ring_sd, bridge_sd), temple_sd)
    paint(_coverage(eye_dist - lens_r, pixel) * (0.25 * glasses), LENS_COLOR.reshape(1, 3, 1, 1))
    paint(_coverage(frame_sd, pixel) * glasses, FRAME_COLOR.reshape(1, 3, 1, 1))

    if celeba:
        # Light from the top left on the figure only (the background stays uniform), warm tint.
        light = 1.10 - 0.12 * (x + y)
        img.mul_(1.0 + (light - 1.0) * figure)
        img.mul_(CELEBA_TINT.reshape(1, 3, 1, 1))

    return img.clamp_(0.0, 1.0).mul_(2.0).sub_(1.0)


def to_uint8(images) -> np.ndarray:
    """Images (N, 3, H, W) in [-1, 1] (torch or numpy) -> uint8 array (N, H, W, 3)."""
    t = torch.as_tensor(images).detach().to("cpu", torch.float32)
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"expected images of shape (N, 3, H, W), got {tuple(t.shape)}")
    return ((t + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def render_uint8(params: Params, size: int = 32, style: str = "ffhq") -> np.ndarray:
    """``render`` then ``to_uint8``: uint8 (N, size, size, 3)."""
    return to_uint8(render(params, size, style))


__all__ = ["STYLES", "render", "to_uint8", "render_uint8", "FACTORS"]
