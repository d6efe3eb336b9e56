"""The relevance matrix R_s of StyleCLIP's global directions: one unit CLIP direction per S channel.

For each S channel c, on the same N base codes (the first N fakes): set channel c to
mean[c] + sigma * std[c] and to mean[c] - sigma * std[c] (the base value is replaced, i.e. the
channel is first set to its mean and perturbed from there), render both, CLIP-encode both
(unit embeddings), take the difference, normalize it, average over the N images and normalize
again. R_s has shape (S_dim, clip_dim) with unit rows (a channel that changes no embedding at
all gets a zero row).

Two implementations with the same result:
- `relevance_reference`: the loop as written above, channel after channel, rendering the full
  generator for the N images each time;
- `relevance_fast`: many channels and images per forward, and nothing computed twice. The layers
  before the perturbed conv layer see the same codes for every channel of that layer, so their
  output (the synthesis state) is computed once per image batch; the perturbed layer itself is
  computed once for the base codes plus one single-channel convolution per channel (the
  convolution is linear in its input, see `ModulatedConv2d.forward_channels_set`); only the
  layers after it run per perturbed copy.

S mean/std come from the fakes codes table (`style_statistics`, streamed shard by shard).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..errors import CheckpointError, DataError
from ..io.shards import iter_collection
from ..models.clip import encode_images

log = logging.getLogger(__name__)

#: Rows converted to float64 at a time when accumulating statistics (bounds the temporary memory).
_STATS_CHUNK = 4096


# ---------------------------------------------------------------------------------------------
# Inputs: S statistics and base codes from the fakes table
# ---------------------------------------------------------------------------------------------

def style_statistics(codes_folder: str | os.PathLike, column: str = "s") -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (ddof 0, as np.std) of `column` over a codes table.

    Streams the table shard by shard and each shard in chunks of rows, merging float64
    (count, mean, sum of squared deviations) with Chan et al.'s pairwise update: memory does not
    grow with the table, and there is no catastrophic cancellation (no sum of squares minus square
    of sums). Returns float64 arrays (S_dim,).
    """
    count, mean, m2 = 0, None, None
    for shard in iter_collection(codes_folder, [column]):
        values = shard[column]
        for lo in range(0, len(values), _STATS_CHUNK):
            chunk = values[lo : lo + _STATS_CHUNK].astype(np.float64)
            n_b = len(chunk)
            mean_b = chunk.mean(0)
            m2_b = np.square(chunk - mean_b).sum(0)
            if mean is None:
                count, mean, m2 = n_b, mean_b, m2_b
                continue
            total = count + n_b
            delta = mean_b - mean
            mean = mean + delta * (n_b / total)
            m2 = m2 + m2_b + np.square(delta) * (count * n_b / total)
            count = total
    if not count:
        raise DataError(f"{codes_folder}: the codes table has no rows; cannot compute S mean/std")
    return mean, np.sqrt(m2 / count)


