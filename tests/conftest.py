import subprocess
import sys
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

    test_slurm compares its Slurm run with it; test_workflow reuses its models, and its last test
    deletes a shard (test_workflow.py sorts after test_slurm.py, so that happens after the comparison).
    """
    workdir = tmp_path_factory.mktemp("tiny-local")
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


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
