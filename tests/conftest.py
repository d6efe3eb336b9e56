import shutil
import subprocess
import sys
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
    """Snakemake on this repository's workflow, run in `workdir`, with the tiny test config.

    Every job gets one thread (--max-threads 1): the tiny jobs are all start-up, and rules asking for
    2 threads would otherwise run one at a time on this 2-core machine. Local and Slurm runs then
    also compute with the same thread count, so their outputs can be compared byte for byte.
    """
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(configfile), "--max-threads", "1", *args]


def run_snakemake(workdir: Path, *args: str, configfile: Path = TINY_CONFIG) -> subprocess.CompletedProcess:
    """A local run on 2 cores (the default profile)."""
    return subprocess.run(snakemake_command(workdir, "--cores", "2", *args, configfile=configfile),
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny config run locally, once per session: its working folder.

    Reruns reuse its datasets and models; test_workflow's last test deletes a shard of it
    (test_workflow.py sorts after test_slurm.py, so that happens after test_slurm's comparisons).
    """
    workdir = tmp_path_factory.mktemp("tiny-local")
    proc = run_snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return workdir


def seed_from(run: Path, workdir: Path) -> Path:
    """Copy a run's rendered datasets and trained models into `workdir`: a rerun then redoes every data stage."""
    for part in ("world", "models"):
        shutil.copytree(run / "results" / "mini" / part, workdir / "results" / "mini" / part, copy_function=shutil.copy2)
    return workdir


@dataclass
class Rerun:
    workdir: Path
    log: str  # Snakemake's log of the run


# What the rerun rebuilds: every table and the fidelity report, and the metrics (so R_s, the mappers,
# the evaluation set and the edits) of one method per code path: S mapper with R_s, W+ mapper, and
# StyleCLIP's global directions. The other methods run the same code on other settings.
RERUN_DATASET = "mini-ffhq"
RERUN_METHODS = ("deltaedit", "deltaedit-wplus", "styleclip-gd")
RERUN_TARGETS = [f"results/mini/{kind}/{table}/manifest.json"
                 for kind in ("codes", "clip") for table in ("mini-ffhq", "mini-celeba", "fakes")]
RERUN_TARGETS += ["results/mini/reports/fidelity.json"]
RERUN_TARGETS += [f"results/mini/metrics/{RERUN_DATASET}/{method}.jsonl" for method in RERUN_METHODS]


@pytest.fixture(scope="session")
def tiny_rerun(tiny_run, tmp_path_factory) -> Rerun:
    """A second local run of the tiny config in a fresh folder, reusing tiny_run's datasets and trained
    models and redoing the stages that build RERUN_TARGETS."""
    workdir = seed_from(tiny_run, tmp_path_factory.mktemp("tiny-rerun"))
    proc = run_snakemake(workdir, *RERUN_TARGETS)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return Rerun(workdir, proc.stderr)


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
