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
from PIL import Image

from conftest import RERUN_DATASET, RERUN_METHODS, run_snakemake
from deltaspace.io.shards import read_manifest, read_collection

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
COLLECTIONS = {"mini-ffhq": 100, "mini-celeba": 50, "fakes": 120}  # rows in config/test.yaml


@pytest.fixture(scope="module")
def runs(tiny_run, tiny_rerun):
    # The session's runs (tests/conftest.py): the second, in a fresh folder, is the whole workflow on Slurm
    # where a cluster is available; locally it reused the first's datasets and models and redid every data stage.
    assert ("train_generator" in tiny_rerun.log) == tiny_rerun.on_slurm and "invert_shard" in tiny_rerun.log
    return [tiny_run / "results" / "mini", tiny_rerun.workdir / "results" / "mini"]


def test_tables_complete_with_expected_rows_and_schema(runs):
    out = runs[0]
    for collection, rows in COLLECTIONS.items():
        codes = read_manifest(out / "codes" / collection, verify=True)
        clip = read_manifest(out / "clip" / collection, verify=True)
        assert codes["rows"] == rows and clip["rows"] == rows
        assert len(codes["shards"]) == -(-rows // 60)  # shard_rows: 60
        assert codes["info"]["world"] == "mini"
        assert clip["schema"]["clip"].startswith("fixed_size_list")
        data = read_collection(out / "codes" / collection)
        np.testing.assert_array_equal(data["index"], np.arange(rows))
        for col in ("s", "s_rgb"):
            assert data[col].dtype == np.float32 and np.isfinite(data[col]).all()
        emb = read_collection(out / "clip" / collection)["clip"]
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    ffhq = read_collection(out / "codes" / "mini-ffhq", ["split"])["split"]
    assert (ffhq[:80] == "train").all() and (ffhq[80:] == "eval").all()
    celeba = read_collection(out / "codes" / "mini-celeba", ["split"])["split"]
    assert (celeba == "eval").all()


def test_fakes_carry_their_latents(runs):
    from deltaspace.stages.codes import fake_latents

    fakes = read_collection(runs[0] / "codes" / "fakes", ["index", "z"])
    np.testing.assert_array_equal(fakes["z"][7:9], fake_latents(0, [7, 8], fakes["z"].shape[1]))


def test_fidelity_report_written(runs):
    report = json.loads((runs[0] / "reports" / "fidelity.json").read_text())
    assert report["world"] == "mini"
    assert np.isfinite(report["generator"]["psnr_db_mean"])
    for name in ("mini-ffhq", "mini-celeba"):
        entry = report["datasets"][name]
        assert entry["inversion"]["images"] == 16
        assert set(entry["clip_zero_shot_accuracy"]) >= {"smile", "eye_size", "hair_color"}
    with Image.open(runs[0] / "reports" / "fidelity.png") as grid:  # decodes, and holds 32 px cells
        assert grid.format == "PNG" and min(grid.size) >= 2 * 32


def test_two_runs_give_identical_tables(runs):
    a, b = runs
    for kind in ("codes", "clip"):
        for collection in COLLECTIONS:
            ta, tb = read_collection(a / kind / collection), read_collection(b / kind / collection)
            for col in ta:
                np.testing.assert_array_equal(ta[col], tb[col], err_msg=f"{kind}/{collection}/{col}")
    ra = json.loads((a / "reports" / "fidelity.json").read_text())
    rb = json.loads((b / "reports" / "fidelity.json").read_text())
    assert without_timings(ra) == without_timings(rb)


def without_timings(report):
    """A report's values less its timings (keys named seconds, at any depth)."""
    if isinstance(report, dict):
        return {k: without_timings(v) for k, v in report.items() if k != "seconds"}
    return [without_timings(v) for v in report] if isinstance(report, list) else report


METHODS = ("deltaedit", "deltaedit-no-rs", "deltaedit-wplus", "straightforward", "styleclip-gd-rho3")
PROMPTS = ("face-with-eyeglasses", "face-with-red-hair")  # config/test.yaml
EVAL_IMAGES = {"mini-ffhq": 8, "mini-celeba": 6}


def test_relevance_matrix_has_unit_rows(runs):
    rs = np.load(runs[0] / "relevance" / "rs.npy")
    s_dim = read_collection(runs[0] / "codes" / "fakes", ["s"])["s"].shape[1]
    assert rs.shape == (s_dim, 128) and rs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rs, axis=1), 1.0, atol=1e-4)


