"""The tiny workflow from nothing through workflow/profiles/slurm on the one-node Slurm of
scripts/slurm-local.sh: where the time goes, for one or more oversubscription settings side by side.

    sudo python benchmarks/slurm_tiny.py [--oversubscribe 1 2] [--all-datasets] [--keep DIR]

For each setting the cluster is (re)started with `slurm-local.sh start --oversubscribe N`, the tiny
config runs in a fresh folder exactly as the test suite runs it (tests/slurm_support.py: the shipped
profile, polling fit for seconds-long jobs, one thread per job; evaluation on one dataset, as
conftest.slurm_config, or on both with --all-datasets), and Slurm's own record of every job
(squeue --states=all: submitted, started, ended) is summarised:

* wall: the whole Snakemake run; jobs: Slurm jobs (the local rules run on the submitting machine);
* job_s: summed Slurm job durations (start to end: Snakemake twice, srun, the rule's command);
* wait_s: mean seconds from submission to start (queueing: the node was full, or the scheduler's delay);
* no_job_s: seconds of the run in which no Slurm job was running (local rules, polling latency, the
  main Snakemake's own work between jobs);
* cpu_busy: fraction of the machine's CPU time in use during the run (/proc/stat).

Needs root on Debian (like the test suite's Slurm tests); stops the cluster at the end if it started it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from conftest import TINY_CONFIG, slurm_config  # noqa: E402
from slurm_support import SCRIPT, Cluster, run_on_slurm, timed_out, write_profile  # noqa: E402

LIMIT_S = 3600


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def slurm_jobs(run_id: str) -> list[tuple[float, float, float]]:
    """(submitted, started, ended) epoch seconds of every Slurm job of the run."""
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--name", run_id, "--format=%V|%S|%e"],
                         capture_output=True, text=True, check=True).stdout
    stamp = lambda text: datetime.fromisoformat(text).timestamp()  # noqa: E731
    return [tuple(stamp(t) for t in line.strip().split("|")) for line in out.splitlines()]


def uncovered(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Seconds of [lo, hi] covered by none of the intervals."""
    covered, end = 0.0, lo
    for a, b in sorted(intervals):
        a, b = max(a, end), min(b, hi)
        if b > a:
            covered += b - a
            end = b
    return hi - lo - covered


def restart(oversubscribe: int) -> None:
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)
    proc = subprocess.run(["bash", str(SCRIPT), "start", "--oversubscribe", str(oversubscribe)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"slurm-local.sh start failed:\n{proc.stdout}{proc.stderr}")


def measure(oversubscribe: int, folder: Path, configfile: Path) -> dict:
    restart(oversubscribe)
    cluster = Cluster("local")
    workdir, profile = folder / f"run-{oversubscribe}", write_profile(folder / f"profile-{oversubscribe}", cluster)
    busy0, total0 = cpu_times()
    t0 = time.time()
    proc = run_on_slurm(workdir, profile, LIMIT_S, configfile=configfile)
    t1 = time.time()
    busy1, total1 = cpu_times()
    if timed_out(proc) or proc.returncode != 0:
        sys.exit(f"the run failed (oversubscribe {oversubscribe}):\n{proc.stderr[-4000:]}")
    run_id = next(line.split("SLURM run ID: ")[1].split()[0] for line in proc.stderr.splitlines()
                  if "SLURM run ID: " in line)
    jobs = slurm_jobs(run_id)
    return {
        "oversubscribe": oversubscribe,
        "wall_s": round(t1 - t0, 1),
        "jobs": len(jobs),
        "job_s": round(sum(e - s for _, s, e in jobs), 1),
        "wait_s": round(sum(s - q for q, s, _ in jobs) / len(jobs), 1),
        "no_job_s": round(uncovered([(s, e) for _, s, e in jobs], t0, t1), 1),
        "cpu_busy": round((busy1 - busy0) / (total1 - total0), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oversubscribe", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--all-datasets", action="store_true", help="evaluate on both datasets (the tiny config as is)")
    parser.add_argument("--keep", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="slurm-tiny-"))
    configfile = TINY_CONFIG if args.all_datasets else slurm_config(folder)
    rows = []
    try:
        for n in args.oversubscribe:
            rows.append(measure(n, folder, configfile))
            print(rows[-1], flush=True)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
