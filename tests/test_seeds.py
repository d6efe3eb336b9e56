"""The seed spread of Table 1 (results/table1-seeds.csv): its table builder, and what its target plans."""

import json
import re

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG
from deltaspace.errors import DataError
from deltaspace.methods import method_kind
from test_dag import dry_run, planned_jobs

OFFSETS = [-2.0, -1.0, 0.0, 1.0, 2.0]  # every prompt's bootstrap replicates, around its value


def _results(path, method, fids):
    """A method's JSON lines as the evaluate stage writes them: one line per prompt, FID and its replicates."""
    lines = [{"world": "mini", "dataset": "mini-ffhq", "method": method, "prompt": f"p{n}", "images": 10,
              "metrics": {"fid": fid, "psnr": 20.0}, "backbones": {"fid": "mini-attribute-net"},
              "bootstrap": {"replicates": len(OFFSETS), "seed": 0,
                            "values": {"fid": [fid + o for o in OFFSETS], "psnr": [20.0] * len(OFFSETS)}}}
             for n, fid in enumerate(fids)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_seeds_table_has_mean_std_and_each_seed_and_marks_methods_without_training(tmp_path):
    from deltaspace.stages.tables import table1_seeds

    # deltaedit's prompt-averaged FID is 2, 4, 6 with seeds 5, 6, 7; no-edit has no trained artefact (one run)
    results = [[_results(tmp_path / "no-edit.jsonl", "no-edit", (0.1, 0.1)),
                _results(tmp_path / "deltaedit.jsonl", "deltaedit", (1.0, 3.0))],
               [_results(tmp_path / "deltaedit.seed1.jsonl", "deltaedit", (3.0, 5.0))],
               [_results(tmp_path / "deltaedit.seed2.jsonl", "deltaedit", (5.0, 7.0))]]
    out = tmp_path / "seeds.csv"
    table1_seeds(results=results, dataset="mini-ffhq", methods=["no-edit", "deltaedit"],
                 retrained={"deltaedit": ["mapper:deltaedit"]}, seeds=[5, 6, 7], out=out)
    row = pd.read_csv(out).set_index("method")
    trained = row.loc["deltaedit"]
    assert [trained[f"fid_seed{k}"] for k in range(3)] == pytest.approx([2.0, 4.0, 6.0])
    assert trained["fid_mean"] == pytest.approx(4.0) and trained["fid_std"] == pytest.approx(2.0)  # n - 1
    assert trained["psnr_std"] == 0 and trained["seeds"] == 3 and trained["training_seeds"] == "5 6 7"
    assert trained["retrained"] == "mapper:deltaedit" and trained["paper_label"] == "DeltaEdit-G"
    # the spread over images for comparison: the 95% interval of [-2 .. 2] around the value, and its std
    assert trained["fid_ci_width"] == pytest.approx(3.8) and trained["fid_image_std"] == pytest.approx(2.5 ** 0.5)
    assert "generator, encoder, CLIP" in trained["note"]
    fixed = row.loc["no-edit"]
    assert [fixed[f"fid_seed{k}"] for k in range(3)] == pytest.approx([0.1] * 3)
    assert fixed["fid_std"] == 0 and fixed["seeds"] == 3 and fixed["retrained"] == "none"
    assert "same for every seed" in fixed["note"] and pd.isna(fixed["training_seeds"])
    assert list(row.index) == ["deltaedit", "no-edit"]  # Table 1's order: the paper's rows first


def test_seeds_table_needs_every_replicate_of_a_retrained_method(tmp_path):
    from deltaspace.tables.seeds import build_table1_seeds
    from deltaspace.tables.table1 import read_results

    first = read_results([_results(tmp_path / "a.jsonl", "deltaedit", (1.0, 3.0))])
    other = read_results([_results(tmp_path / "b.jsonl", "straightforward", (1.0, 3.0))])
    with pytest.raises(DataError, match="'deltaedit' is configured but has no results"):
        build_table1_seeds([first, other], "mini-ffhq", ["deltaedit"], {"deltaedit": ["mapper:deltaedit"]}, [0, 1])


def _planned(plan: str, rule: str) -> dict[str, str]:
    """{output: shell command} of a rule's planned jobs (a dry run with -p)."""
    jobs = re.findall(rf"^rule {rule}:\n.*?^    output: (\S+)\n.*?^Shell command: (.*?)$", plan, re.M | re.S)
    return dict(jobs)


def test_seeds_target_retrains_each_mapper_with_seed_plus_k(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    mappers, methods = config["mappers"], config["methods"]
    per_prompt = [m for m, settings in methods.items()  # the kinds that learn per prompt (StyleMC, StyleCLIP-LM)
                  if method_kind(settings.get("kind", "deltaedit")).trains_per_prompt]
    trained = [m for m, settings in methods.items() if settings.get("kind", "deltaedit") == "deltaedit"] + per_prompt
    seeds = 3  # the default of evaluation.seeds
    assert per_prompt
    ordinary = dry_run(tmp_path, "--config", "seed=5", configfile=TINY_CONFIG)
    plan = dry_run(tmp_path, "--config", "seed=5", "--", "results/table1-seeds.csv", configfile=TINY_CONFIG)
    jobs, before = planned_jobs(plan), planned_jobs(ordinary)
    assert jobs["train_delta_mapper"] == before["train_delta_mapper"] + (seeds - 1) * len(mappers)
    # one edit and one evaluate job per method for the ordinary run (Table 1's dataset), then per retrained
    # method and extra seed
    assert jobs["edit_images"] == jobs["evaluate"] == len(methods) + (seeds - 1) * len(trained)
    assert jobs["table1_seeds"] == jobs["table1_seeds_dataset"] == 1
    commands = _planned(plan, "train_delta_mapper")
    assert len(commands) == jobs["train_delta_mapper"]
    for out, command in commands.items():
        k = int(re.search(r"(?:\.seed(\d+))?\.pt$", out)[1] or 0)
        assert f" --seed {5 + k} " in command, (out, command)
    for method in trained:
        edit = _planned(plan, "edit_images")[f"results/mini/edits/mini-ffhq/{method}.seed2"]
        if method in per_prompt:
            assert f"results/mini/models/prompt_training/{method}.seed2/face-with-red-hair.pt" in edit
        else:
            assert f"results/mini/models/mappers/{methods[method]['mapper']}.seed2.pt" in edit
    # a kind that learns per prompt trains once per prompt and seed, with seed + k
    prompts = len(config["evaluation"]["prompts"])
    assert jobs["train_prompt_edit"] == seeds * prompts * len(per_prompt) == before["train_prompt_edit"] * seeds
    for out, command in _planned(plan, "train_prompt_edit").items():
        k = int(re.search(r"\.seed(\d+)/", out)[1]) if ".seed" in out else 0
        assert f" --seed {5 + k} " in command, (out, command)
    # the ordinary target: one mapper per mappers entry with the config's seed, no replicate anywhere
    assert before["train_delta_mapper"] == len(mappers) and ".seed" not in ordinary
    assert before["edit_images"] == before["evaluate"] == len(methods) * len(config["evaluation"]["images"])
    assert all(" --seed 5 " in command for command in _planned(ordinary, "train_delta_mapper").values())
