"""Train a Delta Mapper on pairs of training images, streamed from Parquet shards.

Training set: the union of training collections, each a codes collection (S or W+ codes) plus its
row-aligned CLIP collection, optionally restricted to the rows of one split (e.g. only split=="train"
rows of codes/mini-ffhq, all rows of codes/fakes).

Pairs: anchor and partner come from two independent `ShardStream`s over that union. Per epoch a
stream walks the shards in a random order and serves the rows of each window of `window`
consecutive shards (default 2: a small shuffle buffer across two shards) in a random order, so
every row appears once per epoch in each stream and, over an epoch, each partner is uniform over
the whole training set. Only the current window is in memory (per stream), never the collection:
memory does not grow with the training-set size. Every permutation comes from deltaspace.rng,
keyed by (seed, stream name, epoch, window), so the pairs do not depend on the thread count.

Loss (DeltaEdit): MSE(ds_hat, ds) + (1 - cos(ds_hat, ds)) on the whole code vector (cosine per
sample, averaged over the batch), target ds = code2 - code1, prediction ds_hat = M(code1,
condition(i1, i2)), the condition function being "delta" (DeltaEdit) or "raw" (straightforward).

Optimiser: Adam with the folded mapper's per-parameter learning rates (DeltaMapper.param_groups:
equivalent to the official lr on equalized-lr layers), learning rate on a cosine schedule from
`lr` down to 0 over the run (short CPU runs converge better with the decay than at a constant lr;
schedule="constant" keeps it fixed).
"""

from __future__ import annotations

import logging
import math
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import rng
from ..errors import ConfigError, DataError
from ..io.shards import collection_folder, read_manifest, read_shard
from ..threads import torch_threads
from ..models.delta_mapper import (CONDITIONS, DEFAULT_ARCH, SPACES, DeltaMapper, LevelSpec,
                                   condition_function, save_delta_mapper)

log = logging.getLogger(__name__)

ANCHOR_STREAM = "delta-mapper/anchor"
PARTNER_STREAM = "delta-mapper/partner"
HELDOUT_STREAMS = ("delta-mapper/heldout-anchor", "delta-mapper/heldout-partner")
SCHEDULES = ("cosine", "constant")


# ---------------------------------------------------------------------------------------------
# Training set: shards of the union of collections
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CollectionSpec:
    codes: Path
    clip: Path
    split: str | None = None


@dataclass(frozen=True)
class ShardRef:
    """One codes shard with its CLIP shard; `rows` counts the rows that pass the split filter."""

    collection: int
    codes: Path
    clip: Path
    rows: int


class _Shard:
    """The rows of one shard a stream holds: codes (n, D) and CLIP embeddings (n, C), float32."""

    __slots__ = ("code", "clip", "__weakref__")

    def __init__(self, code: np.ndarray, clip: np.ndarray):
        self.code, self.clip = code, clip


def parse_collections(collections: Sequence[dict], config_key: str = "collections") -> list[CollectionSpec]:
    if not collections:
        raise ConfigError(f"{config_key}: no training collections")
    out = []
    for k, t in enumerate(collections):
        if not isinstance(t, dict) or not {"codes", "clip"} <= set(t):
            raise ConfigError(f"{config_key}[{k}]: expected {{'codes': folder, 'clip': folder, 'split': ...}}, got {t!r}")
        out.append(CollectionSpec(collection_folder(t["codes"]), collection_folder(t["clip"]), t.get("split")))
    return out


def _list_size(path: Path, column: str) -> int | None:
    schema = pq.read_schema(path)
    if column not in schema.names:
        return None
    return getattr(schema.field(column).type, "list_size", None)


