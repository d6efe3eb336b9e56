"""The mini world's metric nets: tiny training runs, checkpoints, the ONNX export read through insightface."""

import math

import numpy as np
import pytest
import torch

from deltaspace.cli import main
from deltaspace.errors import CheckpointError
from deltaspace.io.checkpoints import save_checkpoint
from deltaspace.models.attribute_net import load_attribute_net
from deltaspace.models.identity_net import IdentityNet, export_onnx, load_arcface, load_identity_net
from deltaspace.training.metric_nets import arcface_logits, degrade, render_items, train_attribute_net, train_identity_net
from deltaspace.world.attributes import ATTRIBUTES, sample_params
from deltaspace.world.renderer import render_uint8

TINY = {"channels": [8, 8, 16]}


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert not [k for k in wa if not torch.equal(wa[k], wb[k])]


def test_attribute_net_training_is_deterministic_and_loadable(tmp_path):
    paths = [tmp_path / f"a{i}.pt" for i in range(2)]
    for p in paths:
        summary = train_attribute_net(p, steps=3, batch_size=8, lr=1e-3, seed=5, threads=2, arch=TINY, eval_count=8)
    _assert_same_weights(*paths)
    assert set(summary["accuracy"]) == {"ffhq", "celeba"} and set(summary["accuracy"]["ffhq"]) == set(ATTRIBUTES)
    net = load_attribute_net(paths[0], "mini.attribute_net")
    faces = render_uint8(sample_params(0, "test-attr", np.arange(5), "uniform"))
    pred = net.predict(faces)
    assert set(pred) == set(ATTRIBUTES) and all(v.shape == (5,) for v in pred.values())
    assert net.features(faces).shape == (5, 128)


def test_identity_net_training_is_deterministic_and_its_onnx_matches_torch(tmp_path):
    runs = [(tmp_path / f"i{i}.pt", tmp_path / f"i{i}.onnx") for i in range(2)]
    for ckpt, onnx_path in runs:
        summary = train_identity_net(ckpt, onnx_path, steps=3, batch_size=8, lr=1e-3, seed=5, threads=2, arch=TINY,
                                     classes=16, eval_count=8)
    _assert_same_weights(runs[0][0], runs[1][0])
    assert runs[0][1].read_bytes() == runs[1][1].read_bytes()
    assert summary["onnx_max_abs_diff"] < 1e-4
    assert set(summary["edit_cos"]) == {"hair_color", "eyeglasses", "smile"}
    net = load_identity_net(runs[0][0], "mini.identity_net")
    embedder = load_arcface(runs[0][1], "mini.identity_net")
    faces = render_uint8(sample_params(1, "test-ident", np.arange(6), "uniform"))
    np.testing.assert_allclose(embedder.embed(faces), net.embed_images(faces), atol=1e-4)
    assert embedder.input_size == 128


def test_onnx_export_round_trip_through_insightface(tmp_path):
    torch.manual_seed(0)
    net = IdentityNet(channels=[8, 16, 16], embedding_dim=32).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so export folding is exercised
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    export_onnx(net, tmp_path / "id.onnx")
    embedder = load_arcface(tmp_path / "id.onnx", "mini.identity_net")
    assert type(embedder.model).__name__ == "ArcFaceONNX"
    assert (embedder.model.input_mean, embedder.model.input_std) == (127.5, 127.5)
    faces = render_uint8(sample_params(2, "test-onnx", np.arange(7), "uniform"))
    out = embedder.embed(faces)
    np.testing.assert_allclose(out, net.embed_images(faces), atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_loaders_name_the_key_for_missing_or_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match=f"mini.identity_net.*{tmp_path / 'none.onnx'}"):
        load_arcface(tmp_path / "none.onnx", "mini.identity_net")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(CheckpointError, match="metrics.identity.*junk.onnx"):
        load_arcface(tmp_path / "junk.onnx", "metrics.identity")
    save_checkpoint(tmp_path / "other.pt", "identity_net", {}, {})
    with pytest.raises(CheckpointError, match="mini.attribute_net.*not a deltaspace/attribute_net"):
        load_attribute_net(tmp_path / "other.pt", "mini.attribute_net")


def test_training_items_do_not_depend_on_batching():
    idx = np.arange(10, 16)
    params = sample_params(0, "test-items", idx, "uniform")
    whole = degrade(render_items(params, idx, 32), 0, "s", idx)
    alone = degrade(render_items(sample_params(0, "test-items", idx[3:4], "uniform"), idx[3:4], 32), 0, "s", idx[3:4])
    assert torch.equal(whole[3:4], alone)
    levels = (whole + 1) * 127.5
    torch.testing.assert_close(levels, torch.round(levels), atol=1e-4, rtol=0)  # 8-bit levels, like the PNGs


def test_arcface_logits_add_the_margin_to_the_true_class_angle():
    emb = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    # angles to the true class: 0.5 (sample 0, class 0) and 0.3 (sample 1, class 1)
    weight = torch.tensor([[math.cos(0.5), math.sin(0.5)], [math.sin(0.3), math.cos(0.3)], [-1.0, 0.0]])
    labels = torch.tensor([0, 1])
    plain = arcface_logits(emb, weight, labels, scale=10.0, margin=0.0)
    torch.testing.assert_close(plain, 10.0 * torch.nn.functional.normalize(emb) @ weight.T, atol=1e-5, rtol=0)
    logits = arcface_logits(emb, weight, labels, scale=10.0, margin=0.2)
    assert logits[0, 0].item() == pytest.approx(10 * math.cos(0.5 + 0.2), abs=1e-5)
    assert logits[1, 1].item() == pytest.approx(10 * math.cos(0.3 + 0.2), abs=1e-5)
    torch.testing.assert_close(logits[:, 2], plain[:, 2])  # other classes unchanged


def test_stages_run_from_the_cli(tmp_path):
    assert main(["train-attribute-net", "--out", str(tmp_path / "a.pt"), "--steps", "1", "--batch-size", "4",
                 "--lr", "0.001", "--arch", '{"channels": [8, 8, 8]}']) == 0
    assert main(["train-identity-net", "--out", str(tmp_path / "i.pt"), "--onnx", str(tmp_path / "i.onnx"),
                 "--steps", "1", "--batch-size", "4", "--lr", "0.001", "--arch", '{"channels": [8, 8, 8]}']) == 0
    assert (tmp_path / "a.pt").is_file() and (tmp_path / "i.onnx").is_file()


def test_a_112_px_arcface_model_takes_larger_photos(tmp_path):
    """The real-world contract (w600k_r50: 112 x 112 input): images of any size are resized to it."""
    torch.manual_seed(0)
    net = IdentityNet(size=28, input_size=112, channels=[8, 8], embedding_dim=16).eval()
    export_onnx(net, tmp_path / "arcface112.onnx")
    embedder = load_arcface(tmp_path / "arcface112.onnx", "metrics.identity")
    assert embedder.input_size == 112 and embedder.backbone == "arcface arcface112.onnx (onnx via insightface)"
    photos = np.random.default_rng(0).integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    np.testing.assert_allclose(embedder.embed(photos), net.embed_images(photos), atol=1e-4)
