import subprocess
import sys


from deltaspace.cli import STAGE_MODULES, STAGES, build_parser, main
from deltaspace.io.shards import shard_name

from conftest import REPO


def test_every_stage_has_a_subcommand():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "stage")
    assert {"render-dataset", "train-generator", "train-encoder", "train-clip", "invert-shard", "sample-shard",
            "clip-images-shard", "clip-codes-shard", "collection-manifest", "fidelity-report"} <= set(sub.choices)


def test_stage_table_names_the_module_of_every_stage():
    build_parser()  # imports every stage module
    assert {name: fn.__module__ for name, fn in STAGES.items()} == STAGE_MODULES


def test_a_job_imports_only_its_own_stage():
    """A collection-manifest job (one per collection, seconds of work) loads neither other stages nor torch."""
    probe = ("import sys\nfrom deltaspace.cli import main\ntry:\n    main(['collection-manifest', '--help'])\n"
             "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.startswith('deltaspace.stages.')\n"
             "             or m in ('torch', 'pandas')))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "--shards" in proc.stdout, proc.stderr  # the subcommand's own help
    assert proc.stdout.strip().splitlines()[-1] == "['deltaspace.stages.collections']", proc.stderr


def test_config_validation_imports_neither_torch_nor_pandas():
    """Snakemake validates the config at every start (twice per Slurm job): torch alone costs seconds."""
    probe = ("import sys, yaml\nfrom deltaspace.config import validate_config\n"
             "validate_config(yaml.safe_load(open('config/config.yaml')))\n"
             "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stderr


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    spec = '{"format": "deltaspace", "checkpoint": "%s"}' % (tmp_path / "missing.pt")
    code = main(["sample-shard", "--generator", spec, "--part", "0", "--rows-per-shard", "4", "--count", "4",
                 "--seed", "0", "--out", str(tmp_path / shard_name(0))])
    err = capsys.readouterr().err
    assert code == 2
    assert "models.generator.checkpoint" in err and "missing.pt" in err and "Traceback" not in err


def test_render_dataset_subcommand(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.run([sys.executable, "-m", "deltaspace", "render-dataset", "--out", str(out), "--name", "d",
                           "--count", "5", "--prior", "ffhq", "--style", "ffhq"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:06d}.png" for i in range(5)]
    import pandas as pd

    attrs = pd.read_parquet(out / "attributes.parquet")
    assert list(attrs["file"]) == [f"{i:06d}.png" for i in range(5)] and "smile" in attrs
