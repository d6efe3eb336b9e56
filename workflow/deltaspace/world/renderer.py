"""Procedural renderer of the mini world's cartoon faces.

``render(params, size, style)`` paints a batch of faces with torch, vectorised over the batch: every
shape is a signed-distance function of the pixel centre, turned into a coverage in [0, 1] by a
one-pixel linear ramp (analytic anti-aliasing), and composited back to front onto the background.
No operation mixes items, so a face renders the same alone or inside any batch.

Geometry is written in normalised image units (x to the right, y downwards, both in [-1, 1]) and
evaluated in pixel units, so the same face renders at any size. Each shape is evaluated only inside
a fixed band of rows and columns that holds it for every identity and pose (speed).

Two styles share the geometry: ``"ffhq"`` (flat colours) and ``"celeba"`` (a shifted look: top-left
lighting on the figure, a dark face outline, a warm tint on the figure, taller hair with a flared
fall and side-swept bangs). Every attribute stays recognisable in both.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from deltaspace.world.attributes import ATTRIBUTES, IDENTITY, POSE, Params, concat, num_items, replace

STYLES: tuple[str, ...] = ("ffhq", "celeba")

# Palettes (RGB in [0, 1]) in the order of ATTRIBUTES' values.
HAIR_COLORS = torch.tensor(
    [
        [0.08, 0.07, 0.07],  # black
        [0.97, 0.85, 0.42],  # blond
        [0.85, 0.25, 0.07],  # red
        [0.45, 0.27, 0.12],  # brown
        [0.68, 0.68, 0.70],  # gray
    ]
)
SKIN_COLORS = torch.tensor(
    [
        [1.00, 0.89, 0.82],  # pale
        [0.88, 0.65, 0.46],  # medium
        [0.58, 0.37, 0.22],  # tanned
    ]
)
BACKGROUND_COLORS = torch.tensor(
    [
        [0.97, 0.97, 0.97],  # white
        [0.38, 0.56, 0.93],  # blue
        [0.46, 0.80, 0.44],  # green
        [0.98, 0.66, 0.80],  # pink
    ]
)
SHIRT_COLOR = torch.tensor([0.30, 0.30, 0.40])
SCLERA_COLOR = torch.tensor([0.98, 0.98, 0.98])
PUPIL_COLOR = torch.tensor([0.08, 0.06, 0.10])
MOUTH_OPEN_COLOR = torch.tensor([0.50, 0.05, 0.10])
MOUTH_CLOSED_COLOR = torch.tensor([0.62, 0.22, 0.22])
TEETH_COLOR = torch.tensor([1.00, 1.00, 0.96])
FRAME_COLOR = torch.tensor([0.05, 0.05, 0.07])
LENS_COLOR = torch.tensor([0.70, 0.85, 1.00])
CELEBA_TINT = torch.tensor([1.03, 0.97, 0.90])

#: Largest pose shift in image units: 1.5 px at 32 px.
POSE_SHIFT = 1.5 * 2.0 / 32.0

#: Face units -> image units: image = ZOOM * face + (0, ANCHOR_Y) (the figure fills the frame).
ZOOM = 1.15
ANCHOR_Y = 0.03

#: Pixels per rendering chunk (256 faces at 32 px).
CHUNK_PIXELS = 256 * 32 * 32

# Evaluate shapes only inside their bands (tests switch this off to check the bands are wide enough).
_USE_BANDS = True

# Face centre in face units (identity parameters move features by about a pixel at 32 px).
FACE_CY = 0.06


class _Canvas:
    """The image batch being painted plus the pixel grid in face coordinates, in pixel units.

    Face coordinates are image coordinates zoomed out by ``ZOOM`` about (0, ``ANCHOR_Y``), so the
    figure fills the frame: image = ZOOM * face + (0, ANCHOR_Y). Lengths in face units times
    ``scale`` are pixels.
    """

    def __init__(self, background: torch.Tensor, size: int, offset_x: torch.Tensor, offset_y: torch.Tensor):
        self.n = background.shape[0]
        self.size = size
        self.scale = size / 2.0 * ZOOM  # pixels per face unit
        self.img = background.expand(self.n, 3, size, size).contiguous()
        half = size / 2.0
        centres = torch.arange(size, dtype=torch.float32) + (0.5 - half)  # pixels from the image centre
        self.xs = centres.reshape(1, 1, 1, size) - offset_x * (POSE_SHIFT * half)
        self.ys = centres.reshape(1, 1, size, 1) - (ANCHOR_Y * half) - offset_y * (POSE_SHIFT * half)
        self.figure: torch.Tensor | None = None

    def band(self, y0: float, y1: float, x0: float = -1.0, x1: float = 1.0) -> tuple[slice, slice]:
        """Rows and columns that may hold face-space region [x0, x1] x [y0, y1] under any pose."""
        if not _USE_BANDS:
            return slice(0, self.size), slice(0, self.size)
        half = self.size / 2.0
        margin = POSE_SHIFT + 2.0 / half  # pose plus a pixel of anti-aliasing each side

        def lo(v: float) -> int:
            return max(0, int(math.floor((v - margin + 1.0) * half)))

        def hi(v: float) -> int:
            return min(self.size, int(math.ceil((v + margin + 1.0) * half)))

        return (
            slice(lo(ZOOM * y0 + ANCHOR_Y), hi(ZOOM * y1 + ANCHOR_Y)),
            slice(lo(ZOOM * x0), hi(ZOOM * x1)),
        )

    def coords(self, rows: slice, cols: slice) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N or 1, 1, 1, w) and y (N or 1, 1, h, 1) of the band's pixel centres."""
        return self.xs[..., cols], self.ys[..., rows, :]

    def paint(self, rows: slice, cols: slice, alpha: torch.Tensor, color: torch.Tensor, figure: bool = False) -> None:
        """Composite ``color`` ((N or 1), 3, 1, 1) with coverage ``alpha`` over the band, in place."""
        view = self.img[:, :, rows, cols]
        alpha = alpha.expand(self.n, 1, view.shape[2], view.shape[3])
        view.lerp_(color, alpha)
        if figure and self.figure is not None:
            fig = self.figure[:, :, rows, cols]
            torch.maximum(fig, alpha, out=fig)


