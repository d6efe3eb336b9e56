"""Counter-based random numbers: every draw is a pure function of (seed, stream, index).

Results therefore do not depend on batch size, shard layout or the number of jobs: item 1234 of
a dataset gets the same latent whether it is drawn alone or inside a shard of 10,000.
The generator is SplitMix64 applied to a hashed (seed, stream, index, component) counter,
vectorised in numpy.
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
        return x ^ (x >> np.uint64(31))


def stream_key(seed: int, stream: str) -> np.uint64:
    """A 64-bit key for a named stream ("mini-ffhq", "fakes", ...) under a seed."""
    digest = hashlib.sha256(f"{int(seed)}/{stream}".encode()).digest()
    return np.uint64(int.from_bytes(digest[:8], "little"))


def uniform(seed: int, stream: str, indices, dim: int) -> np.ndarray:
    """Uniform(0, 1) float64 array of shape (len(indices), dim), open at both ends."""
    idx = np.asarray(indices, dtype=np.uint64).reshape(-1, 1)
    comp = np.arange(dim, dtype=np.uint64).reshape(1, -1)
    key = stream_key(seed, stream)
    with np.errstate(over="ignore"):
        counter = _splitmix64(_splitmix64(idx ^ key) + comp * _GOLDEN)
    bits = _splitmix64(counter) >> np.uint64(11)  # 53 random bits
    return (bits.astype(np.float64) + 0.5) / float(1 << 53)


def normal(seed: int, stream: str, indices, dim: int) -> np.ndarray:
    """Standard normal float32 array (len(indices), dim) by Box-Muller on two uniform streams."""
    u1 = uniform(seed, stream + "/u1", indices, dim)
    u2 = uniform(seed, stream + "/u2", indices, dim)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(np.float32)
