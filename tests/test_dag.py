"""What Snakemake plans for a target, from a dry run of the default config in an empty folder (seconds)."""

import re
import subprocess
import sys

from conftest import REPO


def dry_run(tmp_path, *args: str, configfile=REPO / "config" / "config.yaml") -> str:
    """The plan of `snakemake -n -p --cores 2 ARGS` with the default config, or `configfile` (nothing exists yet)."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(tmp_path), "--configfile", str(configfile),
                           "-n", "-p", "--cores", "2", *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def planned_jobs(plan: str) -> dict[str, int]:
    """{rule: job count} from the dry run's job-stats table."""
    stats = plan[plan.index("Job stats:"):]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m[1] != "total"}


def test_table1_target_needs_only_its_dataset(tmp_path):
    """results/table1.csv is the paper's Table 1 (mini-FFHQ): no mini-CelebA evaluation is planned for it,
    while the default target also builds the mini-CelebA table."""
    import yaml

    methods = len(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["methods"])
    plan = dry_run(tmp_path, "results/table1.csv")
    jobs = planned_jobs(plan)
    assert jobs["edit_images"] == jobs["evaluate"] == methods  # every method, one dataset
    assert "results/mini/edits/mini-celeba" not in plan and "results/mini/world/mini-celeba" not in plan
    everything = planned_jobs(dry_run(tmp_path))
    assert everything["edit_images"] == everything["evaluate"] == 2 * methods
    assert everything["table1_dataset"] == 2 and everything["fidelity_report"] == 1


def test_heavy_jobs_take_their_threads_from_the_config(tmp_path):
    plan = dry_run(tmp_path, "--config", "threads=2", "--", "results/mini/models/encoder.pt")
    assert re.search(r"deltaspace train-generator .*--threads 2 ", plan)
    assert re.search(r"deltaspace train-encoder .*--threads 2 ", plan)
    plan = dry_run(tmp_path, "results/mini/models/encoder.pt")
    assert re.search(r"deltaspace train-encoder .*--threads 1 ", plan)  # the default


PATH_IN_COMMAND = re.compile(r"results/[^\s'\",}\]]+")


def planned_commands(plan: str) -> list[dict]:
    """Each planned job's declared files ({"input", "output", "log", "benchmark"}: lists) and shell command."""
    jobs = []
    for block in re.split(r"^(?:local)?rule \w+:$", plan, flags=re.M)[1:]:
        files = {k: [] for k in ("input", "output", "log", "benchmark")}
        for m in re.finditer(r"^    (input|output|log|benchmark): (.*)$", block, re.M):
            files[m[1]] = m[2].split(", ")
        command = re.search(r"^Shell command: (.*)$", block, re.M)
        if command:
            jobs.append({**files, "command": command[1]})
    return jobs


def declared(path: str, job: dict) -> bool:
    """A path a command names is declared when it is an input or lies inside one (a folder input), or is an
    output, log or benchmark or the folder of one."""
    inside = lambda p, folder: p == folder or p.startswith(folder.rstrip("/") + "/")  # noqa: E731
    return (any(inside(path, f) for f in job["input"])
            or any(inside(f, path) for kind in ("output", "log", "benchmark") for f in job[kind]))


def test_every_file_a_job_reads_is_a_declared_input(tmp_path):
    """Stages are given their inputs' paths, never a folder or file found from the config behind Snakemake's back:
    a storage plugin (or a cluster's staging) then has every file a job reads. Checked on every job of the default
    target, the sweep and the seeds target."""
    jobs = planned_commands(dry_run(tmp_path, "all", "sweep", "results/table1-seeds.csv"))
    assert len(jobs) > 100
    undeclared = {(job["command"].split()[1], path) for job in jobs for path in PATH_IN_COMMAND.findall(job["command"])
                  if not declared(path, job)}
    assert not undeclared, sorted(undeclared)
    # the Delta Mapper reads every shard of its training collections: all of them are inputs
    mapper = next(job for job in jobs if job["command"].startswith("deltaspace train-delta-mapper"))
    assert {f"results/mini/codes/fakes/part-{p:05d}.parquet" for p in range(10)} <= set(mapper["input"])
