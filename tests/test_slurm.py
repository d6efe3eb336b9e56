"""The tiny workflow on a real Slurm through workflow/profiles/slurm (cluster: tests/slurm_support.py).

The session's second tiny run (conftest.tiny_rerun) is, where a cluster is available, the whole tiny
workflow from nothing (renders, trainings, data stages, mappers, edits, metrics, tables; evaluation on
one dataset, conftest.SLURM_EVAL_DATASET) submitted through the profile as shipped. Checked here:
every job went through sbatch (but the rules marked local: manifests, tables) and Slurm reports it
COMPLETED; every output equals the local run's (tiny_run); a failing job fails the run and names its
logs. Each Slurm job starts Snakemake twice before its command (about 3.5 CPU-seconds each here).
Where Slurm cannot run (not root, not Debian) these tests skip and say why, and the second run is local.
"""

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from conftest import TINY_CONFIG, evaluated_elsewhere
from slurm_support import run_on_slurm, timed_out, write_profile

pytestmark = pytest.mark.slow
FAIL_LIMIT_S = 300  # one failing job; about 40 s here


@pytest.fixture(scope="module")
def cluster(slurm_cluster):
    if slurm_cluster.failed:
        pytest.fail(slurm_cluster.reason)
    if not slurm_cluster.available:
        pytest.skip(f"no Slurm to test on: {slurm_cluster.reason}")
    return slurm_cluster


@pytest.fixture(scope="module")
def slurm_run(cluster, tiny_rerun):
    assert tiny_rerun.on_slurm, "a cluster is available but the second tiny run did not use it"
    return tiny_rerun.workdir, tiny_rerun.log


# ---- what Snakemake's log says ---------------------------------------------------------------

# A job as Snakemake announces it (indented inside a group job): rule, outputs, job id, ...
JOB_BLOCK = re.compile(r"^ *(localrule|rule) (\w+):\n((?: +\S.*\n)+)", re.M)
SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.")


def job_outputs(log: str, local: bool) -> list[str]:
    """The first output of every job that Snakemake started locally (or not), as its log lists them."""
    outputs = []
    for kind, _, body in JOB_BLOCK.findall(log):
        output = re.search(r"^ +output: ([^,\n]+)", body, re.M)
        if output and (kind == "localrule") == local:
            outputs.append(output.group(1).strip())
    return outputs


def submissions(log: str) -> list[tuple[str, str, str]]:
    """(Snakemake job or group id, Slurm job id, Slurm's log of the job) of every sbatch submission."""
    return SUBMITTED.findall(log)


def slurm_states(run_id: str, slurm_ids: set[str]) -> dict[str, str]:
    """Slurm job id -> state, from Slurm itself: squeue (finished jobs stay there MinJobAge seconds),
    then sacct for jobs squeue has forgotten (on clusters with an accounting database)."""
    out = subprocess.run(["squeue", "--states=all", "--noheader", "--name", run_id, "--format=%i|%T"],
                         capture_output=True, text=True, timeout=60).stdout
    states = dict(line.strip().split("|") for line in out.splitlines())
    if slurm_ids - set(states) and shutil.which("sacct"):
        out = subprocess.run(["sacct", "-X", "-n", "-P", "--name", run_id, "--format=JobIDRaw,State"],
                             capture_output=True, text=True, timeout=60).stdout
        states.update(line.strip().split("|") for line in out.splitlines())
    return {slurm_id: states[slurm_id] for slurm_id in slurm_ids if slurm_id in states}


# Rules marked `localrule: True` (seconds of work: manifests, tables): the submitting Snakemake runs them.
LOCAL_RULES = {"collection_manifest", "editor_bundle", "table1_dataset", "table1", "claims", "claims_latest",
               "table5_world", "table5", "all"}


def rules_run(log: str, local: bool) -> set[str]:
    return {rule for kind, rule, _ in JOB_BLOCK.findall(log) if (kind == "localrule") == local}


