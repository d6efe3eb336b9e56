"""The kinds that optimise each image at edit time: StyleCLIP-OP and TediGAN."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from deltaspace.directions.text import Prompt
from deltaspace.io.shards import read_shard
from deltaspace.methods import EvalBatch, build_method
from deltaspace.methods.losses import clip_loss, ramped_lr
from deltaspace.methods.optimisation import optimise_wplus
from deltaspace.models.clip import create_mini, save_clip
from deltaspace.models.e4e import E4EEncoder, mini_e4e_arch, save_encoder
from deltaspace.models.identity_net import IdentityNet, save_identity_net
from deltaspace.models.loading import load_generator_spec

from conftest import tiny_world
from test_prompt_methods import LinearImageTower

RED = Prompt("face with red hair", attribute="hair_color", value="red")
OP = {"steps": 15, "lr": 0.1, "l2_weight": 0.008, "identity_weight": 0.005}
TEDIGAN = {"steps": 15, "lr": 0.05, "perceptual_weight": 5e-5, "encoder_weight": 2.0, "clip_weight": 2.0,
           "levels": ["coarse", "medium", "fine"]}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("optimising")
    generator, _ = tiny_world(folder, n=4)
    G, _ = load_generator_spec(generator)
    model, _ = create_mini("deltaspace-tiny", seed=0)
    save_clip(folder / "clip.pt", model, "deltaspace-tiny")
    torch.manual_seed(1)
    save_identity_net(folder / "id.pt", IdentityNet(size=16, input_size=112, channels=(8, 8), embedding_dim=8))
    save_encoder(folder / "e.pt", E4EEncoder(**mini_e4e_arch(n_latent=G.n_latent, style_dim=G.style_dim)).eval())
    table = read_shard(folder / "eval.parquet")
    s, s_rgb = torch.from_numpy(np.array(table["s"])), torch.from_numpy(np.array(table["s_rgb"]))
    wplus = torch.from_numpy(np.array(table["wplus"])).reshape(len(s), G.n_latent, G.style_dim)
    with torch.no_grad():
        images = G.synthesis(s, s_rgb, noise_mode="const")
    batch = EvalBatch(s=s, s_rgb=s_rgb, wplus=wplus, embedding=None, images=images)
    inputs = {"identity_loss": str(folder / "id.pt"), "encoder": {"format": "deltaspace", "checkpoint": str(folder / "e.pt")}}
    target = torch.nn.functional.normalize(torch.randn(8, generator=torch.Generator().manual_seed(5)), dim=0)
    return SimpleNamespace(generator=generator, G=G, batch=batch, inputs=inputs, target=target,
                           clip={"format": "deltaspace", "checkpoint": str(folder / "clip.pt"), "normalize": True})


def sighted(world, kind, settings):
    """The method built from its spec, then given an image embedder that sees the image (the untrained tiny
    CLIP maps every image to one embedding) and the target text embedding of RED."""
    method = build_method({"name": kind, "kind": kind, "settings": settings, "inputs": world.inputs,
                           "generator": world.generator, "clip": world.clip})
    method.clip = SimpleNamespace(model=LinearImageTower(), normalize=True)
    method._targets[RED.target] = world.target
    return method


def test_each_code_moves_by_its_own_loss_in_a_batch():
    torch.manual_seed(0)
    w0, goal = torch.randn(3, 2, 4), torch.randn(3, 2, 4)
    scale = torch.tensor([1.0, 5.0, 0.2]).view(3, 1, 1)

    def loss_fn(w, rows=slice(None)):
        return (scale[rows] * (w - goal[rows]).pow(2)).sum((1, 2))

    together = optimise_wplus(w0, loss_fn, steps=20, lr=0.1)
    for i in range(3):
        alone = optimise_wplus(w0[i:i + 1], lambda w, i=i: loss_fn(w, slice(i, i + 1)), steps=20, lr=0.1)
        torch.testing.assert_close(together[i:i + 1], alone)
    assert (loss_fn(together) < loss_fn(w0)).all() and not together.requires_grad


def test_the_learning_rate_ramps_up_then_decays_to_zero():
    assert ramped_lr(0.0, 0.1) == 0 and ramped_lr(0.05, 0.1) == pytest.approx(0.1)
    assert ramped_lr(0.5, 0.1) == pytest.approx(0.1) and ramped_lr(1.0, 0.1) == pytest.approx(0.0)
    assert 0 < ramped_lr(0.9, 0.1) < 0.1


@pytest.mark.parametrize("kind, settings", [("styleclip-op", OP), ("tedigan", TEDIGAN)])
def test_the_edit_moves_each_image_towards_the_text(world, kind, settings):
    method = sighted(world, kind, settings)
    with torch.no_grad():  # as the edit stage calls it
        edited = method.edit(world.batch, RED)
        before = clip_loss(method.clip, world.batch.images, world.target)
        after = clip_loss(method.clip, edited, world.target)
    assert edited.shape == world.batch.images.shape
    assert (after < before).all(), (before, after)
    again = sighted(world, kind, settings).edit(world.batch, RED)  # deterministic
    torch.testing.assert_close(again, edited, rtol=0, atol=0)


def test_styleclip_op_latent_l2_keeps_the_edit_closer(world):
    loose = sighted(world, "styleclip-op", {**OP, "l2_weight": 0.0}).edit(world.batch, RED)
    tight = sighted(world, "styleclip-op", {**OP, "l2_weight": 50.0}).edit(world.batch, RED)
    images = world.batch.images
    assert (tight - images).pow(2).mean() < (loose - images).pow(2).mean()


def test_tedigan_optimises_only_its_levels(world):
    method = sighted(world, "tedigan", {**TEDIGAN, "levels": ["fine"]})
    mask = method.mask.flatten()
    assert 0 < mask.sum() < len(mask) and mask[0] == 0  # the first W+ entry is coarse
    # without the CLIP loss and the regulariser it reconstructs the input: here an image the inversion misses
    # (a render of another code), which the optimised code comes closer to than the inversion
    G, b = world.G, world.batch
    other = b.wplus + 0.5 * torch.randn(b.wplus.shape, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        image = G.synthesis(*G.styles_from_wplus(other), noise_mode="const")
    batch = EvalBatch(s=b.s, s_rgb=b.s_rgb, wplus=b.wplus, embedding=None, images=image)
    keep = sighted(world, "tedigan", {**TEDIGAN, "clip_weight": 0.0, "encoder_weight": 0.0}).edit(batch, RED)
    assert (keep - image).pow(2).mean() < 0.9 * (b.images - image).pow(2).mean()


def test_a_slow_method_is_edited_and_measured_on_its_first_images_only(tmp_path):
    import copy

    import yaml

    from deltaspace.config import validate_config
    from deltaspace.errors import ConfigError

    from conftest import TINY_CONFIG
    from test_dag import dry_run
    from test_seeds import _planned

    config = yaml.safe_load(TINY_CONFIG.read_text())
    assert config["methods"]["styleclip-op"]["images"] == 4
    plan = dry_run(tmp_path, "--", "results/table1.csv", configfile=TINY_CONFIG)
    for rule in ("edit_images", "evaluate"):
        commands = {out.split("/")[-1].removesuffix(".jsonl"): cmd for out, cmd in _planned(plan, rule).items()}
        assert " --images 4 " in commands["styleclip-op"] and " --images 4 " in commands["tedigan"]
        assert " --images " not in commands["deltaedit"]  # the others: every evaluation image
    for bad in (0, -3, 2.5, True):
        broken = copy.deepcopy(config)
        broken["methods"]["tedigan"]["images"] = bad
        with pytest.raises(ConfigError, match="methods.tedigan.images"):
            validate_config(broken)


@pytest.mark.slow
def test_the_tiny_run_reports_how_many_images_each_row_measured(tiny_run):
    import json

    import pandas as pd

    lines = [json.loads(x) for x in (tiny_run / "results/mini/metrics/mini-ffhq/tedigan.jsonl").read_text().splitlines()]
    assert {line["images"] for line in lines} == {4} and lines[0]["method_settings"]["kind"] == "tedigan"
    table = pd.read_csv(tiny_run / "results/table1.csv").set_index("method")
    assert table.loc["tedigan", "images"] == table.loc["styleclip-op", "images"] == 4
    assert table.loc["deltaedit", "images"] == 8