def _coverage(sd: torch.Tensor) -> torch.Tensor:
    """Fraction of a pixel inside a shape whose signed distance (pixel units) is ``sd``."""
    return sd.neg_().add_(0.5).clamp_(0.0, 1.0)


def _ellipse_sd(x: torch.Tensor, y: torch.Tensor, rx, ry) -> torch.Tensor:
    """Signed distance (first-order: f / |grad f| of f = |p / r|^2 - 1) to an origin ellipse.

    Accurate to a small fraction of a pixel near the boundary, which is all anti-aliasing and the
    shape unions/intersections here need.
    """
    ux, uy = x / rx, y / ry
    gx, gy = ux * (2.0 / rx), uy * (2.0 / ry)
    f = (ux * ux + uy * uy).sub_(1.0)
    return f.mul_(torch.rsqrt((gx * gx + gy * gy).clamp_(min=1e-12)))


def _circle_sd(x: torch.Tensor, y: torch.Tensor, r) -> torch.Tensor:
    return torch.sqrt(x * x + y * y).sub_(r)


def _box_sd(x: torch.Tensor, y: torch.Tensor, bx, by, radius=0.0) -> torch.Tensor:
    """Signed distance to a box of half-sizes (bx, by) centred at the origin, corners rounded."""
    qx = x.abs() - (bx - radius)
    qy = y.abs() - (by - radius)
    px, py = qx.clamp(min=0.0), qy.clamp(min=0.0)
    outside = torch.sqrt(px * px + py * py)
    inside = torch.maximum(qx, qy).clamp_(max=0.0)
    return outside.add_(inside).sub_(radius)


def _column(params: Params, name: str, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(params[name]), dtype=dtype).reshape(-1, 1, 1, 1)


def _rgb(color: torch.Tensor) -> torch.Tensor:
    return color.reshape(-1, 3, 1, 1)


