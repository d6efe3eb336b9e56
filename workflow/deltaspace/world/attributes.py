"""Attributes of the mini world's cartoon faces, their priors, and how latents map onto them.

A face is described by ``Params``: a dict of numpy arrays of shape (N,), one per factor.

* ``ATTRIBUTES``: editable categorical attributes (int64 class indices), the things prompts edit.
* ``IDENTITY``: continuous face geometry in [0, 1] (float32) that no prompt edits.
* ``POSE``: small shifts of the whole face in [-1, 1] (float32).

Each factor consumes one standard-normal latent component (``NUM_FACTORS`` in all), so
``params_from_normal`` turns an (N, >=NUM_FACTORS) Gaussian into faces drawn from a prior:
``"ffhq"`` (mini-FFHQ), ``"celeba"`` (mini-CelebA-HQ, shifted frequencies) or ``"uniform"``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from deltaspace import rng

# torch and pandas are imported where they are used: config validation (every Snakemake start,
# twice per Slurm job) reads ATTRIBUTES from this module and should not pay for them.

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "hair_color": ("black", "blond", "red", "brown", "gray"),
    "hair_length": ("short", "long"),
    "bangs": ("no", "yes"),
    "smile": ("no", "yes"),
    "eyeglasses": ("no", "yes"),
    "eye_size": ("normal", "big"),
    "skin_tone": ("pale", "medium", "tanned"),
    "background": ("white", "blue", "green", "pink"),
}

IDENTITY: tuple[str, ...] = (
    "face_width",
    "face_height",
    "eye_spacing",
    "eye_height",
    "nose_length",
    "mouth_width",
)

POSE: tuple[str, ...] = ("offset_x", "offset_y")

#: Every factor in latent-column order: attributes, then identity, then pose.
FACTORS: tuple[str, ...] = tuple(ATTRIBUTES) + IDENTITY + POSE

NUM_FACTORS: int = len(FACTORS)

Params = dict[str, np.ndarray]

PRIORS: dict[str, dict[str, tuple[float, ...]]] = {
    # FFHQ-like frequencies.
    "ffhq": {
        "hair_color": (0.32, 0.20, 0.08, 0.30, 0.10),
        "hair_length": (0.50, 0.50),
        "bangs": (0.70, 0.30),
        "smile": (0.50, 0.50),
        "eyeglasses": (0.80, 0.20),
        "eye_size": (0.70, 0.30),
        "skin_tone": (0.35, 0.40, 0.25),
        "background": (0.40, 0.25, 0.20, 0.15),
    },
    # CelebA-HQ-like shift: more blond, smiling, long-haired, fewer glasses, other backgrounds.
    "celeba": {
        "hair_color": (0.25, 0.32, 0.06, 0.30, 0.07),
        "hair_length": (0.35, 0.65),
        "bangs": (0.60, 0.40),
        "smile": (0.35, 0.65),
        "eyeglasses": (0.93, 0.07),
        "eye_size": (0.60, 0.40),
        "skin_tone": (0.50, 0.35, 0.15),
        "background": (0.20, 0.30, 0.15, 0.35),
    },
    "uniform": {name: tuple([1.0 / len(values)] * len(values)) for name, values in ATTRIBUTES.items()},
}


def _check_prior(prior: str) -> dict[str, tuple[float, ...]]:
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; expected one of {sorted(PRIORS)}")
    return PRIORS[prior]


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    import torch

    return torch.special.ndtr(torch.from_numpy(np.asarray(z, dtype=np.float64))).numpy()


def params_from_normal(z: np.ndarray, prior: str = "ffhq") -> Params:
    """Map standard-normal latents (N, >=NUM_FACTORS) to face parameters, deterministically.

    Column k drives factor ``FACTORS[k]``: a categorical attribute takes the bin of Phi(z) in the
    prior's cumulative probabilities, identity parameters take Phi(z) in [0, 1], pose 2 Phi(z) - 1.
    Columns beyond NUM_FACTORS are ignored.
    """
    probs = _check_prior(prior)
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] < NUM_FACTORS:
        raise ValueError(f"z must have shape (N, >={NUM_FACTORS}), got {z.shape}")
    u = _normal_cdf(z[:, :NUM_FACTORS])
    params: Params = {}
    for k, name in enumerate(FACTORS):
        col = u[:, k]
        if name in ATTRIBUTES:
            edges = np.cumsum(np.asarray(probs[name], dtype=np.float64))[:-1]
            params[name] = np.searchsorted(edges, col, side="right").astype(np.int64)
        elif name in IDENTITY:
            params[name] = col.astype(np.float32)
        else:
            params[name] = (2.0 * col - 1.0).astype(np.float32)
    return params


def params_from_latent(z: np.ndarray, prior: str = "ffhq") -> Params:
    """The face a generator latent z (N, style_dim) stands for: params_from_normal of PixelNorm(z).

    StyleGAN's mapping network starts with PixelNorm, which rescales z to RMS 1 over all its
    components; mapping the rescaled z (times sqrt(dim), so it stays standard-normal-sized) keeps
    the target consistent with what the generator can see. Mapping the raw z instead flips an
    attribute for the ~4% of samples whose factor sits near a class boundary.
    """
    z = np.asarray(z, dtype=np.float64)
    rms = np.sqrt(np.mean(z * z, axis=1, keepdims=True) + 1e-8)
    return params_from_normal(z / rms, prior)


def sample_params(seed: int, stream: str, indices: Iterable[int], prior: str = "ffhq") -> Params:
    """Faces for item ``indices`` of a named random stream (independent of batching)."""
    z = rng.normal(seed, stream, np.asarray(indices, dtype=np.int64).reshape(-1), NUM_FACTORS)
    return params_from_normal(z, prior)


def num_items(params: Params) -> int:
    """Number of faces in ``params`` (checks that every factor is present with one length)."""
    missing = [name for name in FACTORS if name not in params]
    if missing:
        raise ValueError(f"params lack factors {missing}")
    lengths = {np.asarray(params[name]).shape for name in FACTORS}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1:
        raise ValueError(f"every factor must be a 1-D array of one length, got shapes {lengths}")
    return int(next(iter(lengths))[0])


def value_index(attribute: str, value: str | int) -> int:
    """Class index of ``value`` (a name such as "red" or an index) for ``attribute``."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of {list(ATTRIBUTES)}")
    values = ATTRIBUTES[attribute]
    if isinstance(value, str):
        if value not in values:
            raise ValueError(f"unknown value {value!r} for {attribute}; expected one of {values}")
        return values.index(value)
    index = int(value)
    if not 0 <= index < len(values):
        raise ValueError(f"value index {index} out of range for {attribute} ({len(values)} values)")
    return index