class TrainingSet:
    """The shards of the union of the training collections and a reader for one shard at a time.

    space "s" reads column "s"; space "wplus" reads "wplus", or "w" repeated n_latent times for
    collections that store only w (the fakes). `live_shards` / `peak_live_shards` count the shards
    loaded and not yet freed (tracked by weakref finalizers, i.e. really released memory).
    """

    def __init__(self, collections: Sequence[CollectionSpec], space: str, code_dim: int, config_key: str = "collections"):
        if space not in SPACES:
            raise ConfigError(f"space: unknown code space {space!r}, expected one of {SPACES}")
        self.collections, self.space, self.code_dim, self.config_key = list(collections), space, int(code_dim), config_key
        self.shards: list[ShardRef] = []
        self.columns: list[tuple[str, int]] = []  # per collection: (code column, repeat)
        self.clip_dim: int | None = None
        self.collection_rows: list[int] = []
        for k, t in enumerate(self.collections):
            self._add_collection(k, t)
        if not self.shards:
            raise DataError(f"{config_key}: the training collections hold no rows (after the split filters)")
        self.rows = sum(s.rows for s in self.shards)
        self.live_shards = 0
        self.peak_live_shards = 0
        self.shard_reads = 0

    def _add_collection(self, k: int, t: CollectionSpec) -> None:
        key = f"{self.config_key}[{k}]"
        codes_m, clip_m = read_manifest(t.codes), read_manifest(t.clip)
        codes_rows = [e["rows"] for e in codes_m["shards"]]
        if codes_rows != [e["rows"] for e in clip_m["shards"]]:
            raise DataError(f"{key}: {t.clip} is not row-aligned with {t.codes} (shard row counts differ)")
        first = t.codes / codes_m["shards"][0]["file"]
        if self.space == "s":
            column, width = "s", _list_size(first, "s")
        else:
            column, width = "wplus", _list_size(first, "wplus")
            if width is None:
                column, width = "w", _list_size(first, "w")
        if width is None or self.code_dim % width or (column != "w" and width != self.code_dim):
            raise DataError(f"{key}.codes: {t.codes} has no {self.space} code column of width {self.code_dim} "
                            f"(columns: {sorted(codes_m['schema'])})")
        self.columns.append((column, self.code_dim // width))
        clip_dim = _list_size(t.clip / clip_m["shards"][0]["file"], "clip")
        if clip_dim is None or (self.clip_dim is not None and clip_dim != self.clip_dim):
            raise DataError(f"{key}.clip: {t.clip} has no 'clip' column of width {self.clip_dim or 'N'}")
        self.clip_dim = clip_dim
        if t.split is not None and "split" not in codes_m["schema"]:
            raise ConfigError(f"{key}.split: {t.codes} has no 'split' column to filter on")
        total = 0
        for ce, ke in zip(codes_m["shards"], clip_m["shards"]):
            rows = ce["rows"]
            if t.split is not None:  # only the split column: cheap
                rows = int((read_shard(t.codes / ce["file"], ["split"])["split"] == t.split).sum())
            if rows:
                self.shards.append(ShardRef(k, t.codes / ce["file"], t.clip / ke["file"], rows))
            total += rows
        self.collection_rows.append(total)

    def _released(self) -> None:
        self.live_shards -= 1

    def load(self, ref: ShardRef) -> _Shard:
        """Read one shard's code and CLIP columns (split-filtered); the one place shards are read."""
        t = self.collections[ref.collection]
        column, repeat = self.columns[ref.collection]
        codes = read_shard(ref.codes, ["index", column] + (["split"] if t.split is not None else []))
        clip = read_shard(ref.clip, ["index", "clip"])
        if not np.array_equal(codes["index"], clip["index"]):
            raise DataError(f"{self.config_key}[{ref.collection}]: {ref.clip} is not row-aligned with {ref.codes} "
                            f"(index columns differ)")
        code, emb = codes[column], clip["clip"]
        if t.split is not None:
            keep = codes["split"] == t.split
            code, emb = code[keep], emb[keep]
        if repeat > 1:  # W+ of a collection that stores w: every entry is w
            code = np.tile(code, (1, repeat))
        shard = _Shard(np.ascontiguousarray(code, dtype=np.float32), np.ascontiguousarray(emb, dtype=np.float32))
        self.shard_reads += 1
        self.live_shards += 1
        self.peak_live_shards = max(self.peak_live_shards, self.live_shards)
        weakref.finalize(shard, self._released)
        return shard


def _permutation(seed: int, stream: str, n: int) -> np.ndarray:
    """A random permutation of range(n) from deltaspace.rng (sorting n counter-based uniforms)."""
    return np.argsort(rng.uniform(seed, stream, np.arange(n), 1)[:, 0], kind="stable")


class ShardStream:
    """An endless stream of training rows: shards in a random order per epoch, rows shuffled
    within windows of `window` consecutive shards. Holds one window at a time."""

    def __init__(self, data: TrainingSet, seed: int, name: str, window: int = 2):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.data, self.seed, self.name, self.window = data, int(seed), name, int(window)
        self.epoch, self._window_index = 0, 0
        self._order = self._shard_order(0)
        self._shards: list[_Shard] = []
        self._offsets = np.zeros(1, dtype=np.int64)
        self._perm = np.zeros(0, dtype=np.int64)
        self._pos = 0

    def _shard_order(self, epoch: int) -> list[ShardRef]:
        perm = _permutation(self.seed, f"{self.name}/epoch-{epoch}/shards", len(self.data.shards))
        return [self.data.shards[i] for i in perm]

    def _next_window(self) -> None:
        self._shards = []  # release the previous window before reading the next one
        start = self._window_index * self.window
        if start >= len(self._order):
            self.epoch += 1
            self._window_index, start = 0, 0
            self._order = self._shard_order(self.epoch)
        refs = self._order[start:start + self.window]
        self._shards = [self.data.load(r) for r in refs]
        self._offsets = np.cumsum([0] + [len(s.code) for s in self._shards])
        self._perm = _permutation(self.seed, f"{self.name}/epoch-{self.epoch}/window-{self._window_index}",
                                  int(self._offsets[-1]))
        self._pos = 0
        self._window_index += 1

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        code = np.empty((len(rows), self.data.code_dim), dtype=np.float32)
        clip = np.empty((len(rows), self.data.clip_dim), dtype=np.float32)
        which = np.searchsorted(self._offsets, rows, side="right") - 1
        for k in np.unique(which):
            sel = which == k
            local = rows[sel] - self._offsets[k]
            code[sel] = self._shards[k].code[local]
            clip[sel] = self._shards[k].clip[local]
        return code, clip

    def next(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The next n rows: (codes (n, D), CLIP embeddings (n, C)), copies (the window can go)."""
        codes, clips, need = [], [], n
        while need:
            if self._pos >= len(self._perm):
                self._next_window()
            take = self._perm[self._pos:self._pos + need]
            self._pos += len(take)
            need -= len(take)
            c, e = self._gather(take)
            codes.append(c)
            clips.append(e)
        if len(codes) == 1:
            return codes[0], clips[0]
        return np.concatenate(codes), np.concatenate(clips)

    def release(self) -> None:
        self._shards = []


class PairSampler:
    """(code1, i1, code2, i2) batches from two independent streams over the same training set."""

    def __init__(self, data: TrainingSet, seed: int, streams: tuple[str, str] = (ANCHOR_STREAM, PARTNER_STREAM),
                 window: int = 2):
        self.anchor = ShardStream(data, seed, streams[0], window)
        self.partner = ShardStream(data, seed, streams[1], window)

    def next(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        c1, i1 = self.anchor.next(n)
        c2, i2 = self.partner.next(n)
        return tuple(torch.from_numpy(a) for a in (c1, i1, c2, i2))

    def release(self) -> None:
        self.anchor.release()
        self.partner.release()


# ---------------------------------------------------------------------------------------------
# Loss and training
# ---------------------------------------------------------------------------------------------

def mapper_loss(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """MSE(pred, target) + (1 - mean cosine(pred, target)), both on the whole code vector."""
    mse = F.mse_loss(pred, target)
    cos = F.cosine_similarity(pred, target, dim=1).mean()
    loss = mse + (1.0 - cos)
    return loss, {"loss": loss.item(), "mse": mse.item(), "cos": cos.item()}


def lr_factor(step: int, steps: int, schedule: str) -> float:
    """Multiplier of the base learning rates at `step`: cosine from 1 to 0, or constant 1."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


@torch.no_grad()
def evaluate_pairs(mapper: DeltaMapper, pairs, condition: str, batch_size: int = 256) -> dict:
    """Mean loss / MSE / cosine of the mapper on fixed pairs (c1, i1, c2, i2)."""
    cond_fn = condition_function(condition)
    was_training = mapper.training
    mapper.eval()
    c1, i1, c2, i2 = pairs
    totals = {"loss": 0.0, "mse": 0.0, "cos": 0.0}
    sq, cos_sum = 0.0, 0.0
    for lo in range(0, len(c1), batch_size):
        sl = slice(lo, lo + batch_size)
        pred = mapper(c1[sl], cond_fn(i1[sl], i2[sl]))
        target = c2[sl] - c1[sl]
        sq += float((pred - target).square().sum())
        cos_sum += float(F.cosine_similarity(pred, target, dim=1).sum())
    mapper.train(was_training)
    n = len(c1)
    totals["mse"] = sq / (n * c1.shape[1])
    totals["cos"] = cos_sum / n
    totals["loss"] = totals["mse"] + 1.0 - totals["cos"]
    return {k: round(v, 6) for k, v in totals.items()}


def train_delta_mapper(
    out_path: str | os.PathLike,
    *,
    collections: Sequence[dict],
    levels: Sequence[LevelSpec],
    space: str,
    condition: str,
    arch: dict | None = None,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    threads: int = 1,
    window: int = 2,
    heldout_pairs: int = 512,
    schedule: str = "cosine",
    extra: dict | None = None,
) -> dict:
    """Train DeltaMapper(levels, clip_dim, **arch) on pairs from `collections`; save it to out_path.

    Returns the training summary (also stored in the checkpoint under extra["training"]).
    """
    if steps < 1 or batch_size < 1 or lr <= 0:
        raise ConfigError(f"train_delta_mapper: steps, batch_size and lr must be positive, got {steps}, {batch_size}, {lr}")
    if condition not in CONDITIONS:
        raise ConfigError(f"condition: unknown condition {condition!r}, expected one of {CONDITIONS}")
    if schedule not in SCHEDULES:
        raise ConfigError(f"schedule: unknown lr schedule {schedule!r}, expected one of {SCHEDULES}")
    unknown = sorted(set(arch or {}) - set(DEFAULT_ARCH))
    if unknown:
        raise ConfigError(f"arch: unknown Delta Mapper settings {unknown}, known: {sorted(DEFAULT_ARCH)}")
    with torch_threads(threads):
        return _train(Path(out_path), parse_collections(collections), list(levels), space, condition,
                      {**DEFAULT_ARCH, **(arch or {})}, steps, batch_size, lr, seed, threads, window,
                      heldout_pairs, schedule, dict(extra or {}))


def _train(out_path, collections, levels, space, condition, arch, steps, batch_size, lr, seed, threads, window,
           heldout_pairs, schedule, extra) -> dict:
    start = time.time()
    code_dim = sum(lv.width for lv in levels)
    data = TrainingSet(collections, space, code_dim)
    log.info("training set: %d rows in %d shards (%s)", data.rows, len(data.shards),
             ", ".join(f"{t.codes}: {n}" for t, n in zip(collections, data.collection_rows)))

    torch.manual_seed(seed)
    mapper = DeltaMapper(levels, data.clip_dim, **arch).train()
    cond_fn = condition_function(condition)
    opt = torch.optim.Adam(mapper.param_groups(lr))
    base_lrs = [g["lr"] for g in opt.param_groups]

    held = PairSampler(data, seed, HELDOUT_STREAMS, window)
    heldout = held.next(min(heldout_pairs, data.rows))
    held.release()
    del held
    heldout_before = evaluate_pairs(mapper, heldout, condition)

    sampler = PairSampler(data, seed, window=window)
    data_seconds, train_start = 0.0, time.perf_counter()
    recent: list[float] = []
    bar = tqdm(range(steps), desc=f"train delta mapper ({space}, {condition})", unit="step", mininterval=5.0)
    for step in bar:
        for group, base in zip(opt.param_groups, base_lrs):
            group["lr"] = base * lr_factor(step, steps, schedule)
        t0 = time.perf_counter()
        c1, i1, c2, i2 = sampler.next(batch_size)
        data_seconds += time.perf_counter() - t0
        pred = mapper(c1, cond_fn(i1, i2))
        loss, parts = mapper_loss(pred, c2 - c1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        recent.append(parts["loss"])
        if step % 50 == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{np.mean(recent[-50:]):.4f}", cos=f"{parts['cos']:.3f}")
    train_seconds = time.perf_counter() - train_start
    sampler.release()

    heldout_after = evaluate_pairs(mapper, heldout, condition)
    summary = {
        "space": space, "condition": condition, "steps": steps, "batch_size": batch_size, "lr": lr,
        "schedule": schedule, "seed": seed, "threads": threads, "window": window,
        "training_rows": data.rows, "collection_rows": [int(n) for n in data.collection_rows],
        "collections": [{"codes": str(t.codes), "clip": str(t.clip), "split": t.split} for t in collections],
        "shards": len(data.shards), "shard_reads": data.shard_reads, "peak_live_shards": data.peak_live_shards,
        "final_train_loss": round(float(np.mean(recent[-50:])), 6),
        "heldout_pairs": len(heldout[0]), "heldout_before": heldout_before, "heldout": heldout_after,
        "samples_per_second": round(steps * batch_size / max(train_seconds, 1e-9), 1),
        "data_seconds": round(data_seconds, 1), "train_seconds": round(train_seconds, 1),
        "seconds": round(time.time() - start, 1),
    }
    save_delta_mapper(out_path, mapper, space=space, condition=condition, extra={**extra, "training": summary})
    log.info("delta mapper trained: %s", summary)
    return summary
