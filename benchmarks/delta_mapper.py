"""Delta Mapper training: memory vs training-set size, and throughput vs the official topology.

(a) Peak memory. Synthetic shards at the real size (S 6048, CLIP 512) are written to a temp dir;
    training tables of --rows sizes (default 20k and 80k rows) are trained for --steps steps by
    the real trainer (train_delta_mapper), each in its own subprocess, which reports its peak RSS
    (ru_maxrss). The streaming sampler holds a window of shards per stream, so the peak must not
    grow with the table; the official code's whole-array loading would need rows * 6560 * 4 bytes
    on top of the model (printed beside it). Larger tables reuse the distinct shards through
    hard links (the sampler reads them as separate shards), so the benchmark writes little.
(b) Throughput: training steps (batch 64, 2 threads, MSE + cos, Adam) of our folded DeltaMapper and
    of the official topology (EqualizedDeltaMapper: equalized-lr layers that rescale their weights
    on every forward), in the same process on the same in-memory batches, interleaved in rounds.
(c) --mini: samples/s of the mini-world mapper (S 672 of the 32 px generator, CLIP 128) at a few
    batch sizes, to size the mini config.

Usage: python benchmarks/delta_mapper.py [--rows 20000 80000] [--steps 80] [--shard-rows 2000]
       [--threads 2] [--memory-threads N] [--mini] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from deltaspace.io.shards import shard_name, write_manifest, write_shard
from deltaspace.models.delta_mapper import (DeltaMapper, EqualizedDeltaMapper, count_parameters, delta_condition,
                                            levels_for_space)
from deltaspace.models.stylegan2 import Generator
from deltaspace.training.delta_mapper import mapper_loss


def real_levels():
    with torch.device("meta"):
        return levels_for_space(Generator(1024, style_dim=512, n_mlp=8, channel_multiplier=2), "s")


def mini_levels():
    with torch.device("meta"):
        G = Generator(32, style_dim=512, n_mlp=2, channel_multiplier=1, channels={4: 128, 8: 128, 16: 64, 32: 32})
        return levels_for_space(G, "s")


# ---------------------------------------------------------------------------------------------
# (a) memory
# ---------------------------------------------------------------------------------------------

def write_distinct_shards(folder: Path, n_shards: int, shard_rows: int, s_dim: int, clip_dim: int) -> list[tuple[Path, Path]]:
    rng = np.random.default_rng(0)
    out = []
    for part in range(n_shards):
        idx = np.arange(part * shard_rows, (part + 1) * shard_rows)
        s = rng.standard_normal((shard_rows, s_dim), dtype=np.float32)
        clip = rng.standard_normal((shard_rows, clip_dim), dtype=np.float32)
        clip /= np.linalg.norm(clip, axis=1, keepdims=True)
        c = write_shard(folder / "distinct" / "codes" / shard_name(part), {"index": idx, "s": s})
        k = write_shard(folder / "distinct" / "clip" / shard_name(part), {"index": idx, "clip": clip})
        out.append((c, k))
    return out


def make_table(folder: Path, distinct: list[tuple[Path, Path]], rows: int, shard_rows: int) -> dict:
    """A table of `rows` rows whose shards are hard links to the distinct ones, cycled."""
    codes, clip = folder / f"rows-{rows}" / "codes", folder / f"rows-{rows}" / "clip"
    codes.mkdir(parents=True, exist_ok=True)
    clip.mkdir(parents=True, exist_ok=True)
    cparts, kparts = [], []
    for part in range(rows // shard_rows):
        c_src, k_src = distinct[part % len(distinct)]
        for src, dst_dir, parts in ((c_src, codes, cparts), (k_src, clip, kparts)):
            dst = dst_dir / shard_name(part)
            if not dst.exists():
                os.link(src, dst)
            parts.append(dst)
    write_manifest(codes, cparts, rows)
    write_manifest(clip, kparts, rows)
    return {"codes": str(codes), "clip": str(clip), "split": None}


def child_train(args) -> None:
    """Subprocess: train on one table, print the summary and the peak RSS as JSON."""
    from deltaspace.training.delta_mapper import train_delta_mapper

    levels = real_levels() if args.levels == "real" else mini_levels()
    summary = train_delta_mapper(Path(args.out), collections=[json.loads(args.table)], levels=levels, space="s",
                                 condition="delta", steps=args.steps, batch_size=args.batch, lr=0.5, seed=0,
                                 threads=args.threads, heldout_pairs=256)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak_mb, 1), **{k: summary[k] for k in (
        "training_rows", "shards", "shard_reads", "peak_live_shards", "samples_per_second", "data_seconds",
        "train_seconds")}}))


def bench_memory(args, tmp: Path) -> list[dict]:
    s_dim, clip_dim = (6048, 512) if args.levels == "real" else (672, 128)
    n_distinct = max(1, min(args.rows) // args.shard_rows)
    t0 = time.time()
    distinct = write_distinct_shards(tmp, n_distinct, args.shard_rows, s_dim, clip_dim)
    print(f"wrote {n_distinct} distinct shards of {args.shard_rows} rows (S {s_dim}, CLIP {clip_dim}) "
          f"in {time.time() - t0:.0f} s")
    results = []
    for rows in args.rows:
        table = make_table(tmp, distinct, rows, args.shard_rows)
        cmd = [sys.executable, __file__, "_child", "--table", json.dumps(table), "--out", str(tmp / f"m-{rows}.pt"),
               "--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.memory_threads or args.threads),
               "--levels", args.levels]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"child failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        r["whole_table_arrays_mb"] = round(rows * (s_dim + clip_dim) * 4 / 2**20, 1)
        results.append(r)
        print(f"rows {rows:>7}: peak RSS {r['peak_rss_mb']:8.1f} MB  (loading the table whole would add "
              f"{r['whole_table_arrays_mb']:.0f} MB)  shards {r['shards']}, reads {r['shard_reads']}, "
              f"peak live shards {r['peak_live_shards']}, {r['samples_per_second']} samples/s "
              f"(data {r['data_seconds']} s of {r['train_seconds']} s)")
    return results


# ---------------------------------------------------------------------------------------------
# (b) throughput
# ---------------------------------------------------------------------------------------------

def time_steps(model: DeltaMapper, opt, batches) -> float:
    t0 = time.perf_counter()
    for code, i1, i2, target in batches:
        loss, _ = mapper_loss(model(code, delta_condition(i1, i2)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def bench_throughput(levels, clip_dim: int, batch: int, steps: int, rounds: int, label: str) -> dict:
    torch.manual_seed(0)
    ref = EqualizedDeltaMapper(levels, clip_dim)
    ours = DeltaMapper(levels, clip_dim)
    ours.load_state_dict(ref.folded_state_dict())
    d = ours.code_dim
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(batch, d, generator=g), torch.randn(batch, clip_dim, generator=g),
                torch.randn(batch, clip_dim, generator=g), torch.randn(batch, d, generator=g)) for _ in range(steps)]
    models = {"ours (folded nn.Linear)": (ours, torch.optim.Adam(ours.param_groups(0.5))),
              "official topology (EqualLinear)": (ref, torch.optim.Adam(ref.parameters(), lr=0.5))}
    for model, opt in models.values():  # warm-up
        time_steps(model, opt, batches[:2])
    seconds = {k: 0.0 for k in models}
    for _ in range(rounds):
        for name, (model, opt) in models.items():
            seconds[name] += time_steps(model, opt, batches)
    rates = {k: rounds * steps * batch / v for k, v in seconds.items()}
    names = list(models)
    ratio = rates[names[0]] / rates[names[1]]
    print(f"{label}: {count_parameters(ours):,} parameters, batch {batch}, {torch.get_num_threads()} threads")
    for k, v in rates.items():
        print(f"  {k:34s} {v:8.1f} samples/s")
    print(f"  ratio ours / official: {ratio:.2f}x")
    return {"samples_per_second": {k: round(v, 1) for k, v in rates.items()}, "ratio": round(ratio, 3)}


def bench_mini(batches: list[int], steps: int) -> dict:
    levels = mini_levels()
    torch.manual_seed(0)
    model = DeltaMapper(levels, 128)
    opt = torch.optim.Adam(model.param_groups(0.5))
    out = {}
    for batch in batches:
        data = [(torch.randn(batch, model.code_dim), torch.randn(batch, 128), torch.randn(batch, 128),
                 torch.randn(batch, model.code_dim)) for _ in range(steps)]
        time_steps(model, opt, data[:2])
        out[batch] = round(steps * batch / time_steps(model, opt, data), 1)
    print(f"mini mapper ({count_parameters(model):,} parameters, S {model.code_dim}, CLIP 128): "
          + ", ".join(f"batch {b}: {r} samples/s" for b, r in out.items()))
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        p = argparse.ArgumentParser()
        p.add_argument("_child")
        for a in ("--table", "--out", "--levels"):
            p.add_argument(a, required=True)
        for a in ("--steps", "--batch", "--threads"):
            p.add_argument(a, type=int, required=True)
        child_train(p.parse_args())
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[20_000, 80_000])
    p.add_argument("--steps", type=int, default=80, help="training steps per memory run")
    p.add_argument("--shard-rows", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-threads", type=int, help="threads of the memory runs (default: --threads)")
    p.add_argument("--throughput-steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-memory", action="store_true", help="skip part (a)")
    p.add_argument("--mini", action="store_true", help="also time the mini-world mapper")
    p.add_argument("--smoke", action="store_true", help="mini-size data, few steps: checks the script runs")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args()
    args.levels = "mini" if args.smoke else "real"
    if args.smoke:
        args.rows, args.steps, args.shard_rows, args.throughput_steps, args.rounds = [400, 800], 6, 100, 2, 1
    torch.set_num_threads(args.threads)
    start = time.time()
    memory = None
    if not args.no_memory:
        with tempfile.TemporaryDirectory(prefix="bench-delta-mapper-") as tmp:
            memory = bench_memory(args, Path(tmp))
    levels, clip_dim = (real_levels(), 512) if args.levels == "real" else (mini_levels(), 128)
    throughput = bench_throughput(levels, clip_dim, args.batch, args.throughput_steps, args.rounds,
                                  f"{args.levels} Delta Mapper training step")
    mini = bench_mini([64, 256, 512], 20 if not args.smoke else 2) if args.mini else None
    print(f"total {time.time() - start:.0f} s; load average (1, 5, 15 min) at the end: {os.getloadavg()} "
          f"on {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps({"memory": memory, "throughput": throughput, "mini": mini}, indent=2))


if __name__ == "__main__":
    main()
