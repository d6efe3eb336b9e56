"""StyleGAN2 generator: rosinality layout, S space, both modulated-conv paths, checkpoint formats."""

from __future__ import annotations

import argparse
import logging

import pytest
import torch

from deltaspace.errors import CheckpointError
from deltaspace.models.stylegan2 import (
    Generator,
    Upsample,
    load_generator,
    load_rosinality,
    save_generator,
)

MINI_CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}


def rosinality_layout(size: int, style_dim: int, n_mlp: int, channels: dict[int, int]) -> dict[str, tuple]:
    """Expected state-dict keys and shapes of rosinality's Generator, written out independently."""
    exp: dict[str, tuple] = {}
    for i in range(1, n_mlp + 1):
        exp[f"style.{i}.weight"] = (style_dim, style_dim)
        exp[f"style.{i}.bias"] = (style_dim,)
    c4 = channels[4]
    exp["input.input"] = (1, c4, 4, 4)

    def styled(prefix, cin, cout, up):
        exp[f"{prefix}.conv.weight"] = (1, cout, cin, 3, 3)
        exp[f"{prefix}.conv.modulation.weight"] = (cin, style_dim)
        exp[f"{prefix}.conv.modulation.bias"] = (cin,)
        if up:
            exp[f"{prefix}.conv.blur.kernel"] = (4, 4)
        exp[f"{prefix}.noise.weight"] = (1,)
        exp[f"{prefix}.activate.bias"] = (cout,)

    def torgb(prefix, cin, up):
        if up:
            exp[f"{prefix}.upsample.kernel"] = (4, 4)
        exp[f"{prefix}.conv.weight"] = (1, 3, cin, 1, 1)
        exp[f"{prefix}.conv.modulation.weight"] = (cin, style_dim)
        exp[f"{prefix}.conv.modulation.bias"] = (cin,)
        exp[f"{prefix}.bias"] = (1, 3, 1, 1)

    styled("conv1", c4, c4, False)
    torgb("to_rgb1", c4, False)
    log_size = size.bit_length() - 1
    for i in range((log_size - 2) * 2 + 1):
        r = 2 ** ((i + 5) // 2)
        exp[f"noises.noise_{i}"] = (1, 1, r, r)
    cin = c4
    for j, lg in enumerate(range(3, log_size + 1)):
        cout = channels[2 ** lg]
        styled(f"convs.{2 * j}", cin, cout, True)
        styled(f"convs.{2 * j + 1}", cout, cout, False)
        torgb(f"to_rgbs.{j}", cout, True)
        cin = cout
    return exp


@pytest.fixture(scope="module")
def g1024() -> Generator:
    torch.manual_seed(0)
    return Generator(1024)


@pytest.fixture(scope="module")
def g32() -> Generator:
    """Small generator with random (non-default) biases and noise strengths, so every term matters."""
    torch.manual_seed(1)
    G = Generator(32, style_dim=16, n_mlp=2, channels=MINI_CHANNELS, lr_mlp=0.1)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias") or name.endswith("noise.weight"):
                p.add_(0.3 * torch.randn_like(p))
    return G.eval()


def test_ffhq1024_layout_matches_rosinality(g1024):
    sd = g1024.state_dict()
    exp = rosinality_layout(1024, 512, 8, {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256,
                                          256: 128, 512: 64, 1024: 32})
    assert sorted(sd) == sorted(exp)
    assert {k: tuple(v.shape) for k, v in sd.items()} == exp
    assert g1024.n_latent == 18


def test_ffhq1024_s_space(g1024):
    convs = g1024.conv_layers()
    assert g1024.s_dim == 6048
    assert [l.channels for l in convs] == [512] * 10 + [256, 256, 128, 128, 64, 64, 32]
    assert [l.name for l in convs[:3]] == ["conv1", "convs.0", "convs.1"]
    assert g1024.s_rgb_dim == 512 * 5 + 256 + 128 + 64 + 32
    levels = g1024.level_slices()
    assert [(sl.start, sl.stop) for sl in levels["coarse"]][0] == (0, 512)
    assert levels["coarse"][-1].stop == 1536 and levels["medium"][0].start == 1536
    assert levels["medium"][-1].stop == 3584 and levels["fine"][0].start == 3584
    assert levels["fine"][-1].stop == 6048
    assert [len(levels[k]) for k in ("coarse", "medium", "fine")] == [3, 4, 10]
    # rosinality's W+ row per layer
    idx = {l.name: l.latent_index for l in g1024.layer_table}
    assert (idx["conv1"], idx["to_rgb1"], idx["convs.0"], idx["convs.1"], idx["to_rgbs.0"]) == (0, 1, 1, 2, 3)
    assert (idx["convs.14"], idx["convs.15"], idx["to_rgbs.7"]) == (15, 16, 17)


def test_mini_generator_levels(g32):
    convs = g32.conv_layers()
    assert [(l.resolution, l.level) for l in convs] == [
        (4, "coarse"), (8, "coarse"), (8, "coarse"), (16, "medium"), (16, "medium"), (32, "fine"), (32, "fine")]
    assert g32.s_dim == 32 + 32 + 32 + 32 + 16 + 16 + 8
    assert all(g32.level_slices()[lv] for lv in ("coarse", "medium", "fine"))
    exp = rosinality_layout(32, 16, 2, MINI_CHANNELS)
    assert {k: tuple(v.shape) for k, v in g32.state_dict().items()} == exp


def test_fused_and_fast_paths_agree(g32):
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        s, s_rgb = g32.styles_from_z(z)
        fast = g32.synthesis(s, s_rgb)
        ref = g32.synthesis(s, s_rgb, fused=True)
    assert fast.shape == (5, 3, 32, 32)
    assert ref.abs().mean() > 0.1
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-4)


