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
