"""Distillation of the mini generator from the renderer: mapping init, a tiny training run."""

from __future__ import annotations

import numpy as np
import torch

from deltaspace import rng
from deltaspace.models.stylegan2 import Generator, generator_from_rosinality_state, load_generator
from deltaspace.training.generator import (
    evaluate_generator,
    factor_encoding,
    init_mapping_from_factors,
    psnr_db,
    target_batch,
    train_generator,
)
from deltaspace.world import attributes

TINY_ARCH = {"size": 8, "style_dim": 64, "n_mlp": 2, "channels": {4: 16, 8: 8}}


def test_factor_encoding_finds_class_boundaries():
    ramps, features = factor_encoding("ffhq", max_units=512)
    k = attributes.FACTORS.index("hair_length")  # 50/50 prior: one boundary at z = 0
    centres = [r.start + r.width / 2 for r in ramps if r.factor == k]
    assert len(centres) == 1 and abs(centres[0]) < 1e-3
    k = attributes.FACTORS.index("hair_color")  # five classes, four boundaries
    assert len([r for r in ramps if r.factor == k]) == 4
    n_classes = sum(len(v) for v in attributes.ATTRIBUTES.values())
    assert len(features) == n_classes + len(attributes.IDENTITY) + len(attributes.POSE)


def test_factor_aligned_mapping_encodes_the_factors_linearly():
    G = Generator(8, style_dim=128, n_mlp=3, channels={4: 8, 8: 8})
    init_mapping_from_factors(G, "ffhq", seed=0)
    z = rng.normal(0, "test-mapping", range(4096), 128)
    with torch.no_grad():
        w = G.mapping(torch.from_numpy(z)).double()
        w_nuisance = G.mapping(torch.from_numpy(np.concatenate(
            [z[:, :attributes.NUM_FACTORS], rng.normal(1, "test-mapping", range(4096), 128 - attributes.NUM_FACTORS)],
            1))).double()
    # nuisance components only act through PixelNorm's scale: a small change of w
    assert (w - w_nuisance).abs().mean() < 0.1 * w.std()
    params = attributes.params_from_latent(z, "ffhq")
    X = torch.cat([w, torch.ones(len(w), 1, dtype=torch.float64)], 1)
    for name, values in attributes.ATTRIBUTES.items():
        cls = torch.from_numpy(params[name])
        onehot = torch.nn.functional.one_hot(cls, len(values)).double()
        pred = X @ torch.linalg.lstsq(X, onehot).solution
        # the target is read off PixelNorm(z), what the mapping sees: only ramp-width errors remain
        assert (pred.argmax(1) == cls).double().mean() > 0.995, name
    for name in attributes.IDENTITY + attributes.POSE:
        y = torch.from_numpy(params[name]).double().unsqueeze(1)
        resid = y - X @ torch.linalg.lstsq(X, y).solution
        assert resid.var() < 0.02 * y.var(), name


def test_tiny_training_run_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "generator.pt"
    # lr 0.05: with constant toRGB styles (colour through S) 60 steps at 0.02 stay near the mean image
    result = train_generator(out, arch=TINY_ARCH, steps=60, batch_size=8, lr=0.05, seed=3, eval_count=32,
                             threads=1, log_every=10, latent_avg_count=256)
    assert {"psnr_db", "steps", "seconds"} <= set(result) and result["steps"] == 60
    G, latent_avg = load_generator(out, "models.generator.checkpoint")
    assert G.size == 8 and G.channels == {4: 16, 8: 8} and latent_avg.shape == (64,)
    extra = torch.load(out, weights_only=True)["extra"]
    curve = [loss for _, loss in extra["loss_curve"]]
    assert len(curve) == 6 and curve[-1] < 0.7 * curve[0]
    # the saved generator is the trained one: its held-out PSNR is reproduced after loading
    again = evaluate_generator(G, seed=3, count=32)
    assert abs(again["psnr_db"] - result["psnr_db"]) < 1e-3
    # and it beats the best z-independent prediction (the mean image of the held-out renders)
    _, x = target_batch(3, "generator-eval", range(32), 64, 8, "ffhq", "ffhq")
    baseline = psnr_db(x.mean(0, keepdim=True).expand_as(x), x).mean().item()
    assert result["psnr_db"] > baseline + 0.5


def test_training_is_deterministic(tmp_path):
    kw = dict(arch=TINY_ARCH, steps=5, batch_size=4, lr=0.01, seed=1, eval_count=8, threads=1, latent_avg_count=64)
    train_generator(tmp_path / "a.pt", **kw)
    train_generator(tmp_path / "b.pt", **kw)
    a = torch.load(tmp_path / "a.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_constant_torgb_styles_leave_colour_to_s(tmp_path):
    out = tmp_path / "generator.pt"
    train_generator(out, arch=TINY_ARCH, steps=20, batch_size=8, lr=0.02, seed=2, eval_count=8, threads=1,
                    latent_avg_count=64)  # torgb_styles="constant" is the default
    obj = torch.load(out, weights_only=True)
    assert obj["extra"]["torgb_styles"] == "constant"
    G, _ = load_generator(out, "models.generator.checkpoint")
    z = torch.from_numpy(rng.normal(0, "test-torgb", range(6), TINY_ARCH["style_dim"]))
    with torch.no_grad():
        s, s_rgb = G.styles_from_z(z)
    assert torch.equal(s_rgb, torch.ones_like(s_rgb))  # the same for every z: no per-image information
    assert (s.std(0) > 1e-3).all()  # while the conv styles were trained to depend on z
    # the state dict keeps rosinality's layout: it loads through the rosinality path unchanged
    R = generator_from_rosinality_state(obj["state_dict"], TINY_ARCH, "generator.checkpoint", out)
    with torch.no_grad():
        assert torch.equal(R(z), G(z))
