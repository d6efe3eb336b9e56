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

    Every job gets one thread (--max-threads 1, whatever the config's `threads` says): the tiny jobs
    are all start-up, and local and Slurm runs must compute with the same thread count, so that
    their outputs can be compared byte for byte.
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

    A local rerun reuses its datasets and models. No test changes it (a test that needs to delete an
    output works on a copy), so tests may run in any order.
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
    on_slurm: bool = False  # every job went through the Slurm profile (the whole workflow, from nothing)


# What a local rerun rebuilds: every table and the fidelity report, and the metrics (so R_s, the mappers,
# the evaluation set and the edits) of one method per code path: S mapper with R_s, W+ mapper, and
# StyleCLIP's global directions. The other methods run the same code on other settings.
RERUN_DATASET = "mini-ffhq"
RERUN_METHODS = ("deltaedit", "deltaedit-wplus", "styleclip-gd-rho3")
RERUN_TARGETS = [f"results/mini/{kind}/{collection}/manifest.json"
                 for kind in ("codes", "clip") for collection in ("mini-ffhq", "mini-celeba", "fakes")]
RERUN_TARGETS += ["results/mini/reports/fidelity.json"]
RERUN_TARGETS += [f"results/mini/metrics/{RERUN_DATASET}/{method}.jsonl" for method in RERUN_METHODS]
# The tiny workflow on Slurm: about 6 minutes on 2 cores; a lost job fails the run after this long.
SLURM_RUN_LIMIT_S = 2400
# The run on Slurm evaluates (edits, metrics, figures, table) on this dataset only: every rule still
# goes through Slurm, and the other dataset's 12 jobs are the same rules again, each paying two
# Snakemake starts (about 7 CPU-seconds) on a 2-core machine.
SLURM_EVAL_DATASET = RERUN_DATASET


def slurm_config(folder: Path) -> Path:
    """The tiny config, evaluating on SLURM_EVAL_DATASET only."""
    import yaml

    config = yaml.safe_load(TINY_CONFIG.read_text())
    images = config["evaluation"]["images"]
    config["evaluation"]["images"] = {SLURM_EVAL_DATASET: images[SLURM_EVAL_DATASET]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test-slurm.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder / "test-slurm.yaml"


def evaluated_elsewhere(path: str) -> bool:
    """An output (path in the run's folder) of evaluating a dataset other than SLURM_EVAL_DATASET."""
    parts = Path(path).parts
    if parts[:2] != ("results", "mini") or len(parts) < 4:
        return False
    parts = parts[2:]
    if parts[0] in ("edits", "metrics") or (parts[0] == "figures" and len(parts) > 2):
        return parts[1] != SLURM_EVAL_DATASET
    if parts[0] == "evaluation":
        return parts[1] != f"{SLURM_EVAL_DATASET}.parquet"
    if parts[0] == "tables":  # Table 5 (time efficiency) is one table of every method, not per dataset
        return not parts[1].startswith("table5") and parts[1] not in (
            f"table1-{SLURM_EVAL_DATASET}.csv", f"table1-{SLURM_EVAL_DATASET}-per-prompt.csv")
    return False


@pytest.fixture(scope="session")
def slurm_cluster():
    """The Slurm cluster of tests/slurm_support.py (started here, or named by the environment), or an
    unavailable one whose `reason` says why; stopped at the end of the session if started here."""
    from slurm_support import start_cluster, stop_cluster

    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)


@pytest.fixture(scope="session")
def tiny_rerun(tiny_run, slurm_cluster, tmp_path_factory) -> Rerun:
    """The second run of the tiny config, in a fresh folder.

    Where a Slurm cluster is available it is the whole workflow from nothing through the Slurm
    profile (evaluating on SLURM_EVAL_DATASET only): test_slurm.py checks that every job went through
    sbatch, and test_workflow.py's comparisons with tiny_run then show a Slurm run and a local one
    giving the same outputs.
    Elsewhere it runs locally, reusing tiny_run's datasets and trained models and redoing the stages
    that build RERUN_TARGETS.
    """
    if slurm_cluster.available:
        from slurm_support import run_on_slurm, timed_out, workfolder, write_profile

        workdir = workfolder(slurm_cluster, tmp_path_factory.mktemp("tiny-slurm"))
        profile = write_profile(tmp_path_factory.mktemp("slurm-profile"), slurm_cluster)
        configfile = slurm_config(tmp_path_factory.mktemp("slurm-config"))
        proc = run_on_slurm(workdir, profile, SLURM_RUN_LIMIT_S, configfile=configfile)
        assert not timed_out(proc), f"the run on Slurm took over {SLURM_RUN_LIMIT_S} s (a lost job?):\n{proc.stderr[-4000:]}"
        assert proc.returncode == 0, proc.stderr[-6000:]
        return Rerun(workdir, proc.stderr, on_slurm=True)
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


# A toy kind as a user would write it: one module, named by its dotted path in the config. It reads
# one workflow artefact (the S statistics) and shifts every S channel by `shift` of its std (its strength
# setting: a strength sweep multiplies it).
TOY_MODULE = '''
from deltaspace.methods import EditingMethod, MethodKind


class Shift(EditingMethod):
    kind = "toylab.shift"

    def __init__(self, G, std, shift):
        self.G, self.std, self.shift = G, std, shift

    def edit(self, batch, prompt):
        return self.G.synthesis(batch.s + self.shift * self.std, batch.s_rgb, noise_mode="const")

    def prompt_info(self, prompt):
        return {"channels_kept": 0 if self.shift == 0 else int(self.std.numel()), "channels": int(self.std.numel())}


def build(spec):
    import numpy as np
    import torch
    from deltaspace.models.loading import load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    std = torch.from_numpy(np.load(spec["inputs"]["stats"])["std"])
    return Shift(G, std, spec["settings"]["shift"])


KIND = MethodKind(
    name="toylab.shift",
    settings={"shift": {"type": "number", "default": 0.5}},
    inputs=lambda settings: {"stats": "style_stats"},
    strength="shift",
    build=build,
)
'''


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / "toylab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "shift.py").write_text(TOY_MODULE)
    for name in [m for m in sys.modules if m == "toylab" or m.startswith("toylab.")]:
        monkeypatch.delitem(sys.modules, name)  # another test's copy of the package
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "plugins"))
    return "toylab.shift"