def render(params: Params, size: int = 32, style: str = "ffhq") -> torch.Tensor:
    """Render faces as float32 CPU images (N, 3, size, size) in [-1, 1].

    ``params`` holds every factor of ``attributes.FACTORS`` as an (N,) array (class indices for
    attributes; identity in [0, 1] and pose in [-1, 1], clamped). Deterministic, and each face's
    pixels depend on that face alone.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    size = int(size)
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    n = num_items(params)
    f32 = torch.float32
    celeba = style == "celeba"
    with torch.no_grad():
        idx = {name: _column(params, name, torch.long) for name in ATTRIBUTES}
        for name, values in ATTRIBUTES.items():
            if n and (int(idx[name].min()) < 0 or int(idx[name].max()) >= len(values)):
                raise ValueError(f"class index out of range for attribute {name}")
        ident = {name: _column(params, name, f32).clamp(0.0, 1.0) - 0.5 for name in IDENTITY}
        pose = {name: _column(params, name, f32).clamp(-1.0, 1.0) for name in POSE}
        # Render in chunks of about CHUNK_PIXELS pixels: bounded memory, cache-friendly tensors.
        chunk = max(1, CHUNK_PIXELS // (size * size))
        if n <= chunk:
            return _render(idx, ident, pose, n, size, celeba)
        out = torch.empty(n, 3, size, size)
        for start in range(0, n, chunk):
            part = slice(start, min(n, start + chunk))
            out[part] = _render(
                {k: v[part] for k, v in idx.items()},
                {k: v[part] for k, v in ident.items()},
                {k: v[part] for k, v in pose.items()},
                part.stop - part.start,
                size,
                celeba,
            )
        return out


def _render(idx, ident, pose, n: int, size: int, celeba: bool) -> torch.Tensor:
    f32 = torch.float32
    hair = HAIR_COLORS[idx["hair_color"].reshape(-1)].reshape(-1, 3, 1, 1)
    skin = SKIN_COLORS[idx["skin_tone"].reshape(-1)].reshape(-1, 3, 1, 1)
    background = BACKGROUND_COLORS[idx["background"].reshape(-1)].reshape(-1, 3, 1, 1)
    long_hair = idx["hair_length"].to(f32)
    bangs = idx["bangs"].to(f32)
    smile = idx["smile"].to(f32)
    glasses = idx["eyeglasses"].to(f32)
    big_eyes = idx["eye_size"].to(f32)

    cv = _Canvas(background, size, pose["offset_x"], pose["offset_y"])
    if celeba:
        cv.figure = torch.zeros(n, 1, size, size)
    s = cv.scale  # image units -> pixels

    # Identity geometry in face units (times s: pixels).
    cy = FACE_CY
    rx = 0.44 + 0.06 * ident["face_width"]
    ry = 0.56 + 0.06 * ident["face_height"]
    ex = 0.21 + 0.05 * ident["eye_spacing"]
    ey = cy + 0.03 + 0.08 * ident["eye_height"]
    nose_len = 0.09 + 0.10 * ident["nose_length"]
    mouth_scale = 1.0 + 0.5 * ident["mouth_width"]
    my = cy + 0.60 * ry

    # Shirt (shoulders) along the bottom edge.
    rows, cols = cv.band(0.70, 1.0)
    x, y = cv.coords(rows, cols)
    cv.paint(rows, cols, _coverage(_ellipse_sd(x, y - 1.16 * s, 0.80 * s, 0.44 * s)), _rgb(SHIRT_COLOR), True)

    # Hair behind the head: a cap around the skull; long hair adds a fall down to the shoulders.
    cap_cy = cy - (0.12 if celeba else 0.10)
    cap_rx = rx + (0.10 if celeba else 0.09)
    cap_ry = ry + (0.15 if celeba else 0.13)
    cut = ey - 0.10  # short hair stops above the eyes at the sides
    fall_top, fall_bottom = cy - 0.10, 0.90
    rows, cols = cv.band(-0.85, 1.0, -0.8, 0.8)
    x, y = cv.coords(rows, cols)
    cap_sd = _ellipse_sd(x, y - cap_cy * s, cap_rx * s, cap_ry * s)
    back_sd = torch.maximum(cap_sd, y - cut * s)
    if bool(long_hair.any()):
        fall_half_width = rx + 0.13
        if celeba:  # the fall flares out towards the shoulders
            fall_half_width = fall_half_width + 0.14 * (y / s - cy).clamp(min=0.0)
        fall_sd = _box_sd(x, y - 0.5 * (fall_top + fall_bottom) * s, fall_half_width * s, 0.5 * (fall_bottom - fall_top) * s, 0.08 * s)
        back_sd = torch.lerp(back_sd, torch.minimum(cap_sd, fall_sd), long_hair)
    cv.paint(rows, cols, _coverage(back_sd), hair, True)

    # Ears (hidden by long hair), neck and face.
    rows, cols = cv.band(-0.1, 0.35, -0.6, 0.6)
    x, y = cv.coords(rows, cols)
    ear_sd = _ellipse_sd(x.abs() - rx * s, y - (ey + 0.04) * s, 0.065 * s, 0.10 * s)
    cv.paint(rows, cols, _coverage(ear_sd) * (1.0 - long_hair), skin * 0.92, True)
    neck_top = cy + ry - 0.12
    rows, cols = cv.band(0.38, 0.87, -0.15, 0.15)
    x, y = cv.coords(rows, cols)
    neck_sd = _box_sd(x, y - 0.5 * (neck_top + 0.85) * s, 0.13 * s, 0.5 * (0.85 - neck_top) * s, 0.03 * s)
    cv.paint(rows, cols, _coverage(neck_sd), skin * 0.85, True)
    rows, cols = cv.band(-0.6, 0.7, -0.5, 0.5)
    x, y = cv.coords(rows, cols)
    face_sd = _ellipse_sd(x, y - cy * s, rx * s, ry * s)
    if celeba:
        cv.paint(rows, cols, _coverage(face_sd - 1.0), skin * 0.55, True)  # outline ring: darker, one pixel wider
    cv.paint(rows, cols, _coverage(face_sd), skin, True)

    # Nose: a small darker oval.
    rows, cols = cv.band(0.1, 0.36, -0.06, 0.06)
    x, y = cv.coords(rows, cols)
    nose_sd = _ellipse_sd(x, y - (ey + 0.08 + 0.5 * nose_len) * s, 0.04 * s, 0.5 * nose_len * s)
    cv.paint(rows, cols, _coverage(nose_sd), skin * 0.72)

    # Mouth: a wide open D-shaped smile showing teeth, or a small flat closed line.
    rows, cols = cv.band(0.30, 0.54, -0.32, 0.32)
    x, y = cv.coords(rows, cols)
    if bool(smile.any()):
        top = (my - 0.06) * s
        smile_sd = torch.maximum(_ellipse_sd(x, y - top, 0.24 * mouth_scale * s, 0.17 * s), top - y)
        teeth_sd = torch.maximum(smile_sd + 0.03 * s, y - top - 0.05 * s)
    closed_sd = _box_sd(x, y - my * s, 0.075 * mouth_scale * s, 0.03 * s, 0.02 * s)
    mouth_sd = torch.lerp(closed_sd, smile_sd, smile) if bool(smile.any()) else closed_sd
    cv.paint(rows, cols, _coverage(mouth_sd), torch.lerp(_rgb(MOUTH_CLOSED_COLOR), _rgb(MOUTH_OPEN_COLOR), smile))
    if bool(smile.any()):
        cv.paint(rows, cols, _coverage(teeth_sd) * smile, _rgb(TEETH_COLOR))

    # Eyes (mirror-symmetric, so one distance serves both): white sclera and a dark pupil.
    rows, cols = cv.band(-0.1, 0.3, -0.4, 0.4)
    x, y = cv.coords(rows, cols)
    ex_rel, ey_rel = x.abs() - ex * s, y - ey * s
    # Big eyes have about 2.5x the area of normal ones.
    sclera_sd = _ellipse_sd(ex_rel, ey_rel, (0.085 + 0.05 * big_eyes) * s, (0.065 + 0.06 * big_eyes) * s)
    cv.paint(rows, cols, _coverage(sclera_sd), _rgb(SCLERA_COLOR))
    cv.paint(rows, cols, _coverage(_circle_sd(ex_rel, ey_rel, (0.055 + 0.033 * big_eyes) * s)), _rgb(PUPIL_COLOR))

    # Hair in front: over the upper forehead, or a fringe down to just above the eyes (bangs).
    rows, cols = cv.band(-0.85, 0.1, -0.7, 0.7)
    x, y = cv.coords(rows, cols)
    xn = x / s
    hairline = cy - 0.78 * ry + 0.8 * xn * xn
    if celeba:  # side-swept bangs, lower on the right
        bangs_line = ey - 0.15 + 0.2 * xn * xn + 0.08 * xn
    else:
        bangs_line = ey - 0.14 + 0.25 * xn * xn
    front_sd = torch.maximum(_ellipse_sd(x, y - cap_cy * s, cap_rx * s, cap_ry * s), y - torch.lerp(hairline, bangs_line, bangs) * s)
    cv.paint(rows, cols, _coverage(front_sd), hair, True)

    # Eyeglasses: tinted lenses and a dark frame around both eyes, a bridge and temple arms.
    if bool(glasses.any()):
        rows, cols = cv.band(-0.15, 0.35, -0.6, 0.6)
        x, y = cv.coords(rows, cols)
        lens_r = 0.15 * s
        eye_dist = _circle_sd(x.abs() - ex * s, y - ey * s, 0.0)
        ring_sd = (eye_dist - lens_r).abs_().sub_(0.03 * s)
        bridge_sd = _box_sd(x, y - (ey - 0.02) * s, (ex * s - lens_r) + 0.02 * s, 0.025 * s)
        temple_half = 0.5 * (rx + 0.04 - ex) * s - 0.5 * lens_r
        temple_sd = _box_sd(x.abs() - (ex * s + lens_r + temple_half), y - (ey - 0.04) * s, temple_half, 0.022 * s)
        frame_sd = torch.minimum(torch.minimum(ring_sd, bridge_sd), temple_sd)
        cv.paint(rows, cols, _coverage(eye_dist - lens_r) * (0.25 * glasses), _rgb(LENS_COLOR))
        cv.paint(rows, cols, _coverage(frame_sd) * glasses, _rgb(FRAME_COLOR))

    img = cv.img
    if celeba:
        # Light from the top left and a warm tint, on the figure only: the background stays uniform.
        light = 0.08 - 0.10 * (cv.xs + cv.ys) / s  # (N, 1, H, W) relative change
        gain = 1.0 + cv.figure * (light + (_rgb(CELEBA_TINT) - 1.0))
        img.mul_(gain)
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


def neutral_face() -> Params:
    """One face with every attribute at its first value but brown short hair, medium skin, centred."""
    params: Params = {name: np.zeros(1, dtype=np.int64) for name in ATTRIBUTES}
    params["hair_color"][:] = ATTRIBUTES["hair_color"].index("brown")
    params["skin_tone"][:] = ATTRIBUTES["skin_tone"].index("medium")
    params.update({name: np.full(1, 0.5, dtype=np.float32) for name in IDENTITY})
    params.update({name: np.zeros(1, dtype=np.float32) for name in POSE})
    return params


def attribute_sheet(base: Params | None = None, size: int = 32, style: str = "ffhq") -> np.ndarray:
    """A uint8 grid (rows * size, 5 * size, 3): row k shows ``base`` with attribute k at each of
    its values (then identity parameters at 0 and 1, and the pose at -1 and +1); unused cells white.
    """
    base = neutral_face() if base is None else base
    rows = [[replace(base, **{name: v}) for v in range(len(values))] for name, values in ATTRIBUTES.items()]
    rows += [[replace(base, **{name: v}) for v in (0.0, 1.0)] for name in IDENTITY]
    rows += [[replace(base, **{name: v}) for v in (-1.0, 1.0)] for name in POSE]
    cols = max(len(r) for r in rows)
    images = render_uint8(concat([p for r in rows for p in r]), size, style)
    sheet = np.full((len(rows) * size, cols * size, 3), 255, dtype=np.uint8)
    k = 0
    for i, r in enumerate(rows):
        for j in range(len(r)):
            sheet[i * size : (i + 1) * size, j * size : (j + 1) * size] = images[k]
            k += 1
    return sheet