def test_synthesis_from_styles_matches_forward(g32):
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        w = g32.mapping(z)
        # S computed by hand from every layer's own modulation layer, in S order
        s = torch.cat([g32.get_submodule(l.name).conv.modulation(w) for l in g32.conv_layers()], 1)
        s_rgb = torch.cat([g32.get_submodule(l.name).conv.modulation(w) for l in g32.rgb_layers()], 1)
        torch.testing.assert_close(g32.synthesis(s, s_rgb), g32(z))
        # W+ rows reach only the layers rosinality assigns them to
        wplus = g32.wplus_from_z(z).clone()
        s0, r0 = g32.styles_from_wplus(wplus)
        wplus[:, 3] += 1.0
        s1, r1 = g32.styles_from_wplus(wplus)
        changed = {l.name for l in g32.layer_table
                   if not torch.equal((s1 if l.kind == "conv" else r1)[:, l.slice],
                                      (s0 if l.kind == "conv" else r0)[:, l.slice])}
        assert changed == {"convs.2", "to_rgbs.0"}
        # truncation 0 sends every z to the truncation latent
        avg = g32.mean_latent(256)
        a = g32(z, truncation=0.0, truncation_latent=avg)
        torch.testing.assert_close(a, a[:1].expand_as(a))


def test_batch_independence_and_noise_modes(g32):
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        together = g32(z)
        alone = torch.cat([g32(z[i:i + 1]) for i in range(4)])
        torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
        none = g32(z, noise_mode="none")
        r1 = g32(z, noise_mode="random", generator=torch.Generator().manual_seed(5))
        r2 = g32(z, noise_mode="random", generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(none, together, atol=1e-3)
    torch.testing.assert_close(r1, r2)
    assert not torch.allclose(r1, together, atol=1e-3)
    with pytest.raises(ValueError, match="noise_mode"):
        g32(z, noise_mode="fixed")
    with pytest.raises(AssertionError, match=r"s must be \(B, "):
        g32.synthesis(torch.zeros(1, 5), torch.zeros(1, g32.s_rgb_dim))


def test_upsample_preserves_constant_images():
    up = Upsample((1, 3, 3, 1))
    out = up(torch.full((1, 2, 6, 6), 0.7))
    assert out.shape == (1, 2, 12, 12)
    torch.testing.assert_close(out[:, :, 2:-2, 2:-2], torch.full((1, 2, 8, 8), 0.7))


def test_our_format_round_trip(g32, tmp_path):
    path = tmp_path / "g.pt"
    avg = g32.mean_latent(128, seed=3)
    save_generator(path, g32, avg, {"psnr_db": 30.0})
    G, latent_avg = load_generator(path, "world.generator")
    assert G.arch == g32.arch and G.channels == MINI_CHANNELS
    torch.testing.assert_close(latent_avg, avg)
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(G(z), g32(z), atol=0, rtol=0)


def test_rosinality_format_round_trip(tmp_path, caplog):
    # rosinality's own channel table (512 up to 32 px); size 8 keeps the file small
    torch.manual_seed(4)
    G0 = Generator(8, style_dim=16, n_mlp=2).eval()
    avg = torch.randn(16)
    args = argparse.Namespace(size=8, latent=16, n_mlp=2, channel_multiplier=2)
    path = tmp_path / "rosi.pt"
    torch.save({"g_ema": G0.state_dict(), "latent_avg": avg, "args": args, "g": G0.state_dict()}, path)
    G, latent_avg = load_rosinality(path, size=8, style_dim=16, n_mlp=2, channel_multiplier=2,
                                    config_key="generator.checkpoint")
    torch.testing.assert_close(latent_avg, avg)
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(G(z), G0(z), atol=0, rtol=0)
    # train.py checkpoints have no latent_avg: computed from 10k z, with a warning
    torch.save({"g_ema": G0.state_dict(), "args": args}, path)
    with caplog.at_level(logging.WARNING):
        _, latent_avg = load_rosinality(path, size=8, style_dim=16, n_mlp=2, config_key="generator.checkpoint")
    assert "no latent_avg" in caplog.text
    torch.testing.assert_close(latent_avg, G0.mean_latent(10_000), atol=1e-5, rtol=1e-5)


def test_rosinality_with_a_narrowed_channel_table(tmp_path):
    torch.manual_seed(6)
    G0 = Generator(16, style_dim=16, n_mlp=2, channels=MINI_CHANNELS).eval()
    path = tmp_path / "lite.pt"
    torch.save({"g_ema": G0.state_dict(), "latent_avg": torch.zeros(16)}, path)
    channels = {str(r): c for r, c in MINI_CHANNELS.items()}  # as the config's JSON hands it over
    G, _ = load_rosinality(path, size=16, style_dim=16, n_mlp=2, config_key="g", channels=channels)
    z = torch.randn(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(G(z), G0(z), atol=0, rtol=0)
    with pytest.raises(CheckpointError, match="g: "):  # rosinality's own table does not fit it
        load_rosinality(path, size=16, style_dim=16, n_mlp=2, config_key="g")


def test_wrong_size_gives_one_clear_error(tmp_path):
    torch.manual_seed(5)
    G16 = Generator(16, style_dim=16, n_mlp=2, channels=MINI_CHANNELS)
    path = tmp_path / "g16.pt"
    torch.save({"g_ema": G16.state_dict(), "latent_avg": torch.zeros(16)}, path)
    with pytest.raises(CheckpointError) as info:
        load_rosinality(path, size=32, style_dim=16, n_mlp=2, config_key="generator.checkpoint")
    msg = str(info.value)
    assert "generator.checkpoint" in msg and str(path) in msg
    assert "16 px" in msg and "size 32" in msg
    assert "\n" not in msg and len(msg) < 800
    # not a rosinality file at all
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="no 'g_ema'"):
        load_rosinality(path, size=16, style_dim=16, n_mlp=2, config_key="generator.checkpoint")
    # our loader on a file of another kind
    with pytest.raises(CheckpointError, match="not a deltaspace/stylegan2 checkpoint"):
        load_generator(path, "world.generator")
