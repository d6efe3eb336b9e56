"""A Slurm cluster for the tests, and Snakemake runs on it through workflow/profiles/slurm.

The cluster is the one-node Slurm that scripts/slurm-local.sh starts on this machine (root on
Debian), or a running one named by DELTASPACE_SLURM_PARTITION (with DELTASPACE_SLURM_ACCOUNT, and
DELTASPACE_SLURM_TMP: a folder the compute nodes see, for the working folders); DELTASPACE_SLURM=off
runs no cluster (the Slurm tests skip, the second tiny run is local). Runs use the
profile as shipped, with its placeholders filled in and polling fit for seconds-long jobs, and are
wrapped in `timeout`, so that a lost job fails the run instead of hanging the test suite.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from conftest import REPO, TINY_CONFIG, snakemake_command

SCRIPT = REPO / "scripts" / "slurm-local.sh"
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
UNSUPPORTED = 3  # exit status of slurm-local.sh on a machine that cannot run Slurm
START_LIMIT_S = 600  # includes installing the Debian packages when they are missing
# Two jobs per core: the tiny jobs spend much of their life starting up, with the CPU partly idle
# (benchmarks/slurm_tiny.py: 463 s at 1, 419 s at 2 for the whole tiny workflow on 2 cores).
OVERSUBSCRIBE = 2


@dataclass
class Cluster:
    partition: str | None  # None: no cluster; `reason` says why
    account: str | None = None
    tmp: Path | None = None  # where working folders go (None: the test's own temporary folder)
    reason: str = ""
    failed: bool = False  # True: Slurm should have started here but did not (a test failure, not a skip)
    started_here: bool = False

    @property
    def available(self) -> bool:
        return self.partition is not None


def start_cluster() -> Cluster:
    if os.environ.get("DELTASPACE_SLURM") == "off":
        return Cluster(None, reason="DELTASPACE_SLURM=off")
    if os.environ.get("DELTASPACE_SLURM_PARTITION"):
        tmp = os.environ.get("DELTASPACE_SLURM_TMP")
        return Cluster(os.environ["DELTASPACE_SLURM_PARTITION"], os.environ.get("DELTASPACE_SLURM_ACCOUNT"),
                       Path(tmp) if tmp else None)
    proc = subprocess.run(["bash", str(SCRIPT), "start", "--oversubscribe", str(OVERSUBSCRIBE)],
                          capture_output=True, text=True, timeout=START_LIMIT_S)
    if proc.returncode == UNSUPPORTED:
        return Cluster(None, reason=proc.stderr.strip())
    if proc.returncode != 0:
        return Cluster(None, reason=f"scripts/slurm-local.sh start failed:\n{proc.stdout}{proc.stderr}", failed=True)
    return Cluster("local", started_here="already running" not in proc.stdout)


def stop_cluster(cluster: Cluster) -> None:
    if cluster.started_here:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)


def workfolder(cluster: Cluster, tmp: Path) -> Path:
    """A working folder for a run on `cluster`: `tmp`, or on an existing cluster a folder its nodes see."""
    if cluster.tmp:
        return Path(tempfile.mkdtemp(prefix="deltaspace-test-", dir=cluster.tmp))
    return tmp


def write_profile(folder: Path, cluster: Cluster, **settings) -> Path:
    """The shipped profile with its placeholders filled in for `cluster`, and polling fit for seconds-long jobs."""
    profile = yaml.safe_load(PROFILE.read_text())
    resources = profile["default-resources"]
    resources["slurm_partition"] = cluster.partition
    if cluster.account:
        resources["slurm_account"] = cluster.account
    else:
        del resources["slurm_account"]
    profile.update({
        "slurm-init-seconds-before-status-checks": 1,
        "seconds-between-status-checks": 1,
        "latency-wait": 5,
        "slurm-keep-successful-logs": True,  # evidence: Slurm's log of every job
        **settings,
    })
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


def run_on_slurm(workdir: Path, profile: Path, limit_s: int, *args: str,
                 configfile: Path = TINY_CONFIG) -> subprocess.CompletedProcess:
    """Snakemake through `profile`; killed after `limit_s` seconds (returncode 124 or -9 then)."""
    cmd = ["timeout", "-k", "10", str(limit_s),
           *snakemake_command(workdir, "--profile", str(profile), *args, configfile=configfile)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s + 60)


def timed_out(proc: subprocess.CompletedProcess) -> bool:
    # timeout exits 124 after TERM; after KILL (-k) it is killed itself, with its process group
    return proc.returncode in (124, 137, -9)
