"""The kinds that learn per prompt (StyleMC, StyleCLIP-LM): training, the saved state, the edit, the stage."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from deltaspace.directions.text import Prompt
from deltaspace.errors import CheckpointError, ConfigError
from deltaspace.io.shards import read_shard, write_manifest, write_shard
from deltaspace.methods import EvalBatch, build_method, method_kind
from deltaspace.methods.base import load_prompt_training, save_prompt_training
from deltaspace.methods.styleclip_lm import train_mapper, training_wplus
from deltaspace.methods.stylemc import train_direction
from deltaspace.models.clip import create_mini, save_clip
from deltaspace.models.identity_net import IdentityNet, load_identity_net, save_identity_net
from deltaspace.models.loading import load_generator_spec
from deltaspace.stages.prompt_training import train_prompt_edit

from conftest import tiny_world

SETTINGS = {
    "stylemc": {"alpha": 1.0, "steps": 12, "batch_size": 4, "lr": 0.1, "identity_weight": 0.5, "l2_weight": 0.0},
    "styleclip-lm": {"step": 0.1, "steps": 6, "batch_size": 4, "lr": 0.5, "l2_weight": 0.8, "identity_weight": 0.1,
                     "codes": 20, "heldout": 6, "n_layers": 2, "lr_mul": 0.01},
}
KINDS = list(SETTINGS)
RED = Prompt("face with red hair", attribute="hair_color", value="red")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A random tiny generator, the tiny CLIP, a loss identity net (untrained) and a codes collection of 40
    inverted-like W+ codes (the first 30 in the training split)."""
    folder = tmp_path_factory.mktemp("prompt-methods")
    generator, _ = tiny_world(folder)
    model, _ = create_mini("deltaspace-tiny", seed=0)
    save_clip(folder / "clip.pt", model, "deltaspace-tiny")
    torch.manual_seed(1)
    save_identity_net(folder / "id.pt", IdentityNet(size=16, input_size=112, channels=(8, 8), embedding_dim=8))
    G, _ = load_generator_spec(generator)
    with torch.no_grad():
        wplus = G.wplus_from_z(torch.randn(40, G.style_dim, generator=torch.Generator().manual_seed(2)))
    codes = folder / "codes"
    codes.mkdir()
    write_shard(codes / "part-00000.parquet", {"index": np.arange(40), "wplus": wplus.flatten(1).numpy(),
                                               "split": np.where(np.arange(40) < 30, "train", "eval")})
    write_manifest(codes, [codes / "part-00000.parquet"])
    return SimpleNamespace(folder=folder, generator=generator, G=G, codes=str(codes / "manifest.json"),
                           clip={"format": "deltaspace", "checkpoint": str(folder / "clip.pt"), "normalize": True},
                           identity=str(folder / "id.pt"))


def make_spec(world, kind):
    inputs = {"identity_loss": world.identity, **({"codes": [world.codes]} if kind == "styleclip-lm" else {})}
    return {"name": kind, "kind": kind, "settings": dict(SETTINGS[kind]), "inputs": inputs,
            "generator": world.generator, "clip": world.clip}


@pytest.fixture(scope="module")
def trained(world):
    return {kind: method_kind(kind).train(make_spec(world, kind), RED, 0) for kind in KINDS}


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


@pytest.fixture(scope="module")
def sighted(world):
    """(clip that sees the image, loss identity net, a unit target embedding)."""
    target = torch.nn.functional.normalize(torch.randn(8, generator=torch.Generator().manual_seed(5)), dim=0)
    return (SimpleNamespace(model=LinearImageTower(), normalize=True), load_identity_net(world.identity, "losses.identity"),
            target)


def test_stylemc_direction_lowers_the_clip_loss_on_samples_it_never_saw(world, sighted):
    clip, identity, target = sighted
    G = world.G.requires_grad_(False)
    ds, report = train_direction(G, clip, identity, target, steps=30, batch_size=4, lr=0.1,
                                 identity_weight=0.5, l2_weight=0.0, seed=0)
    before, after = report["heldout_clip_loss"]
    assert after < before - 0.1, report["heldout_clip_loss"]
    assert len(report["losses"]) == 30 and ds.shape == (G.s_dim,)
    # the identity loss holds the edit back: without it the direction goes further from the original
    _, unchecked = train_direction(G, clip, identity, target, steps=30, batch_size=4, lr=0.1, identity_weight=0.0,
                                   l2_weight=0.0, seed=0)
    assert unchecked["heldout_identity_loss"][1] > report["heldout_identity_loss"][1]


def test_styleclip_mapper_lowers_the_clip_loss_on_codes_it_never_saw(world, sighted):
    clip, identity, target = sighted
    G = world.G.requires_grad_(False)
    codes = torch.from_numpy(training_wplus([world.codes], 30)).reshape(30, G.n_latent, G.style_dim)
    settings = {**SETTINGS["styleclip-lm"], "steps": 40, "l2_weight": 0.0, "identity_weight": 0.0}
    _, report = train_mapper(G, clip, identity, target, codes[6:], codes[:6], settings, seed=0)
    before, after = report["heldout_clip_loss"]
    assert after < before - 0.05, report["heldout_clip_loss"]
    # the latent L2 loss keeps the step shorter
    _, held = train_mapper(G, clip, identity, target, codes[6:], codes[:6], {**settings, "l2_weight": 5.0}, seed=0)
    assert held["heldout_l2_loss"][1] < report["heldout_l2_loss"][1]


