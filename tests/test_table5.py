"""Table 5 (time efficiency): its builder, the paper's published values, and the tiny workflow's table."""

import json
import re

import pandas as pd
import pytest

from deltaspace.tables.published import TABLE1, TABLE4, TABLE5
from deltaspace.tables.table5 import COLUMNS, build_table5

from conftest import REPO

PAPER = REPO.parent / "shared" / "papers" / "deltaspace.md"


def timing(method, batch1=0.07, batched=0.01):
    return {"method": method, "batch1_seconds": batch1, "batched_seconds_per_image": batched, "batch": 64,
            "processor": "Some CPU", "cpus": 2, "threads": 1, "device": "cpu"}


def bench(path, seconds):
    path.write_text("s\th:m:s\tmax_rss\n" + f"{seconds}\t0:00:01\t100\n")
    return str(path)


def test_table5_sums_each_methods_jobs_and_sets_the_papers_row_beside(tmp_path):
    fakes, rs, mapper = bench(tmp_path / "f.tsv", 10.0), bench(tmp_path / "rs.tsv", 5.5), bench(tmp_path / "m.tsv", 30)
    prompts = [bench(tmp_path / f"p{i}.tsv", 2.0) for i in range(3)]
    methods = [
        {"method": "deltaedit", "kind": "deltaedit", "space": "S", "image_conditioned": "yes",
         "preprocessing": [fakes, rs], "training": [mapper]},
        {"method": "styleclip-gd-rho3", "kind": "styleclip-gd", "space": "S", "image_conditioned": "no",
         "preprocessing": [fakes, rs], "training": []},
        {"method": "stylemc", "kind": "stylemc", "space": "S", "image_conditioned": "no", "preprocessing": [],
         "training": prompts},
        {"method": "deltaedit-wplus", "kind": "deltaedit", "space": "W+", "image_conditioned": "yes",
         "preprocessing": [fakes], "training": [mapper]},
    ]
    table = build_table5(methods, {m["method"]: timing(m["method"]) for m in methods}).set_index("method")
    assert list(table.reset_index().columns) == COLUMNS
    assert table.loc["deltaedit", "preprocessing_s"] == 15.5 and table.loc["deltaedit", "training_s"] == 30
    assert table.loc["stylemc", "training_s"] == 6 and table.loc["stylemc", "trainings"] == 3
    assert table.loc["styleclip-gd-rho3", "published_preprocessing"] == "4h"  # StyleCLIP-GD's row, any rho
    assert table.loc["deltaedit", "published_training"] == "2.7h"
    assert table.loc["deltaedit-wplus", "published_training"] == ""  # an ablation: not in the paper's Table 5
    assert table.loc["deltaedit-wplus", "label"] == "DeltaEdit-G (W+ space)"
    assert table.loc["stylemc", "machine"] == "Some CPU (2 CPUs)" and table.loc["stylemc", "device"] == "cpu"


def _paper_rows(number: int) -> list[list[str]]:
    """The cells of a table of the paper, row by row (the header row dropped)."""
    text = PAPER.read_text()
    block = text[text.index(f"TABLE {number}"):].split("\n\n")
    rows = next(part for part in block[1:] if "\t" in part).splitlines()[1:]
    return [[re.sub(r"</?b>|<math>|</math>", "", cell).strip() for cell in row.split("\t")] for row in rows]


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper is not beside the repository ({PAPER})")
@pytest.mark.parametrize("number, published, metrics", [(1, TABLE1, ("fid", "psnr", "ids")),
                                                        (4, TABLE4, ("fid", "psnr", "ids"))])
def test_published_scores_are_the_papers(number, published, metrics):
    rows = _paper_rows(number)
    assert len(rows) == len(published)
    for cells, (label, values) in zip(rows, published.values()):
        assert [float(c) for c in cells[1:]] == [values[m] for m in metrics], (label, cells)


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper is not beside the repository ({PAPER})")
def test_published_times_are_the_papers():
    rows = _paper_rows(5)
    assert len(rows) == len(TABLE5)
    space = {r"$\mathcal{W}+$": "W+", r"$\mathcal{S}$": "S"}
    for cells, (label, values) in zip(rows, TABLE5.values()):
        assert cells[0].startswith(label.split(" (")[0]), (cells, label)
        assert cells[1:5] == [values[k] for k in ("preprocessing", "training", "inference", "image_conditioned")]
        assert space[cells[5]] == values["space"]


@pytest.mark.slow
def test_the_tiny_workflow_builds_table5(tiny_run):
    import yaml

    from conftest import TINY_CONFIG

    config = yaml.safe_load(TINY_CONFIG.read_text())
    table = pd.read_csv(tiny_run / "results/table5.csv").set_index("method")
    assert list(table.index) == list(config["methods"])
    prompts = len(config["evaluation"]["prompts"])
    assert table.loc["stylemc", "trainings"] == table.loc["styleclip-lm", "trainings"] == prompts
    assert (table.loc[["deltaedit", "stylemc", "styleclip-lm"], "training_s"] > 0).all()
    assert table.loc["deltaedit", "preprocessing_s"] > table.loc["deltaedit-no-rs", "preprocessing_s"] > 0  # + R_s
    assert (table["inference_batch1_s"] > 0).all() and (table["inference_batched_s"] > 0).all()
    assert table.loc["styleclip-op", "inference_batch1_s"] > table.loc["deltaedit", "inference_batch1_s"]
    timing = json.loads((tiny_run / "results/mini/timings/deltaedit.json").read_text())
    assert timing["threads"] == 1 and len(timing["batch1_all"]) == 8


def test_the_table5_claims_compare_deltaedits_inference_with_each_row(tmp_path):
    from deltaspace.tables.table5 import table5_claims

    methods = [{"method": m, "kind": m, "space": "S", "image_conditioned": "yes", "preprocessing": [], "training": []}
               for m in ("deltaedit", "styleclip-lm", "stylemc", "styleclip-op", "tedigan")]
    times = {"deltaedit": 0.01, "styleclip-lm": 0.02, "stylemc": 0.05, "styleclip-op": 0.5, "tedigan": 0.05}
    table = build_table5(methods, {m: timing(m, batch1=t) for m, t in times.items()})
    text = table5_claims(table)
    verdicts = {line.split(" | ")[0][2:]: line.split(" | ")[-1].rstrip(" |") for line in text.splitlines()
                if line.startswith("| DeltaEdit-G")}
    assert verdicts == {"DeltaEdit-G in the same range as StyleCLIP-LM": "held",
                        "DeltaEdit-G in the same range as StyleMC": "not held",  # 5x slower: out of range
                        "DeltaEdit-G far below StyleCLIP-OP": "held",
                        "DeltaEdit-G far below TediGAN": "not held"}  # only 5x
    assert "Some CPU (2 CPUs), 1 thread(s), cpu" in text