def test_every_method_edits_every_evaluation_image_for_every_prompt(runs):
    from deltaspace.io.images import decode_pngs
    from deltaspace.io.shards import read_shard

    for dataset, count in EVAL_IMAGES.items():
        evaluation = read_shard(runs[0] / "evaluation" / f"{dataset}.parquet")
        assert len(evaluation["index"]) == count
        if dataset == "mini-ffhq":  # the held-out rows only: 80.. of 100
            np.testing.assert_array_equal(evaluation["index"], np.arange(80, 88))
        assert set(evaluation["attr_hair_color"]) <= {"black", "blond", "red", "brown", "gray"}
        originals = decode_pngs(evaluation["image"])
        for method in METHODS:
            folder = runs[0] / "edits" / dataset / method
            manifest = read_manifest(folder, verify=True)
            assert manifest["rows"] == count * len(PROMPTS)
            edited = decode_pngs(read_shard(folder / f"{PROMPTS[0]}.parquet")["image"])
            assert edited.shape == originals.shape
        # masking R_s only ever removes part of the edit: the two DeltaEdit variants differ
        a = read_shard(runs[0] / "edits" / dataset / "deltaedit" / f"{PROMPTS[1]}.parquet")["image"]
        b = read_shard(runs[0] / "edits" / dataset / "deltaedit-no-rs" / f"{PROMPTS[1]}.parquet")["image"]
        assert list(a) != list(b)


def test_metrics_and_table1(runs):
    import pandas as pd

    for dataset, count in EVAL_IMAGES.items():
        for method in METHODS:
            lines = [json.loads(x) for x in (runs[0] / "metrics" / dataset / f"{method}.jsonl").read_text().splitlines()]
            assert [x["prompt"] for x in lines] == list(PROMPTS)
            for line in lines:
                assert line["world"] == "mini" and line["images"] == count
                assert {"fid", "kid", "psnr", "ids", "edit_accuracy", "preservation"} <= set(line["metrics"])
                # every metric on the 200 bootstrap resamples (the schema's default evaluation.bootstrap)
                assert line["bootstrap"]["replicates"] == 200 and set(line["bootstrap"]["values"]) == set(line["metrics"])
                assert len(line["bootstrap"]["values"]["fid"]) == 200
                assert 0.0 <= line["metrics"]["edit_accuracy"] <= 1.0
                assert -1.0 <= line["metrics"]["ids"] <= 1.0 and line["metrics"]["fid"] >= 0.0
    table = pd.read_csv(runs[0].parent / "table1.csv").set_index("method")
    assert set(METHODS) <= set(table.index)
    assert (table.loc[list(METHODS), "status"] == "measured").all()
    assert (table.loc[list(METHODS), "prompts"] == 2).all()
    # a row of the paper's table the config leaves out has no numbers
    assert table.loc["styleclip-gd-rho2", "status"] == "not implemented" and pd.isna(table.loc["styleclip-gd-rho2", "fid"])
    assert table.loc["tedigan", "status"] == "measured" and table.loc["tedigan", "images"] == 4  # its first 4 only
    # each Delta Mapper row says how its mapper was trained (config/test.yaml: 10 steps each)
    mapper_rows = [m for m in METHODS if m != "styleclip-gd-rho3"]
    assert (table.loc[mapper_rows, "mapper_steps"] == 10).all()
    assert table.loc[mapper_rows, "mapper_heldout_cos"].between(-1.0, 1.0).all()
    assert pd.isna(table.loc["styleclip-gd-rho3", "mapper_steps"])
    assert (runs[0] / "tables" / "table1-mini-celeba.csv").is_file()
    for method in METHODS:  # input, reconstruction and 2 prompts (columns) of 8 images (rows), 3x upscaled
        with Image.open(runs[0] / "figures" / "mini-ffhq" / f"{method}.png") as figure:
            assert figure.format == "PNG" and figure.size[0] >= 4 * 96 and figure.size[1] >= 8 * 96
    # each metric's bootstrap interval beside it, and the per-prompt table beside each dataset's table
    measured = table.loc[list(METHODS)]
    assert (measured["bootstrap"] == 200).all()
    for metric in ("fid", "kid", "psnr", "ids"):
        assert (measured[f"{metric}_ci_low"] <= measured[f"{metric}_ci_high"]).all()
    for dataset in EVAL_IMAGES:
        per_prompt = pd.read_csv(runs[0] / "tables" / f"table1-{dataset}-per-prompt.csv")
        assert set(METHODS) <= set(per_prompt["method"])
        assert len(per_prompt) == per_prompt["method"].nunique() * len(PROMPTS)
    # the paper's claims, judged on both evaluated datasets; the no-edit reference is no rival
    claims = (runs[0].parent / "claims.md").read_text()
    for dataset in EVAL_IMAGES:
        assert f"## Table 1 claims ({dataset})" in claims
    assert "DeltaEdit-G better than StyleCLIP-GD rho=3 on fid |" in claims and "no-edit" not in claims
    assert re.search(r"\| (held|not held|within noise) \|", claims)
    # the R_s-masked edit keeps some channels for every prompt and so changes the image, differently per prompt
    for dataset in EVAL_IMAGES:
        lines = [json.loads(x) for x in (runs[0] / "metrics" / dataset / "deltaedit.jsonl").read_text().splitlines()]
        assert all(0 < x["prompt_info"]["channels_kept"] < x["prompt_info"]["channels"] for x in lines)
        edits = [pq.read_table(runs[0] / "edits" / dataset / "deltaedit" / f"{p}.parquet")["image"].to_pylist()
                 for p in PROMPTS]
        noedit = pq.read_table(runs[0] / "edits" / dataset / "no-edit" / f"{PROMPTS[0]}.parquet")["image"].to_pylist()
        assert edits[0] != edits[1] and edits[0] != noedit
    # the no-edit reference row (the inversion alone) is measured like every method
    assert table.loc["no-edit", "status"] == "measured"