def test_training_codes_are_the_training_split(world):
    codes = training_wplus([world.codes], 100)
    assert codes.shape[0] == 30  # only the 30 training rows, however many are asked for
    np.testing.assert_array_equal(training_wplus([world.codes], 5), codes[:5])


@pytest.mark.parametrize("kind", KINDS)
def test_training_is_deterministic_and_records_what_it_used(world, trained, kind):
    state, summary = trained[kind]
    assert len(summary["losses"]) == SETTINGS[kind]["steps"]
    assert summary["identity_loss_net"] == world.identity
    again, _ = method_kind(kind).train(make_spec(world, kind), RED, 0)
    other, _ = method_kind(kind).train(make_spec(world, kind), RED, 1)  # another seed draws other samples
    for name, value in state.items():
        torch.testing.assert_close(again[name], value, rtol=0, atol=0)
    assert any(not torch.equal(other[name], value) for name, value in state.items())


@pytest.mark.parametrize("kind", KINDS)
def test_the_saved_state_edits_the_images(world, trained, kind, tmp_path):
    state, summary = trained[kind]
    spec = make_spec(world, kind)
    path = tmp_path / "red.pt"
    save_prompt_training(path, spec, RED, state, summary)
    method = build_method({**spec, "trained": {RED.target: str(path)}})
    table = read_shard(world.folder / "eval.parquet")
    G = world.G
    s, s_rgb = torch.from_numpy(np.array(table["s"])), torch.from_numpy(np.array(table["s_rgb"]))
    wplus = torch.from_numpy(np.array(table["wplus"])).reshape(len(s), G.n_latent, G.style_dim)
    batch = EvalBatch(s=s, s_rgb=s_rgb, wplus=wplus, embedding=None, images=None)
    with torch.no_grad():
        edited = method.edit(batch, RED)
        original = G.synthesis(s, s_rgb, noise_mode="const")
    assert edited.shape == original.shape and (edited - original).abs().amax((1, 2, 3)).min() > 1e-4
    if kind == "stylemc":  # one global direction: s + alpha * ds for every image
        with torch.no_grad():
            torch.testing.assert_close(edited, G.synthesis(s + state["direction"], s_rgb, noise_mode="const"))
    with pytest.raises(ConfigError, match="was not trained for 'face with smile'"):
        method.edit(batch, Prompt("face with smile"))


def test_a_state_of_another_prompt_or_kind_is_refused(world, trained, tmp_path):
    state, summary = trained["stylemc"]
    spec = make_spec(world, "stylemc")
    path = tmp_path / "red.pt"
    save_prompt_training(path, spec, RED, state, summary)
    with pytest.raises(CheckpointError, match="for prompt 'face with red hair', not by 'stylemc' for 'face with smile'"):
        load_prompt_training(path, spec, "face with smile")
    with pytest.raises(CheckpointError, match="not by 'styleclip-lm' for"):
        load_prompt_training(path, {**spec, "kind": "styleclip-lm"}, RED.target)


def test_the_stage_trains_one_prompt_and_records_the_loss_net(world, tmp_path):
    out = tmp_path / "stylemc" / "face-with-red-hair.pt"
    spec = make_spec(world, "stylemc")
    summary = train_prompt_edit(method=spec, prompt={"target": RED.target, "attribute": "hair_color", "value": "red"},
                                source="face", seed=0, out=out, threads=1)
    assert summary["prompt"] == RED.target and summary["seed"] == 0 and summary["kind"] == "stylemc"
    assert json.loads(json.dumps(summary))["identity_loss_net"] == world.identity
    assert load_prompt_training(out, spec, RED.target)["direction"].numel() > 0
    with pytest.raises(ConfigError, match="learns nothing per prompt"):
        train_prompt_edit(method={**spec, "kind": "styleclip-gd"}, prompt={"target": RED.target}, source="face",
                          seed=0, out=tmp_path / "x.pt")


@pytest.mark.parametrize("kind", KINDS)
def test_the_real_world_asks_for_the_loss_identity_net_by_its_key(repo_root, kind):
    import yaml

    from deltaspace.config import validate_config

    config = yaml.safe_load((repo_root / "config" / "ffhq.yaml").read_text())
    config["methods"][kind] = {"kind": kind}
    with pytest.raises(ConfigError, match=f"losses.identity: required in the real world by methods.{kind}"):
        validate_config(config)
    config["losses"] = {"identity": "/data/identity_loss_net.pt"}
    assert validate_config(config)["methods"][kind]["steps"] > 0  # defaults filled in


@pytest.mark.slow
def test_the_steps_benchmark_runs_on_a_finished_run(tiny_run, tmp_path):
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "steps.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "prompt_training_steps.py"), "--results",
                           str(tiny_run / "results" / "mini"), "--images", "4", "--prompts", "1", "--steps", "1", "3",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [(r["kind"], r["steps"]) for r in rows] == [("stylemc", 1), ("stylemc", 3), ("styleclip-lm", 1),
                                                      ("styleclip-lm", 3)]
    assert all(0 <= r["edit_accuracy"] <= 1 and r["train_s_per_prompt"] > 0 for r in rows)
