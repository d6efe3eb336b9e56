"""Wordings: edits for prompts in other wordings and for two values at once, beside the evaluation prompts."""

import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import run_snakemake
from deltaspace.tables.table1 import read_results
from deltaspace.tables.wordings import accuracy_gap, build_wordings_table
from test_dag import dry_run, planned_jobs


def _line(method, group, prompt, asks, accuracy, replicates, **extra):
    return {"world": "mini", "dataset": "d", "method": method, "group": group, "prompt": prompt, "asks": asks,
            "images": 50, "metrics": {"edit_accuracy": accuracy}, "no_edit_accuracy": 0.2,
            "bootstrap": {"seed": 0, "replicates": len(replicates), "values": {"edit_accuracy": list(replicates)}},
            **extra}


def _frame(tmp_path, lines):
    import json

    path = tmp_path / "w.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return read_results([path])


@pytest.mark.parametrize("shift, verdict", [(-0.3, "less accurate"), (0.0, "as accurate"), (0.3, "more accurate")])
def test_a_wording_is_judged_on_the_paired_difference_from_its_evaluation_prompt(tmp_path, shift, verdict):
    """The replicates share the image resamples: a common swing cancels, only the difference's spread counts."""
    rng = np.random.default_rng(0)
    swing = rng.normal(0, 0.2, 200)  # what both lines share (which images were drawn): larger than the gap
    noise = rng.normal(0, 0.02, 200)
    frame = _frame(tmp_path, [
        _line("m", "canonical", "face-with-red-hair", {"hair_color": "red"}, 0.6, 0.6 + swing),
        _line("m", "synonym", "face-with-auburn-hair", {"hair_color": "red"}, 0.6 + shift, 0.6 + shift + swing + noise),
    ])
    gap = accuracy_gap(frame[frame["group"] == "synonym"], frame[frame["group"] == "canonical"])
    assert gap["accuracy_gap"] == pytest.approx(shift) and gap["gap_verdict"] == verdict
    assert gap["gap_ci_high"] - gap["gap_ci_low"] < 0.2  # paired: far narrower than the shared swing's


def test_two_value_prompts_are_compared_value_by_value(tmp_path):
    reps = np.full(20, 0.5)
    frame = _frame(tmp_path, [
        _line("m", "canonical", "red", {"hair_color": "red"}, 0.9, reps + 0.4),
        _line("m", "canonical", "glasses", {"eyeglasses": "yes"}, 0.7, reps + 0.2),
        _line("m", "compositional", "both", {"hair_color": "red", "eyeglasses": "yes"}, 0.4, reps - 0.1),
        _line("m", "compositional-part", "both--hair_color-red", {"hair_color": "red"}, 0.8, reps + 0.3, of="both"),
        _line("m", "compositional-part", "both--eyeglasses-yes", {"eyeglasses": "yes"}, 0.5, reps, of="both"),
    ])
    table = build_wordings_table(frame, "mini", "d").set_index("group")
    assert list(table.index) == ["canonical", "compositional"]  # parts are not rows of their own
    row = table.loc["compositional"]
    assert row["edit_accuracy"] == pytest.approx(0.4)  # both values at once
    assert row["each_value_accuracy"] == pytest.approx(0.65)
    assert row["accuracy_gap"] == pytest.approx(((0.8 - 0.9) + (0.5 - 0.7)) / 2)
    assert row["gap_verdict"] == "less accurate" and row["no_edit_accuracy"] == pytest.approx(0.2)


def test_the_wordings_target_is_separate_and_plans_one_job_per_method(tmp_path):
    jobs = planned_jobs(dry_run(tmp_path, "wordings"))
    assert jobs["wordings_method"] == 3 and jobs["wordings_table"] == 1  # the default wordings.methods
    assert "edit_images" not in jobs and "wordings_method" not in planned_jobs(dry_run(tmp_path))


@pytest.mark.slow
def test_the_tiny_wordings_target_measures_what_the_evaluate_stage_measures(tiny_run, tmp_path):
    """On a copy of the tiny run: the evaluation prompts' lines equal the evaluate stage's (same edits, images
    and metrics), the two-value prompt is scored for both values together and for each alone."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    proc = run_snakemake(workdir, "wordings")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "rule evaluate:" not in proc.stdout + proc.stderr  # nothing of the ordinary run is redone
    out = workdir / "results" / "mini"
    methods = ["deltaedit", "straightforward", "styleclip-gd-rho3"]  # the default wordings.methods
    lines = read_results([out / "wordings" / "mini-ffhq" / f"{m}.jsonl" for m in methods])
    evaluated = read_results([out / "metrics" / "mini-ffhq" / "deltaedit.jsonl"]).set_index("prompt")
    mine = lines[(lines["method"] == "deltaedit") & (lines["group"] == "canonical")].set_index("prompt")
    assert set(mine.index) == {"face-with-eyeglasses", "face-with-red-hair"}  # the values the wordings ask for
    for prompt, row in mine.iterrows():  # equal up to float32 sums in another batch order (target distance)
        for metric, value in row["metrics"].items():
            assert value == pytest.approx(evaluated.loc[prompt, "metrics"][metric], rel=1e-6), (prompt, metric)
    parts = lines[lines["group"] == "compositional-part"]
    assert sorted(parts["prompt"].unique()) == ["face-with-red-hair-and-eyeglasses--eyeglasses-yes",
                                               "face-with-red-hair-and-eyeglasses--hair_color-red"]
    both = lines[lines["group"] == "compositional"]
    for method, row in both.set_index("method").iterrows():  # both at once is never likelier than either alone
        each = parts[parts["method"] == method]["metrics"].map(lambda m: m["edit_accuracy"])
        assert row["metrics"]["edit_accuracy"] <= each.min() + 1e-12
    table = pd.read_csv(out / "tables" / "wordings-mini-ffhq.csv")
    assert set(zip(table["method"], table["group"])) == {(m, g) for m in methods
                                                         for g in ("canonical", "paraphrase", "synonym", "compositional")}
    assert table["edit_accuracy"].between(0, 1).all() and table["no_edit_accuracy"].between(0, 1).all()
    assert table.loc[table["group"] != "canonical", "accuracy_gap"].notna().all()
    per_prompt = pd.read_csv(out / "tables" / "wordings-mini-ffhq-per-prompt.csv")
    assert len(per_prompt) == len(lines)
