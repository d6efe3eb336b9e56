"""Metrics on known inputs: PSNR, FID, KID, IDS, the ground-truth metrics, and the registry's errors
(bootstrap resamples of the metrics: tests/test_bootstrap.py)."""

import numpy as np
import pytest
import torch

from conftest import write_fake_inception
from deltaspace.directions.text import Prompt
from deltaspace.errors import CheckpointError, ConfigError, DataError
from deltaspace.metrics.fid import fid_from_features, load_inception
from deltaspace.metrics.ground_truth import edit_hits, preserved_fractions
from deltaspace.metrics.registry import METRICS, compute_metrics, load_metric_nets
from deltaspace.models.attribute_net import AttributeNet, save_attribute_net
from deltaspace.models.identity_net import IdentityNet, export_onnx
from deltaspace.world.attributes import replace, sample_params
from deltaspace.world.renderer import render_uint8

ALL = ["fid", "kid", "psnr", "ids", "edit_accuracy", "preservation"]
SMILE = Prompt("face with smile", attribute="smile", value="yes")


@pytest.fixture(scope="module")
def mini_spec(tmp_path_factory):
    """Untrained tiny metric nets in the files the mini world's workflow writes."""
    root = tmp_path_factory.mktemp("nets")
    torch.manual_seed(0)
    net = AttributeNet(channels=[8, 16, 16], feature_dim=16)
    with torch.no_grad():  # untrained features are ~0.01; scale them so FID differences stand out from rounding
        net.embed[1].weight.mul_(100)
    save_attribute_net(root / "attribute_net.pt", net)
    export_onnx(IdentityNet(channels=[8, 16, 16], embedding_dim=16), root / "identity_net.onnx")
    return {"world": "mini", "attribute_net": str(root / "attribute_net.pt"),
            "identity": str(root / "identity_net.onnx"), "fid_features": str(root / "attribute_net.pt")}


@pytest.fixture(scope="module")
def faces():
    return render_uint8(sample_params(0, "test-metrics", np.arange(24), "uniform"))


def test_psnr_of_identical_images_is_the_cap_and_drops_with_noise(mini_spec, faces):
    nets = load_metric_nets(mini_spec)
    same, _ = compute_metrics(["psnr"], faces, faces.copy(), nets)
    assert same["psnr"] == pytest.approx(100.0)  # psnr_db caps the MSE at 1e-10: finite, not inf
    noisy = np.clip(faces.astype(int) + np.random.default_rng(0).integers(-8, 9, faces.shape), 0, 255).astype(np.uint8)
    values, backbones = compute_metrics(["psnr"], faces, noisy, nets)
    assert 25 < values["psnr"] < 45 and backbones["psnr"] == "pixels"


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_a_shift():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    assert abs(fid_from_features(feats, feats)) < 1e-6
    small, large = fid_from_features(feats, feats + 0.5), fid_from_features(feats, feats + 2.0)
    assert small == pytest.approx(8 * 0.25, rel=1e-3) and large == pytest.approx(8 * 4.0, rel=1e-3)