def test_every_job_went_through_sbatch(slurm_run, tiny_run):
    workdir, log = slurm_run
    assert rules_run(log, local=True) == LOCAL_RULES, "only the local rules ran on the submitting machine"
    assert not rules_run(log, local=False) & LOCAL_RULES
    remote = job_outputs(log, local=False)
    # the whole workflow: every job of the local run (all local there), each once, here or on Slurm,
    # but those evaluating the dataset the Slurm run leaves out
    local_log = sorted((tiny_run / ".snakemake" / "log").glob("*.snakemake.log"))[0].read_text()
    expected = [out for out in job_outputs(local_log, local=True) if not evaluated_elsewhere(out)]
    assert remote and sorted(remote + job_outputs(log, local=True)) == sorted(expected)

    subs = submissions(log)
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    slurm_ids = {slurm_id for _, slurm_id, _ in subs}
    states = slurm_states(run_id, slurm_ids)
    assert set(states) == slurm_ids, f"Slurm knows {sorted(states)} of the submitted {sorted(slurm_ids)}"
    assert set(states.values()) == {"COMPLETED"}, states
    # Slurm's log of each of its jobs shows the Snakemake job it ran: each job ran in exactly one.
    ran_in = {out: [] for out in remote}
    for _, slurm_id, path in subs:
        assert Path(path).is_relative_to(workdir / ".snakemake" / "slurm_logs")
        text = Path(path).read_text()
        for out in remote:
            if re.search(rf"^ *output: {re.escape(out)}(,|$)", text, re.M):
                ran_in[out].append(slurm_id)
    assert all(len(ids) == 1 for ids in ran_in.values()), ran_in


# ---- outputs ---------------------------------------------------------------------------------


def normalized(value, run: Path):
    """Content without wall-clock timings (seconds, edit_seconds, samples_per_second, ...) and with the
    run's own folder (absolute paths in editor bundles) written as <run>."""
    if isinstance(value, dict):
        return {k: normalized(v, run) for k, v in value.items() if not (isinstance(k, str) and "second" in k)}
    if isinstance(value, (list, tuple)):
        return [normalized(v, run) for v in value]
    if isinstance(value, str):
        return value.replace(str(run), "<run>")
    return value


def same_tree(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    return a == b


def load(path: Path, run: Path):
    if path.suffix == ".json":
        return normalized(json.loads(path.read_text()), run)
    if path.suffix == ".jsonl":
        return [normalized(json.loads(line), run) for line in path.read_text().splitlines()]
    if path.suffix == ".pt":
        return normalized(torch.load(path, map_location="cpu", weights_only=True), run)
    return None


def same_content(run_a: Path, run_b: Path, relpath: str) -> bool:
    """Byte-identical, or (JSON, JSON lines, checkpoints) equal apart from timings and the run's folder."""
    a, b = run_a / relpath, run_b / relpath
    if hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest():
        return True
    content = load(a, run_a)
    return content is not None and same_tree(content, load(b, run_b))


def outputs(results) -> set[str]:
    """Every file a run wrote under results/, less its logs and benchmarks (timings)."""
    files = {p.relative_to(results) for p in results.rglob("*") if p.is_file()}
    return {str(f) for f in files if not {"logs", "benchmarks"} & set(f.parts)}


def timed(relpath: str) -> bool:
    """An output made of wall-clock measurements (the inference timings and Table 5 built from them)."""
    parts = Path(relpath).parts
    return "timings" in parts or parts[-1].startswith("table5")


def test_outputs_equal_the_local_run(slurm_run, tiny_run):
    local, slurm = tiny_run / "results", slurm_run[0] / "results"
    files = {f for f in outputs(local) if not evaluated_elsewhere(f"results/{f}")}
    assert files and outputs(slurm) == files
    # the claims summarise every evaluated dataset: the Slurm run's judge one dataset, the local run's two;
    # inference timings (timings/, Table 5 and its claims) are wall-clock measurements, as benchmarks are
    compared = [f for f in sorted(files) if Path(f).name != "claims.md" and not timed(f)]
    assert [f for f in compared if not same_content(tiny_run, slurm_run[0], f"results/{f}")] == []


def test_failing_job_fails_the_run_and_names_its_logs(cluster, tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["mini"]["generator"]["arch"]["channels"] = {"4": 32}  # no 8-32 px layers: the trainer refuses it
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "run"
    profile = write_profile(tmp_path / "profile", cluster, retries=0)  # one attempt is enough here
    proc = run_on_slurm(workdir, profile, FAIL_LIMIT_S, "results/mini/models/generator.pt", configfile=broken)
    log = proc.stdout + proc.stderr
    assert not timed_out(proc), f"a failed Slurm job was not noticed within {FAIL_LIMIT_S} s:\n{log[-4000:]}"
    assert proc.returncode == 1, log[-4000:]
    [(_, slurm_id, slurm_log)] = submissions(log)
    error = log[log.index("Error in rule train_generator"):]
    assert f"SLURM-job '{slurm_id}' failed" in error
    # the rule's log and Slurm's log of the job, both there to read
    assert f"log: results/mini/logs/train_generator.log, {slurm_log} " in error
    assert (workdir / "results/mini/logs/train_generator.log").is_file() and Path(slurm_log).is_file()
    assert "lacks resolutions" in log  # show-failed-logs: the rule's log is printed