def tiny_world(tmp_path, n=5):
    """A random tiny generator, its S statistics and an evaluation set of its own renders:
    (generator spec, the renders uint8 (n, 16, 16, 3)); files g.pt, s_stats.npz, eval.parquet in tmp_path."""
    import numpy as np

    from deltaspace.io.images import encode_png, tensor_to_uint8
    from deltaspace.io.shards import write_shard
    from deltaspace.models.stylegan2 import Generator, save_generator

    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=1, channels={4: 8, 8: 8, 16: 8}).eval()
    save_generator(tmp_path / "g.pt", G, torch.zeros(16))
    z = torch.randn(n, 16)
    wplus = G.wplus_from_z(z)
    with torch.no_grad():
        s, s_rgb = G.styles_from_wplus(wplus)
        images = tensor_to_uint8(G.synthesis(s, s_rgb, noise_mode="const"))
    np.savez(tmp_path / "s_stats.npz", mean=s.mean(0).numpy(), std=s.std(0).numpy())
    write_shard(tmp_path / "eval.parquet", {
        "index": np.arange(n), "s": s.numpy(), "s_rgb": s_rgb.numpy(), "wplus": wplus.flatten(1).detach().numpy(),
        "embedding": np.ones((n, 4), dtype=np.float32) / 2, "image": [encode_png(x) for x in images]})
    generator = {"format": "deltaspace", "checkpoint": str(tmp_path / "g.pt")}
    return generator, images