def test_fid_on_images_through_the_attribute_net(mini_spec, faces):
    nets = load_metric_nets(mini_spec)
    same, backbones = compute_metrics(["fid"], faces, faces.copy(), nets)
    assert abs(same["fid"]) < 1e-6 and backbones["fid"] == "mini-attribute-net trunk (16-d)"
    darker, _ = compute_metrics(["fid"], faces, (faces // 2).astype(np.uint8), nets)
    assert darker["fid"] > 1e-3 > 1e3 * abs(same["fid"])


def test_ids_of_the_same_faces_is_one(mini_spec, faces):
    nets = load_metric_nets(mini_spec)
    values, backbones = compute_metrics(["ids"], faces, faces.copy(), nets)
    assert values["ids"] == pytest.approx(1.0, abs=1e-6)
    assert backbones["ids"] == "mini-arcface (onnx via insightface)"


def test_edit_accuracy_and_preservation_on_hand_made_predictions():
    original = {"smile": np.array([0, 0, 1, 0]), "eyeglasses": np.array([0, 1, 0, 0]), "bangs": np.array([1, 1, 0, 0])}
    edited = {"smile": np.array([1, 1, 1, 0]), "eyeglasses": np.array([0, 0, 0, 0]), "bangs": np.array([1, 1, 0, 0])}
    assert edit_hits(edited, "smile", "yes").tolist() == [1, 1, 1, 0]
    assert edit_hits(edited, "smile", 0).tolist() == [0, 0, 0, 1]
    # other attributes: eyeglasses keeps 3 of 4, bangs 4 of 4
    assert preserved_fractions(original, edited, "smile").tolist() == [1.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="unknown value"):
        edit_hits(edited, "smile", "maybe")


def test_ground_truth_metrics_read_the_attribute_net(mini_spec):
    nets = load_metric_nets(mini_spec)
    params = sample_params(1, "test-metrics-gt", np.arange(16), "uniform")
    originals, edited = render_uint8(params), render_uint8(replace(params, smile="yes"))
    values, backbones = compute_metrics(ALL, originals, edited, nets, SMILE)
    pred_o, pred_e = nets.attribute_net.predict(originals), nets.attribute_net.predict(edited)
    assert values["edit_accuracy"] == pytest.approx(edit_hits(pred_e, "smile", "yes").mean())
    assert values["preservation"] == pytest.approx(preserved_fractions(pred_o, pred_e, "smile").mean())
    assert backbones["edit_accuracy"] == backbones["preservation"] == "mini-attribute-net"
    # without a prompt's ground truth they do not apply
    values, backbones = compute_metrics(["edit_accuracy", "preservation"], originals, edited, nets)
    assert values == {"edit_accuracy": None, "preservation": None}
    assert backbones["preservation"].startswith("not applicable")


def test_shared_memo_runs_the_originals_through_each_net_once(mini_spec, monkeypatch):
    """One memo for many edits of the same originals (the evaluate stage's prompts): the same values
    as separate calls, each net sees the originals once, and earlier edits are not kept."""
    nets = load_metric_nets(mini_spec)
    params = sample_params(2, "test-metrics-memo", np.arange(12), "uniform")
    originals = render_uint8(params)
    edits = [render_uint8(replace(params, smile="yes")), render_uint8(replace(params, hair_color="red"))]
    expected = [compute_metrics(ALL, originals, e, nets, SMILE)[0] for e in edits]
    seen = []
    for obj, name in ((nets.attribute_net, "features_and_predictions"), (nets.identity, "embed")):
        method = getattr(obj, name)
        monkeypatch.setattr(obj, name, lambda images, *a, _m=method, _n=name: seen.append((_n, id(images))) or _m(images, *a))
    memo = {}
    assert [compute_metrics(ALL, originals, e, nets, SMILE, memo)[0] for e in edits] == expected
    # originals: one attribute-net pass (FID features and predictions together) and one identity pass
    assert seen.count(("features_and_predictions", id(originals))) == seen.count(("embed", id(originals))) == 1
    assert len(seen) == 2 + 2 * len(edits)
    assert {id(images) for images, _ in memo.values()} == {id(originals), id(edits[-1])}


def test_real_world_skips_ground_truth_and_needs_its_files(tmp_path, faces):
    nets = load_metric_nets({"world": "real", "attribute_net": None, "identity": None, "fid_features": None})
    values, backbones = compute_metrics(["psnr", "edit_accuracy", "preservation"], faces, faces, nets, SMILE)
    assert values["edit_accuracy"] is None and values["preservation"] is None
    assert backbones["edit_accuracy"].startswith("not applicable")
    with pytest.raises(ConfigError, match="metrics.inception"):
        compute_metrics(["fid"], faces, faces, nets)
    with pytest.raises(ConfigError, match="metrics.identity"):
        compute_metrics(["ids"], faces, faces, nets)
    missing = tmp_path / "inception-2015-12-05.pt"
    with pytest.raises(CheckpointError, match=f"metrics.inception.*{missing}"):
        load_metric_nets({"world": "real", "fid_features": str(missing)})
    with pytest.raises(CheckpointError, match=f"metrics.identity.*{tmp_path / 'w600k_r50.onnx'}"):
        load_metric_nets({"world": "real", "identity": str(tmp_path / "w600k_r50.onnx")})


def test_mini_world_missing_files_name_their_keys(tmp_path, mini_spec, faces):
    with pytest.raises(CheckpointError, match=f"mini.attribute_net.*{tmp_path / 'a.pt'}"):
        load_metric_nets({**mini_spec, "attribute_net": str(tmp_path / "a.pt")})
    with pytest.raises(CheckpointError, match="mini.identity_net"):
        load_metric_nets({**mini_spec, "identity": str(tmp_path / "i.onnx")})
    nets = load_metric_nets({"world": "mini", "identity": mini_spec["identity"]})
    with pytest.raises(ConfigError, match="mini.attribute_net"):
        compute_metrics(["edit_accuracy"], faces, faces, nets, SMILE)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_real_world_fid_reads_a_torchscript_inception(tmp_path, faces):
    path = tmp_path / "inception-2015-12-05.pt"
    write_fake_inception(path)
    nets = load_metric_nets({"world": "real", "fid_features": str(path)})
    values, backbones = compute_metrics(["fid"], faces[:6], faces[:6], nets)
    assert abs(values["fid"]) < 1e-6 and backbones["fid"] == "inception-v3 (clean-fid)"
    assert load_inception(path).features(faces[:2]).shape == (2, 4)


def test_unknown_metric_and_bad_images_are_clear_errors(mini_spec, faces):
    nets = load_metric_nets(mini_spec)
    with pytest.raises(ConfigError, match="known metrics: .*'fid'"):
        compute_metrics(["fid", "lpips-ish"], faces, faces, nets)
    with pytest.raises(ConfigError, match="evaluation.prompts: unknown value 'purple'"):
        compute_metrics(["edit_accuracy"], faces, faces, nets, Prompt("face with purple hair", attribute="hair_color",
                                                                      value="purple"))
    with pytest.raises(DataError, match="differ in shape"):
        compute_metrics(["psnr"], faces, faces[:3], nets)
    with pytest.raises(DataError, match="uint8"):
        compute_metrics(["psnr"], faces, faces.astype(np.float32), nets)
    assert set(METRICS) == {*ALL, "target_psnr", "target_psnr_noedit", "target_distance", "target_distance_noedit"}
