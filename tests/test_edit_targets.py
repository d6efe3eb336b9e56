"""Ground-truth edit targets of the mini world: ideal renders, target PSNR / distance, the evaluation set's factors."""

import json

import numpy as np
import pytest
import torch

from deltaspace.directions.text import Prompt
from deltaspace.io.images import decode_pngs, encode_png
from deltaspace.io.shards import read_shard, write_manifest, write_shard
from deltaspace.metrics.edit_targets import ideal_edits, perceptual_distances
from deltaspace.metrics.registry import compute_metrics, load_metric_nets
from deltaspace.models.attribute_net import AttributeNet, save_attribute_net
from deltaspace.models.stylegan2 import Generator, save_generator
from deltaspace.world.attributes import FACTORS, params_to_frame, sample_params, select
from deltaspace.world.renderer import render_uint8

SMILE = Prompt("face with smile", attribute="smile", value="yes")
TARGETS = ["target_psnr", "target_distance"]


@pytest.fixture(scope="module")
def net_path(tmp_path_factory):
    """An untrained tiny attribute net: its random conv features still see what changes in an image."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("nets") / "attribute_net.pt"
    save_attribute_net(path, AttributeNet(channels=[8, 16, 16], feature_dim=16))
    return str(path)


@pytest.fixture(scope="module")
def params():
    return sample_params(3, "test-edit-targets", np.arange(16), "uniform")


@pytest.mark.parametrize("style", ["ffhq", "celeba"])
def test_the_ideal_edit_of_a_face_that_has_the_value_is_its_own_render(params, style):
    smiling = select(params, params["smile"] == 1)
    assert 0 < len(smiling["smile"]) < 16
    np.testing.assert_array_equal(ideal_edits(smiling, style, 32, {"smile": "yes"}), render_uint8(smiling, 32, style))
    others = select(params, params["smile"] == 0)
    assert (ideal_edits(others, style, 32, {"smile": "yes"}) != render_uint8(others, 32, style)).any()


def test_the_ideal_scores_the_cap_and_noise_scores_far_worse_than_no_edit(params, net_path):
    nets = load_metric_nets({"world": "mini", "attribute_net": net_path})
    originals = render_uint8(params)
    targets = ideal_edits(params, "ffhq", 32, {"smile": "yes"})
    noise = np.random.default_rng(0).integers(0, 256, originals.shape, dtype=np.uint8)
    assert np.all(perceptual_distances(nets.attribute_net, targets, targets) == 0)
    ideal, _ = compute_metrics(TARGETS, originals, targets, nets, SMILE, targets=targets)
    destroyed, backbones = compute_metrics(TARGETS, originals, noise, nets, SMILE, targets=targets)
    noedit, _ = compute_metrics(TARGETS, originals, originals, nets, SMILE, targets=targets)
    assert ideal["target_psnr"] == pytest.approx(100.0) and ideal["target_distance"] == 0  # psnr_db's cap
    # pooled over images: faces that already smile (no error) do not make the no-edit PSNR infinite
    assert 10 < noedit["target_psnr"] < 60
    assert destroyed["target_psnr"] < noedit["target_psnr"] - 10  # dB
    assert destroyed["target_distance"] > 3 * noedit["target_distance"] > 0
    assert backbones["target_distance"].startswith("mini-attribute-net")
    # the no-edit references score the originals whatever the edit
    refs, _ = compute_metrics(["target_psnr_noedit", "target_distance_noedit"], originals, noise, nets, SMILE,
                              targets=targets)
    assert (refs["target_psnr_noedit"], refs["target_distance_noedit"]) == pytest.approx(
        (noedit["target_psnr"], noedit["target_distance"]))


def test_target_metrics_do_not_apply_without_ideal_renders(params, net_path):
    faces = render_uint8(params)
    for nets in (load_metric_nets({"world": "mini", "attribute_net": net_path}), load_metric_nets({"world": "real"})):
        values, backbones = compute_metrics(TARGETS, faces, faces, nets, SMILE)
        assert values == {"target_psnr": None, "target_distance": None}
        assert backbones["target_psnr"].startswith("not applicable")


def _tiny_generator(path):
    torch.manual_seed(0)
    G = Generator(32, style_dim=8, n_mlp=1, channels={4: 8, 8: 8, 16: 4, 32: 4})
    save_generator(path, G, torch.zeros(8))
    return G, {"format": "deltaspace", "checkpoint": str(path)}


def test_evaluation_set_round_trips_every_factor_and_evaluate_reports_the_targets(tmp_path, net_path):
    """A rendered dataset -> evaluation set (every factor, the style) -> the evaluate stage's target metrics."""
    from deltaspace.stages.editing import evaluation_params, evaluation_set
    from deltaspace.stages.evaluate import evaluate
    from deltaspace.stages.world import render_dataset

    render_dataset(out=tmp_path / "world", name="ds", count=10, prior="uniform", style="celeba")
    G, spec = _tiny_generator(tmp_path / "g.pt")
    n = 10  # codes do not matter here: zeros of the generator's shapes
    write_shard(tmp_path / "codes" / "part-00000.parquet", {
        "index": np.arange(n), "file": [f"{i:06d}.png" for i in range(n)], "split": ["train"] * 4 + ["eval"] * 6,
        **{k: np.zeros((n, d), np.float32) for k, d in (("s", G.s_dim), ("s_rgb", G.s_rgb_dim),
                                                         ("wplus", G.n_latent * G.style_dim))}})
    write_shard(tmp_path / "clip" / "part-00000.parquet", {"index": np.arange(n), "clip": np.zeros((n, 4), np.float32)})
    for table in ("codes", "clip"):
        write_manifest(tmp_path / table, [tmp_path / table / "part-00000.parquet"])
    out = tmp_path / "evaluation.parquet"
    evaluation_set(codes=tmp_path / "codes", clip_collection=tmp_path / "clip", images=tmp_path / "world" / "images",
                   images_key="datasets.ds.images", count=5, generator=spec, out=out,
                   attributes=tmp_path / "world" / "attributes.parquet", style="celeba")
    table = read_shard(out)
    world_params, style = evaluation_params(table)
    expected = sample_params(0, "ds", np.arange(4, 9), "uniform")  # render_dataset's draw of rows 4..8
    assert style == "celeba" and set(world_params) == set(FACTORS)
    for name in FACTORS:
        np.testing.assert_array_equal(world_params[name], expected[name])
    assert params_to_frame(world_params)["hair_color"].tolist() == table["attr_hair_color"].tolist()
    np.testing.assert_array_equal(decode_pngs(table["image"]), render_uint8(expected, 32, "celeba"))

    # the evaluate stage: an edit that is the ideal render, against the unedited originals
    targets = ideal_edits(world_params, style, 32, {"smile": "yes"})
    write_shard(tmp_path / "edits" / "face-with-smile.parquet",
                {"index": table["index"], "image": [encode_png(x) for x in targets]})
    write_manifest(tmp_path / "edits", [tmp_path / "edits" / "face-with-smile.parquet"], info={})
    evaluate(evaluation_set=out, edits=tmp_path / "edits", source="face", metrics=["psnr", *TARGETS],
             prompts=[{"target": "face with smile", "attribute": "smile", "value": "yes"}],
             nets={"world": "mini", "attribute_net": net_path}, world="mini", dataset="ds", method="m",
             out=tmp_path / "m.jsonl")
    (line,) = [json.loads(x) for x in (tmp_path / "m.jsonl").read_text().splitlines()]
    values = line["metrics"]
    assert values["target_psnr"] == pytest.approx(100.0) and values["target_distance"] == 0
    originals = decode_pngs(table["image"])
    noedit, _ = compute_metrics(["target_psnr"], originals, originals, load_metric_nets(
        {"world": "mini", "attribute_net": net_path}), SMILE, targets=targets)
    assert values["target_psnr_noedit"] == pytest.approx(noedit["target_psnr"])
    assert (values["target_psnr_noedit"] < 100) == bool((world_params["smile"] == 0).any())
    assert line["backbones"]["target_psnr"] == "pixels vs ideal render"
