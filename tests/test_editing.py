"""Editing pieces that do not need trained models: prompts, R_s masks, shards of PNGs, Table 1, config checks."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from deltaspace.config import validate_config
from deltaspace.directions.masking import relevance_mask
from deltaspace.directions.text import Prompt, prompt_name
from deltaspace.errors import ConfigError, DataError
from deltaspace.io.images import decode_png, decode_pngs, encode_png
from deltaspace.io.shards import read_shard, write_shard
from deltaspace.tables.table1 import build_table1, read_results


def test_prompt_names_are_file_safe_and_unique_per_text():
    assert prompt_name("face with red hair") == "face-with-red-hair"
    assert prompt_name("  Face with   big eyes! ") == "face-with-big-eyes"
    assert Prompt(target="face with smile").name == "face-with-smile"
    assert Prompt(target="face with smile", name="smile").name == "smile"


def test_relevance_mask_keeps_channels_at_or_above_the_threshold():
    R = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    dt = torch.tensor([0.05, 0.01])
    # |R dt| = 0.05, 0.01, 0.038
    assert relevance_mask(R, dt, 0.03).tolist() == [1.0, 0.0, 1.0]
    assert relevance_mask(R, dt, 0.0).tolist() == [1.0, 1.0, 1.0]
    assert relevance_mask(R, -dt, 0.04).tolist() == [1.0, 0.0, 0.0]  # magnitude, not sign
    with pytest.raises(ValueError):
        relevance_mask(R, torch.zeros(3), 0.03)


def test_png_columns_round_trip_through_a_shard(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 8, 8, 3), dtype=np.uint8)
    images[0] = 0  # an all-black image: its PNG bytes must survive untouched
    write_shard(tmp_path / "p.parquet", {"index": np.arange(5), "image": [encode_png(x) for x in images]})
    table = read_shard(tmp_path / "p.parquet")
    np.testing.assert_array_equal(decode_pngs(table["image"]), images)
    with pytest.raises(DataError, match="cannot decode thing"):
        decode_png(b"not a png", "thing")


def _results(tmp_path, method, fid, accuracy, dataset="mini-ffhq", settings=None):
    path = tmp_path / f"{method}-{dataset}.jsonl"
    lines = []
    for prompt, f, a in zip(("p1", "p2"), fid, accuracy):
        lines.append({"world": "mini", "dataset": dataset, "method": method, "prompt": prompt, "images": 10,
                      "metrics": {"fid": f, "psnr": 20.0, "ids": 0.9, "edit_accuracy": a, "preservation": 1.0},
                      "backbones": {"fid": "mini-attribute-net", "ids": "mini-arcface"},
                      "method_settings": settings})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def test_table1_averages_prompts_and_marks_unimplemented_methods(tmp_path):
    trained = {"kind": "deltaedit", "mapper_training": {"steps": 3000, "batch_size": 256, "heldout_cos": 0.8}}
    paths = [_results(tmp_path, "deltaedit", (1.0, 3.0), (0.5, 1.0), settings=trained),
             _results(tmp_path, "straightforward", (4.0, 6.0), (0.0, 0.5), settings={"kind": "other"}),
             _results(tmp_path, "deltaedit", (100.0, 100.0), (0.0, 0.0), dataset="mini-celeba")]
    table = build_table1(read_results(paths), "mini-ffhq", ["deltaedit", "straightforward"])
    row = table.set_index("method")
    assert row.loc["deltaedit", "fid"] == pytest.approx(2.0)
    assert row.loc["deltaedit", "edit_accuracy"] == pytest.approx(0.75)
    assert row.loc["straightforward", "fid"] == pytest.approx(5.0)
    assert row.loc["deltaedit", "prompts"] == 2 and row.loc["deltaedit", "images"] == 10
    assert row.loc["deltaedit", "fid_backbone"] == "mini-attribute-net"
    assert row.loc["tedigan", "status"] == "not implemented"
    assert pd.isna(row.loc["tedigan", "fid"])  # never an invented number
    assert row.loc["deltaedit", "status"] == "measured"
    # how each mapper was trained sits in its row; methods without a trained mapper leave it empty
    assert row.loc["deltaedit", "mapper_steps"] == 3000 and row.loc["deltaedit", "mapper_heldout_cos"] == 0.8
    assert pd.isna(row.loc["straightforward", "mapper_steps"])
    with pytest.raises(DataError, match="no results"):
        build_table1(read_results(paths), "mini-ffhq", ["deltaedit", "stylemc"])


def test_table1_rejects_a_corrupt_results_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('\n{oops\n')
    with pytest.raises(DataError, match="bad.jsonl:2: not a JSON line"):
        read_results([bad])
    bad.write_text('{"world": "mini"}\n')
    with pytest.raises(DataError, match="bad.jsonl:1: result lacks"):
        read_results([bad])


@pytest.fixture
def test_config(repo_root):
    return yaml.safe_load((repo_root / "config" / "test.yaml").read_text())


@pytest.mark.parametrize("change, message", [
    (lambda c: c["methods"].update(x={"mapper": "nope"}), "methods.x.mapper: no mapper named 'nope'"),
    (lambda c: c["methods"].update(x={"mapper": "wplus", "relevance": True}), "methods.x.relevance"),
    (lambda c: c["evaluation"]["images"].update({"mini-ffhq": 21}), "evaluation.images.mini-ffhq: 21 exceeds the 20"),
    (lambda c: c["evaluation"]["images"].update({"other": 2}), "evaluation.images.other: no dataset"),
    (lambda c: c["evaluation"]["prompts"].append({"target": "face with purple hair", "attribute": "hair_color",
                                                   "value": "purple"}), r"evaluation.prompts\[2\]"),
    (lambda c: c["mappers"]["wplus"].update(space="z"), "mappers.wplus.space"),
])
def test_editing_config_errors_name_the_key(test_config, change, message):
    config = copy.deepcopy(test_config)
    change(config)
    with pytest.raises(ConfigError, match=message):
        validate_config(config)


def test_editing_config_defaults(test_config):
    config = validate_config(copy.deepcopy(test_config))
    assert config["evaluation"]["table1_dataset"] == "mini-ffhq"
    assert config["editing"] == {"source": "face", "batch_size": 256}
    assert (config["methods"]["deltaedit"]["threshold"], config["methods"]["deltaedit"]["strength"]) == (0.005, 1.0)
    assert (config["methods"]["deltaedit-no-rs"]["threshold"], config["methods"]["deltaedit-no-rs"]["strength"]) == (0.03, 1.0)
    wplus = config["methods"]["deltaedit-wplus"]
    assert (wplus["mapper"], wplus["kind"], wplus["relevance"]) == ("wplus", "deltaedit", False)


def test_styleclip_global_direction_thresholds_normalises_and_scales_by_std():
    from deltaspace.methods.styleclip_gd import global_direction

    R = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    dt = torch.tensor([3.0, 0.0])  # normalised inside: (1, 0) -> r = (1, 0, 0.6)
    std = torch.tensor([2.0, 5.0, 10.0])
    torch.testing.assert_close(global_direction(R, dt, std, beta=0.5), torch.tensor([2.0, 0.0, 6.0]))
    torch.testing.assert_close(global_direction(R, dt, std, beta=0.7), torch.tensor([2.0, 0.0, 0.0]))
    assert not global_direction(R, dt, std, beta=2.0).any()  # nothing relevant enough: no edit


def test_styleclip_gd_needs_no_mapper_and_deltaedit_does(test_config):
    config = copy.deepcopy(test_config)
    config["methods"]["gd"] = {"kind": "styleclip-gd", "alpha": 3.0}
    assert validate_config(copy.deepcopy(config))["methods"]["gd"]["beta"] == 0.15
    config["methods"]["x"] = {"relevance": True}
    with pytest.raises(ConfigError, match="methods.x: 'mapper' is a required property"):
        validate_config(config)
