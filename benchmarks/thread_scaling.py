"""Threads per job: what a second thread gives the heavy mini-world jobs, against a second job beside it.

    python benchmarks/thread_scaling.py [--run results/mini] [--jobs generator encoder clip mapper-s mapper-wplus]

Each job is the workflow's own command (`deltaspace train-...`) with the shipped config's settings
and fewer steps, run three ways: alone with 1 thread, alone with 2 threads, and two copies side by
side with 1 thread each. Its training seconds (the command's own summary, imports excluded) give

* speedup_2t: alone-1-thread / alone-2-threads (what `threads: 2` buys one job);
* pair_slowdown: side-by-side / alone at 1 thread (what sharing the machine with a second job costs);
* best: on 2 cores, two 1-thread jobs do 2 / pair_slowdown jobs' worth of work per unit time,
  one 2-thread job speedup_2t; the larger wins (config key `threads`).

The mapper jobs and the encoder read a finished run's shards and generator (--run). Needs 2 free cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
STEPS = {"generator": 120, "encoder": 90, "clip": 60, "mapper-s": 400, "mapper-wplus": 90}


def flags(settings: dict) -> list[str]:
    out = []
    for key, value in settings.items():
        out += [f"--{key.replace('_', '-')}", json.dumps(value) if isinstance(value, (dict, list)) else str(value)]
    return out


def command(job: str, run: Path, config: dict, out: Path) -> list[str]:
    mini, seed = config["mini"], config["seed"]
    generator = {"format": "deltaspace", "checkpoint": str(run / "models" / "generator.pt")}
    base = [sys.executable, "-m", "deltaspace"]
    if job == "generator":
        return base + ["train-generator", "--out", str(out)] + flags({**mini["generator"], "steps": STEPS[job], "seed": seed})
    if job == "encoder":
        return base + ["train-encoder", "--out", str(out), "--generator", generator["checkpoint"]] + flags(
            {**mini["encoder"], "steps": STEPS[job], "seed": seed})
    if job == "clip":
        return base + ["train-clip", "--out", str(out)] + flags(
            {**mini["clip"], "steps": STEPS[job], "image_steps": STEPS[job], "seed": seed, "size": mini["resolution"]})
    space = job.split("-")[1]
    name = {"s": "deltaedit", "wplus": "wplus"}[space]
    tables = [{"codes": str(run / "codes" / "mini-ffhq"), "clip": str(run / "clip" / "mini-ffhq"), "split": "train"},
              {"codes": str(run / "codes" / "fakes"), "clip": str(run / "clip" / "fakes"), "split": None}]
    return base + ["train-delta-mapper", "--out", str(out), "--generator", json.dumps(generator),
                   "--collections", json.dumps(tables)] + flags({**config["mappers"][name], "steps": STEPS[job], "seed": seed})


def train_seconds(stdout: str) -> float:
    summary = json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])
    return float(summary.get("train_seconds") or summary["seconds"])


def timed(commands: list[list[str]], threads: int) -> list[float]:
    """Start the commands together, each with `threads` threads; their training seconds."""
    # the commands log to stderr and end it with their JSON summary
    procs = [subprocess.Popen(cmd + ["--threads", str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, cwd=REPO) for cmd in commands]
    outs = [p.communicate()[1] for p in procs]
    for cmd, p in zip(commands, procs):
        if p.returncode:
            raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}")
    return [train_seconds(o) for o in outs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=REPO / "results" / "mini", help="a finished mini run (models, shards)")
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--jobs", nargs="+", default=list(STEPS), choices=list(STEPS))
    args = ap.parse_args()
    config = yaml.safe_load(args.config.read_text())
    print(f"{'job':14s} {'steps':>5s} {'1 thread':>9s} {'2 threads':>9s} {'speedup_2t':>10s} "
          f"{'pair (1t each)':>14s} {'pair_slowdown':>13s}  best on 2 cores")
    with tempfile.TemporaryDirectory() as tmp:
        for job in args.jobs:
            cmd = lambda k: command(job, args.run.resolve(), config, Path(tmp) / f"{job}-{k}.pt")  # noqa: E731
            one, = timed([cmd(0)], 1)
            two, = timed([cmd(0)], 2)
            pair = max(timed([cmd(0), cmd(1)], 1))
            speedup, slowdown = one / two, pair / one
            best = "1-thread jobs" if 2 / slowdown > speedup else "2-thread jobs"
            print(f"{job:14s} {STEPS[job]:5d} {one:8.1f}s {two:8.1f}s {speedup:10.2f} {pair:13.1f}s {slowdown:13.2f}  "
                  f"{best} ({2 / slowdown:.2f} vs {speedup:.2f} jobs' work per unit time)", flush=True)


if __name__ == "__main__":
    main()
