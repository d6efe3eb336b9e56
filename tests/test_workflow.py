"""End-to-end: the tiny mini-world config through Snakemake, every stage.

A second run in a fresh folder reuses the first run's rendered datasets and trained models (the
trainers' own determinism is tested beside each trainer) and redoes every data stage: its shards
must equal the first run's, value for value.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from deltaspace.io.shards import read_manifest, read_table

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
TABLES = {"mini-ffhq": 100, "mini-celeba": 50, "fakes": 120}  # rows in config/test.yaml


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "config" / "test.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    dirs = []
    for name in ("a", "b"):
        workdir = tmp_path_factory.mktemp(name)
        if dirs:  # second run: same datasets and models, every data stage again
            for part in ("world", "models"):
                shutil.copytree(dirs[0] / part, workdir / "results" / "mini" / part, copy_function=shutil.copy2)
        proc = run_snakemake(workdir)
        assert proc.returncode == 0, proc.stderr[-4000:]
        dirs.append(workdir / "results" / "mini")
    assert "train_generator" not in proc.stderr and "invert_shard" in proc.stderr
    return dirs


def test_tables_complete_with_expected_rows_and_schema(runs):
    out = runs[0]
    for table, rows in TABLES.items():
        codes = read_manifest(out / "codes" / table, verify=True)
        clip = read_manifest(out / "clip" / table, verify=True)
        assert codes["rows"] == rows and clip["rows"] == rows
        assert len(codes["shards"]) == -(-rows // 40)  # shard_rows: 40
        assert codes["info"]["world"] == "mini"
        assert clip["schema"]["clip"].startswith("fixed_size_list")
        data = read_table(out / "codes" / table)
        np.testing.assert_array_equal(data["index"], np.arange(rows))
        for col in ("s", "s_rgb"):
            assert data[col].dtype == np.float32 and np.isfinite(data[col]).all()
        emb = read_table(out / "clip" / table)["clip"]
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    ffhq = read_table(out / "codes" / "mini-ffhq", ["split"])["split"]
    assert (ffhq[:80] == "train").all() and (ffhq[80:] == "eval").all()
    celeba = read_table(out / "codes" / "mini-celeba", ["split"])["split"]
    assert (celeba == "eval").all()


def test_fakes_carry_their_latents(runs):
    from deltaspace.stages.codes import fake_latents

    fakes = read_table(runs[0] / "codes" / "fakes", ["index", "z"])
    np.testing.assert_array_equal(fakes["z"][7:9], fake_latents(0, [7, 8], fakes["z"].shape[1]))


def test_fidelity_report_written(runs):
    report = json.loads((runs[0] / "reports" / "fidelity.json").read_text())
    assert report["world"] == "mini"
    assert np.isfinite(report["generator"]["psnr_db_mean"])
    for name in ("mini-ffhq", "mini-celeba"):
        entry = report["datasets"][name]
        assert entry["inversion"]["images"] == 16
        assert set(entry["clip_zero_shot_accuracy"]) >= {"smile", "eye_size", "hair_color"}
    assert (runs[0] / "reports" / "fidelity.png").stat().st_size > 0


def test_two_runs_give_identical_tables(runs):
    a, b = runs
    for kind in ("codes", "clip"):
        for table in TABLES:
            ta, tb = read_table(a / kind / table), read_table(b / kind / table)
            for col in ta:
                np.testing.assert_array_equal(ta[col], tb[col], err_msg=f"{kind}/{table}/{col}")
    ra = json.loads((a / "reports" / "fidelity.json").read_text())
    rb = json.loads((b / "reports" / "fidelity.json").read_text())
    ra.pop("seconds"), rb.pop("seconds")
    assert ra == rb


def test_rerun_does_nothing_and_lost_shard_is_redone(runs):
    workdir = runs[0].parent.parent
    proc = run_snakemake(workdir, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a table that lost a shard has no valid manifest either (as after a run killed mid-table)
    (runs[0] / "codes" / "fakes" / "part-00001.parquet").unlink()
    (runs[0] / "codes" / "fakes" / "manifest.json").unlink()
    proc = run_snakemake(workdir, "-n")
    planned = proc.stdout + proc.stderr
    assert re.search(r"^sample_shard\s+1$", planned, re.M), planned  # only the lost shard
    assert "train_generator" not in planned and "invert_shard" not in planned