def test_two_runs_give_identical_edits_and_metrics(runs):
    a, b = runs
    for dataset in (RERUN_DATASET,):
        for method in RERUN_METHODS:
            for prompt in PROMPTS:
                ea = pq.read_table(a / "edits" / dataset / method / f"{prompt}.parquet")
                eb = pq.read_table(b / "edits" / dataset / method / f"{prompt}.parquet")
                assert ea.equals(eb), (dataset, method, prompt)
            ma = [json.loads(x)["metrics"] for x in (a / "metrics" / dataset / f"{method}.jsonl").read_text().splitlines()]
            mb = [json.loads(x)["metrics"] for x in (b / "metrics" / dataset / f"{method}.jsonl").read_text().splitlines()]
            assert ma == mb


def test_edit_command_edits_one_image(runs, tmp_path):
    from deltaspace.io.images import load_image

    image = runs[0] / "world" / "mini-ffhq" / "images" / "000090.png"
    outs = {}
    for target in ("face with red hair", "face with eyeglasses"):
        out = outs[target] = tmp_path / "new" / "folder" / f"{target}.png"  # missing folders are made
        proc = subprocess.run([sys.executable, "-m", "deltaspace", "edit", "--image", str(image), "--target",
                               target, "--bundle", str(runs[0] / "models" / "deltaedit.json"),
                               "--out", str(out)], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert '"channels_kept": 0' not in proc.stderr and '"channels_kept"' in proc.stderr  # its summary line
    edited = {target: load_image(out, 32) for target, out in outs.items()}
    assert edited["face with red hair"].shape == (32, 32, 3)
    assert not np.array_equal(edited["face with red hair"], edited["face with eyeglasses"])
    proc = subprocess.run([sys.executable, "-m", "deltaspace", "edit", "--image", str(image), "--target", "x",
                           "--bundle", str(tmp_path / "none.json"), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--bundle: no editor bundle" in proc.stderr


def test_rerun_does_nothing_and_lost_shard_is_redone(runs, tmp_path):
    # a copy of the run (its outputs and Snakemake's records): the session's run stays whole for other tests
    workdir = tmp_path / "run"
    shutil.copytree(runs[0].parent.parent, workdir, symlinks=True)
    proc = run_snakemake(workdir, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    # a table that lost a shard has no valid manifest either (as after a run killed mid-table)
    fakes = workdir / "results" / "mini" / "codes" / "fakes"
    (fakes / "part-00001.parquet").unlink()
    (fakes / "manifest.json").unlink()
    proc = run_snakemake(workdir, "-n")
    planned = proc.stdout + proc.stderr
    assert re.search(r"^sample_shard\s+1$", planned, re.M), planned  # only the lost shard
    # (job counts: Table 5 lists the other jobs' benchmark files among its inputs)
    assert not re.search(r"^(train_generator|invert_shard)\s+\d+$", planned, re.M), planned