def replace(params: Params, **changes) -> Params:
    """Copy of ``params`` with some factors set for every item.

    Categorical attributes accept a value name, an index, or a per-item array of indices;
    identity and pose factors accept a float or a per-item array.
    """
    n = num_items(params)
    out = {name: np.array(values, copy=True) for name, values in params.items()}
    for name, value in changes.items():
        if name in ATTRIBUTES:
            if isinstance(value, (str, int, np.integer)):
                out[name] = np.full(n, value_index(name, value), dtype=np.int64)
            else:
                arr = np.asarray(value, dtype=np.int64).reshape(-1)
                if arr.shape != (n,) or arr.min() < 0 or arr.max() >= len(ATTRIBUTES[name]):
                    raise ValueError(f"bad per-item values for {name}: {value!r}")
                out[name] = arr
        elif name in IDENTITY or name in POSE:
            arr = np.broadcast_to(np.asarray(value, dtype=np.float32), (n,)).copy()
            out[name] = arr
        else:
            raise ValueError(f"unknown factor {name!r}; expected one of {list(FACTORS)}")
    return out


def concat(parts: list[Params]) -> Params:
    """Concatenate several Params along the item axis."""
    return {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in FACTORS}


def select(params: Params, indices) -> Params:
    """Items ``indices`` (anything numpy can index with) of ``params``."""
    return {name: np.asarray(params[name])[indices] for name in FACTORS}


def params_to_frame(params: Params) -> "pd.DataFrame":
    """A DataFrame with one row per face; categorical columns hold value names."""
    import pandas as pd

    num_items(params)
    data = {}
    for name in FACTORS:
        if name in ATTRIBUTES:
            names = np.asarray(ATTRIBUTES[name], dtype=object)
            data[name] = names[np.asarray(params[name], dtype=np.int64)]
        else:
            data[name] = np.asarray(params[name], dtype=np.float32)
    return pd.DataFrame(data)


def params_from_frame(frame: "pd.DataFrame") -> Params:
    """Inverse of ``params_to_frame`` (categorical columns may hold names or indices)."""
    params: Params = {}
    for name in FACTORS:
        if name not in frame.columns:
            raise ValueError(f"frame lacks column {name!r}")
        col = frame[name].to_numpy()
        if name in ATTRIBUTES:
            if col.dtype.kind in "iu":
                params[name] = col.astype(np.int64)
            else:
                lookup = {v: i for i, v in enumerate(ATTRIBUTES[name])}
                try:
                    params[name] = np.array([lookup[v] for v in col], dtype=np.int64)
                except KeyError as err:
                    raise ValueError(f"unknown value {err.args[0]!r} in column {name}") from None
        else:
            params[name] = col.astype(np.float32)
    return params
