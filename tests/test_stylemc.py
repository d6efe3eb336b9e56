"""StyleMC, the first kind that learns per prompt: training, the saved direction, the edit, and the stage."""

import json

import numpy as np
import pytest
import torch

from deltaspace.directions.text import Prompt
from deltaspace.errors import CheckpointError, ConfigError
from deltaspace.io.shards import read_shard
from deltaspace.methods import EvalBatch, build_method, method_kind
from deltaspace.methods.base import load_prompt_training, save_prompt_training
from deltaspace.models.clip import create_mini, save_clip
from deltaspace.models.identity_net import IdentityNet, save_identity_net
from deltaspace.models.loading import load_generator_spec
from deltaspace.stages.prompt_training import train_prompt_edit

from conftest import tiny_world

SETTINGS = {"alpha": 1.0, "steps": 12, "batch_size": 4, "lr": 0.1, "identity_weight": 0.5, "l2_weight": 0.0}
RED = Prompt("face with red hair", attribute="hair_color", value="red")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    """A StyleMC spec over a random tiny generator, the tiny CLIP and a loss identity net (untrained)."""
    folder = tmp_path_factory.mktemp("stylemc")
    generator, _ = tiny_world(folder)
    model, _ = create_mini("deltaspace-tiny", seed=0)
    save_clip(folder / "clip.pt", model, "deltaspace-tiny")
    torch.manual_seed(1)
    save_identity_net(folder / "id.pt", IdentityNet(size=16, input_size=112, channels=(8, 8), embedding_dim=8))
    return {"name": "stylemc", "kind": "stylemc", "settings": dict(SETTINGS), "inputs": {}, "generator": generator,
            "clip": {"format": "deltaspace", "checkpoint": str(folder / "clip.pt"), "normalize": True},
            "identity_loss": str(folder / "id.pt"), "folder": str(folder)}


@pytest.fixture(scope="module")
def trained(spec):
    torch.manual_seed(0)
    return method_kind("stylemc").train(spec, RED, 0)