def base_codes(codes_folder: str | os.PathLike, images: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `images` rows of a codes table: (s (N, S_dim), s_rgb (N, S_rgb_dim)) float32."""
    s, s_rgb, have = [], [], 0
    for shard in iter_collection(codes_folder, ["s", "s_rgb"]):
        take = min(images - have, len(shard["s"]))
        s.append(shard["s"][:take])
        s_rgb.append(shard["s_rgb"][:take])
        have += take
        if have >= images:
            break
    if have < images:
        raise DataError(f"{codes_folder}: R_s needs {images} base images but the codes table has only {have} rows")
    return np.concatenate(s), np.concatenate(s_rgb)


# ---------------------------------------------------------------------------------------------
# R_s
# ---------------------------------------------------------------------------------------------

def _prepare(G, base_s, base_s_rgb, mean, std, sigma: float, channels):
    """Common argument handling: tensors on G's device, the channel list, the +-sigma values (2, S_dim)."""
    device = G.input.input.device
    s = torch.as_tensor(np.asarray(base_s, dtype=np.float32), device=device)
    s_rgb = torch.as_tensor(np.asarray(base_s_rgb, dtype=np.float32), device=device)
    if s.ndim != 2 or s.shape[1] != G.s_dim or s_rgb.shape != (s.shape[0], G.s_rgb_dim):
        raise ValueError(f"base codes must be (N, {G.s_dim}) and (N, {G.s_rgb_dim}), "
                         f"got {tuple(s.shape)} and {tuple(s_rgb.shape)}")
    mean = np.asarray(mean, dtype=np.float64).reshape(-1)
    std = np.asarray(std, dtype=np.float64).reshape(-1)
    if mean.shape != (G.s_dim,) or std.shape != (G.s_dim,):
        raise ValueError(f"mean/std must have {G.s_dim} entries, got {mean.shape} and {std.shape}")
    values = torch.as_tensor(np.stack([mean + sigma * std, mean - sigma * std]), dtype=torch.float32, device=device)
    chans = np.arange(G.s_dim) if channels is None else np.asarray(channels, dtype=np.int64).reshape(-1)
    if len(chans) and (chans.min() < 0 or chans.max() >= G.s_dim or len(np.unique(chans)) != len(chans)):
        raise ValueError(f"channels must be distinct indices in [0, {G.s_dim})")
    return s, s_rgb, values, chans


def _finish(sums: np.ndarray) -> np.ndarray:
    """Normalize the summed per-image directions; zero rows stay zero (and are reported)."""
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    zero = int((norms[:, 0] == 0).sum())
    if zero:
        log.warning("R_s: %d channel(s) changed no CLIP embedding at all; their rows are zero", zero)
    return (sums / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def _directions(clip, plus: torch.Tensor, minus: torch.Tensor) -> torch.Tensor:
    """Unit CLIP embeddings of both renders -> normalized differences (same leading shape)."""
    e_plus = encode_images(clip.model, plus, normalize=clip.normalize)
    e_minus = encode_images(clip.model, minus, normalize=clip.normalize)
    return F.normalize(e_plus - e_minus, dim=-1)


@torch.no_grad()
def relevance_reference(G, clip, base_s, base_s_rgb, mean, std, sigma: float = 5.0,
                        channels: Sequence[int] | None = None, batch_size: int = 64,
                        progress: bool = False) -> np.ndarray:
    """R_s rows of `channels` (default: all) the slow, obviously correct way -> float32 (n, clip_dim).

    Channel after channel: copy the base codes, set the channel to mean +- sigma*std, render the
    whole generator and CLIP-encode, `batch_size` images at a time.
    """
    s, s_rgb, values, chans = _prepare(G, base_s, base_s_rgb, mean, std, sigma, channels)
    rows = []
    for c in tqdm(chans, desc="R_s reference", unit="ch", disable=not progress):
        total = 0.0
        for lo in range(0, s.shape[0], batch_size):
            renders = []
            for value in values[:, c]:
                code = s[lo : lo + batch_size].clone()
                code[:, c] = value
                renders.append(G.synthesis(code, s_rgb[lo : lo + batch_size], noise_mode="const"))
            total = total + _directions(clip, *renders).double().sum(0)
        rows.append(np.asarray(total))
    return _finish(np.stack(rows)) if rows else np.zeros((0, 0), np.float32)


@torch.no_grad()
def relevance_fast(G, clip, base_s, base_s_rgb, mean, std, sigma: float = 5.0,
                   channels: Sequence[int] | None = None, batch_size: int = 256,
                   progress: bool = False) -> np.ndarray:
    """The same rows as `relevance_reference`, computed in batches that reuse the shared work.

    A forward renders about `batch_size` images: all N base images (at most batch_size / 2 of
    them at a time) x both signs x as many channels as fit. For each image batch the synthesis
    state is advanced layer by layer once; for each conv layer the base convolution is computed
    once, and each channel costs a single-channel convolution plus the layers after it.
    """
    s, s_rgb, values, chans = _prepare(G, base_s, base_s_rgb, mean, std, sigma, channels)
    n_images = s.shape[0]
    img_batch = max(1, min(n_images, batch_size // 2))
    ch_batch = max(1, batch_size // (2 * img_batch))
    wanted = {int(c) for c in chans}
    sums: dict[int, torch.Tensor] = {}
    end = len(G.layer_table)
    bar = tqdm(total=len(chans) * n_images, desc="R_s", unit="img", disable=not progress)
    for lo in range(0, n_images, img_batch):
        s_b, s_rgb_b = s[lo : lo + img_batch], s_rgb[lo : lo + img_batch]
        b = s_b.shape[0]
        state, done = G.initial_state(b), 0
        for pos, layer in enumerate(G.layer_table):
            local = [c - layer.start for c in range(layer.start, layer.stop) if layer.kind == "conv" and c in wanted]
            if not local:
                continue
            state, done = G.run_layers(state, s_b, s_rgb_b, done, pos, noise_mode="const"), pos
            x, skip = state
            styled = G.get_submodule(layer.name)
            style = s_b[:, layer.slice]
            base, _ = styled.conv.forward_undemodulated(x, style)
            for k in range(0, len(local), ch_batch):
                idx = torch.tensor(local[k : k + ch_batch], device=s.device)
                n = len(idx)
                y, dcoefs = styled.conv.forward_channels_set(x, style, idx, values[:, layer.start + idx], base=base)
                copies = 2 * n  # samples are ordered (sign, channel, image)
                x1 = styled.finish(y, dcoefs, G.noise_input(layer, copies * b, "const", like=y))
                # repeat() drops the channels_last layout the synthesis keeps (mixed layouts are slow)
                skip1 = None if skip is None else skip.repeat(copies, 1, 1, 1).contiguous(
                    memory_format=torch.channels_last)
                _, images = G.run_layers((x1, skip1), s_b.repeat(copies, 1), s_rgb_b.repeat(copies, 1),
                                         pos + 1, end, noise_mode="const")
                images = images.view(2, n * b, *images.shape[1:])
                d = _directions(clip, images[0], images[1]).view(n, b, -1).double().sum(1)
                for j, c in enumerate(idx.tolist()):
                    key = layer.start + c
                    sums[key] = sums[key] + d[j] if key in sums else d[j]
                bar.update(n * b)
    bar.close()
    if not len(chans):
        return np.zeros((0, 0), np.float32)
    return _finish(torch.stack([sums[int(c)] for c in chans]).numpy())


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def load_relevance(path: str | os.PathLike, config_key: str, s_dim: int | None = None,
                   clip_dim: int | None = None) -> np.ndarray:
    """Load R_s (an .npy of shape (S_dim, clip_dim)) as float32, checking shape and finiteness.

    s_dim / clip_dim, if given, are the sizes the caller's generator and CLIP expect.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{config_key}: no file at {path} (expected R_s, an .npy of shape (S_dim, clip_dim) "
                              "written by the relevance stage)")
    try:
        rs = np.load(path, allow_pickle=False)
    except Exception as exc:  # not an .npy, truncated, object array
        raise CheckpointError(
            f"{config_key}: cannot read {path} as an .npy array: {type(exc).__name__}: {exc}") from None
    expected = (s_dim if s_dim is not None else "S_dim", clip_dim if clip_dim is not None else "clip_dim")
    if (rs.ndim != 2 or (s_dim is not None and rs.shape[0] != s_dim)
            or (clip_dim is not None and rs.shape[1] != clip_dim)):
        raise DataError(f"{config_key}: R_s in {path} has shape {rs.shape}, expected ({expected[0]}, {expected[1]}) "
                        "(was it computed for another generator or CLIP?)")
    if not np.issubdtype(rs.dtype, np.floating):
        raise DataError(f"{config_key}: R_s in {path} has dtype {rs.dtype}, expected floats")
    if not np.isfinite(rs).all():
        raise DataError(f"{config_key}: R_s in {path} has {int((~np.isfinite(rs)).sum())} non-finite values")
    return rs.astype(np.float32, copy=False)


def load_style_stats(path: str | os.PathLike, config_key: str = "relevance.stats") -> tuple[np.ndarray, np.ndarray]:
    """Load the per-channel S (mean, std) the relevance stage writes (s_stats.npz), float64 (S_dim,)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{config_key}: no file at {path} (expected s_stats.npz with arrays mean and std)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise CheckpointError(
            f"{config_key}: cannot read {path} as an .npz file: {type(exc).__name__}: {exc}") from None
    missing = [k for k in ("mean", "std") if k not in arrays]
    if missing:
        raise DataError(f"{config_key}: {path} lacks the array(s) {missing} (has {sorted(arrays)})")
    mean, std = arrays["mean"].astype(np.float64), arrays["std"].astype(np.float64)
    if mean.ndim != 1 or mean.shape != std.shape:
        raise DataError(f"{config_key}: {path} has mean {mean.shape} and std {std.shape}, expected two (S_dim,) arrays")
    if not (np.isfinite(mean).all() and np.isfinite(std).all()) or (std < 0).any():
        raise DataError(f"{config_key}: {path} has non-finite values or negative std")
    return mean, std
