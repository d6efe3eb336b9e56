import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
TINY_CONFIG = REPO / "config" / "test.yaml"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _single_thread():
    # Tests are small; one thread keeps them deterministic and leaves the other core free.
    torch.set_num_threads(1)


def snakemake_command(workdir: Path, *args: str, configfile: Path = TINY_CONFIG) -> list[str]:
    """Snakemake on this repository's workflow, run in `workdir`, with the tiny test config."""
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(configfile), *args]


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """A local run on 2 cores (the default profile)."""
    return subprocess.run(snakemake_command(workdir, "--cores", "2", *args), capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny config run locally, once per session: its working folder.

    tiny_rerun reuses its datasets and models; test_workflow's last test deletes a shard of it
    (test_workflow.py sorts after test_slurm.py, so that happens after test_slurm's comparisons).
    """
    workdir = tmp_path_factory.mktemp("tiny-local")
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running Slurm for the session (tests/slurm_support.py), or the reason there is none."""
    import slurm_support

    cluster = slurm_support.start_cluster()
    yield cluster
    slurm_support.stop_cluster(cluster)


@dataclass
class Rerun:
    workdir: Path
    log: str  # Snakemake's log of the run that produced workdir
    slurm: subprocess.CompletedProcess | None  # the attempt through Slurm, when a cluster was available


RERUN_SLURM_LIMIT_S = 600  # a lost Slurm job fails the run after this long instead of hanging


@pytest.fixture(scope="session")
def tiny_rerun(tiny_run, slurm_cluster, tmp_path_factory) -> Rerun:
    """A second run of the tiny config in a fresh folder, reusing tiny_run's datasets and trained models
    and redoing every other stage: through Slurm (workflow/profiles/slurm) when a cluster is available,
    locally otherwise or when the Slurm run failed (test_slurm reports that failure)."""
    import slurm_support

    def seeded(name: str) -> Path:
        if slurm_cluster.tmp:  # a folder the compute nodes of an existing cluster see
            folder = Path(tempfile.mkdtemp(prefix=name, dir=slurm_cluster.tmp))
        else:
            folder = tmp_path_factory.mktemp(name)
        for part in ("world", "models"):
            shutil.copytree(tiny_run / "results" / "mini" / part, folder / "results" / "mini" / part,
                            copy_function=shutil.copy2)
        return folder

    slurm = None
    if slurm_cluster.available:
        workdir = seeded("tiny-slurm")
        profile = slurm_support.write_profile(tmp_path_factory.mktemp("slurm-profile"), slurm_cluster,
                                              **slurm_support.one_slurm_job_per_rule())
        slurm = slurm_support.run_on_slurm(workdir, profile, RERUN_SLURM_LIMIT_S)
        if slurm.returncode == 0:
            return Rerun(workdir, slurm.stderr, slurm)
    workdir = seeded("tiny-rerun")
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Rerun(workdir, proc.stderr, slurm)


class FakeInception(torch.nn.Module):
    """Stands in for clean-fid's Inception TorchScript file: a `layers` module giving pooled features."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.AdaptiveAvgPool2d(1))

    def forward(self, x):
        return self.layers(x)


def write_fake_inception(path: Path) -> Path:
    import warnings

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; clean-fid ships TorchScript
        torch.jit.script(FakeInception()).save(str(path))
    return path