class LinearImageTower(torch.nn.Module):
    """An image embedder that sees every pixel (a fixed random projection), with CLIP's preprocessing
    settings; the untrained tiny CLIP maps every image to nearly one embedding, so no loss could move."""

    def __init__(self, size=16, dim=8):
        super().__init__()
        self.visual = torch.nn.Module()
        self.visual.preprocess_cfg = {"size": size, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
        torch.manual_seed(3)
        self.proj = torch.nn.Linear(3 * size * size, dim, bias=False).requires_grad_(False)

    def encode_image(self, x):
        return self.proj(x.flatten(1))


def test_the_direction_lowers_the_clip_loss_on_samples_it_never_saw(spec):
    from types import SimpleNamespace

    from deltaspace.methods.stylemc import train_direction
    from deltaspace.models.identity_net import load_identity_net

    G, _ = load_generator_spec(spec["generator"])
    clip = SimpleNamespace(model=LinearImageTower(), normalize=True)
    identity = load_identity_net(spec["identity_loss"], "losses.identity")
    target = torch.nn.functional.normalize(torch.randn(8, generator=torch.Generator().manual_seed(5)), dim=0)
    ds, report = train_direction(G.requires_grad_(False), clip, identity, target, steps=30, batch_size=4, lr=0.1,
                                 identity_weight=0.5, l2_weight=0.0, seed=0)
    before, after = report["heldout_clip_loss"]
    assert after < before - 0.1, report["heldout_clip_loss"]
    assert len(report["losses"]) == 30 and ds.shape == (G.s_dim,)
    # the identity loss holds the edit back: without it the direction goes further from the original
    _, unchecked = train_direction(G, clip, identity, target, steps=30, batch_size=4, lr=0.1, identity_weight=0.0,
                                      l2_weight=0.0, seed=0)
    assert unchecked["heldout_identity_loss"][1] > report["heldout_identity_loss"][1]


def test_training_is_deterministic_and_records_what_it_used(spec, trained):
    state, summary = trained
    G, _ = load_generator_spec(spec["generator"])
    assert state["direction"].shape == (G.s_dim,) and len(summary["losses"]) == SETTINGS["steps"]
    assert summary["identity_loss_net"] == spec["identity_loss"]
    assert summary["direction_norm"] > 0
    again, _ = method_kind("stylemc").train(spec, RED, 0)
    torch.testing.assert_close(again["direction"], state["direction"], rtol=0, atol=0)
    other, _ = method_kind("stylemc").train(spec, RED, 1)  # another seed draws other samples
    assert not torch.equal(other["direction"], state["direction"])


def test_the_saved_direction_edits_every_image_the_same_way(spec, trained, tmp_path):
    state, summary = trained
    path = tmp_path / "red.pt"
    save_prompt_training(path, spec, RED, state, summary)
    method = build_method({**spec, "trained": {RED.target: str(path)}})
    table = read_shard(f"{spec['folder']}/eval.parquet")
    s, s_rgb = torch.from_numpy(np.array(table["s"])), torch.from_numpy(np.array(table["s_rgb"]))
    batch = EvalBatch(s=s, s_rgb=s_rgb, wplus=None, embedding=None, images=None)
    G = method.G
    with torch.no_grad():
        edited = method.edit(batch, RED)
        original = G.synthesis(s, s_rgb, noise_mode="const")
        shifted = G.synthesis(s + state["direction"], s_rgb, noise_mode="const")
    assert edited.shape == original.shape and (edited - original).abs().max() > 1e-3
    torch.testing.assert_close(edited, shifted)  # one global direction: s + alpha * ds
    assert method.prompt_info(RED)["direction_norm"] == pytest.approx(summary["direction_norm"], rel=1e-4)
    with pytest.raises(ConfigError, match="was not trained for 'face with smile'"):
        method.edit(batch, Prompt("face with smile"))


def test_a_direction_of_another_prompt_or_kind_is_refused(spec, trained, tmp_path):
    state, summary = trained
    path = tmp_path / "red.pt"
    save_prompt_training(path, spec, RED, state, summary)
    with pytest.raises(CheckpointError, match="for prompt 'face with red hair', not by 'stylemc' for 'face with smile'"):
        load_prompt_training(path, spec, "face with smile")
    with pytest.raises(CheckpointError, match="not by 'other' for"):
        load_prompt_training(path, {**spec, "kind": "other"}, RED.target)


def test_the_stage_trains_one_prompt_and_records_the_loss_net(spec, tmp_path):
    out = tmp_path / "stylemc" / "face-with-red-hair.pt"
    method = {k: v for k, v in spec.items() if k != "folder"}
    summary = train_prompt_edit(method=method, prompt={"target": RED.target, "attribute": "hair_color", "value": "red"},
                                source="face", seed=0, out=out, threads=1)
    assert summary["prompt"] == RED.target and summary["seed"] == 0 and summary["kind"] == "stylemc"
    assert json.loads(json.dumps(summary))["identity_loss_net"] == spec["identity_loss"]
    assert load_prompt_training(out, spec, RED.target)["direction"].numel() > 0
    with pytest.raises(ConfigError, match="learns nothing per prompt"):
        train_prompt_edit(method={**method, "kind": "styleclip-gd"}, prompt={"target": RED.target}, source="face",
                          seed=0, out=tmp_path / "x.pt")


def test_the_real_world_asks_for_the_loss_identity_net_by_its_key(repo_root):
    import yaml

    from deltaspace.config import validate_config

    config = yaml.safe_load((repo_root / "config" / "ffhq.yaml").read_text())
    config["methods"]["stylemc"] = {"kind": "stylemc"}
    with pytest.raises(ConfigError, match="losses.identity: required in the real world by methods.stylemc"):
        validate_config(config)
    config["losses"] = {"identity": "/data/identity_loss_net.pt"}
    assert validate_config(config)["methods"]["stylemc"]["steps"] == 100  # defaults filled in
