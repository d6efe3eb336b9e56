"""R_s (relevance matrix): S statistics, fast vs reference, resumable synthesis, the stage and its files."""

import json

import numpy as np
import pytest
import torch

from deltaspace.directions.relevance import (
    load_relevance,
    load_style_stats,
    relevance_fast,
    relevance_reference,
    style_statistics,
)
from deltaspace.errors import CheckpointError, DataError
from deltaspace.io.shards import shard_name, write_manifest, write_shard
from deltaspace.models.clip import create_mini, save_clip
from deltaspace.models.loading import Clip
from deltaspace.models.stylegan2 import Generator, save_generator


@pytest.fixture(scope="module")
def tiny():
    """A random tiny generator (S_dim 40: layers 16, 16, 8) and a random tiny CLIP (64-d)."""
    torch.manual_seed(0)
    G = Generator(8, style_dim=32, n_mlp=2, channels={4: 16, 8: 8}).eval().requires_grad_(False)
    model, tokenizer = create_mini("deltaspace-tiny")
    with torch.no_grad():
        s, s_rgb = G.styles_from_z(torch.randn(200, 32, generator=torch.Generator().manual_seed(1)))
    return G, Clip(model, tokenizer, True), s, s_rgb


def _write_codes(folder, s, s_rgb, rows_per_shard):
    paths = []
    for part, lo in enumerate(range(0, len(s), rows_per_shard)):
        hi = min(len(s), lo + rows_per_shard)
        paths.append(write_shard(folder / shard_name(part), {
            "index": np.arange(lo, hi), "s": np.asarray(s[lo:hi]), "s_rgb": np.asarray(s_rgb[lo:hi])}))
    write_manifest(folder, paths, expected_rows=len(s))


def test_style_statistics_match_numpy_on_the_whole_table(tmp_path):
    rng = np.random.default_rng(0)
    # a large offset and a small spread: a naive sum-of-squares formula would lose the std
    s = (1000.0 + rng.normal(size=(10_000, 12)) * np.linspace(0.01, 3, 12)).astype(np.float32)
    _write_codes(tmp_path, s, np.zeros((len(s), 2), np.float32), rows_per_shard=3_000)
    mean, std = style_statistics(tmp_path)
    np.testing.assert_allclose(mean, s.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, s.astype(np.float64).std(0), rtol=1e-9)


def test_resumed_synthesis_equals_the_full_synthesis_at_every_layer(tiny):
    G, _, s, s_rgb = tiny
    s, s_rgb = s[:5], s_rgb[:5]
    with torch.no_grad():
        full = G.synthesis(s, s_rgb)
        end = len(G.layer_table)
        for k in range(end + 1):
            state = G.run_layers(G.initial_state(5), s, s_rgb, 0, k)
            _, image = G.run_layers(state, s, s_rgb, k, end)
            assert torch.equal(image.contiguous(), full), G.layer_table[k].name if k < end else "end"


def test_channel_set_convolution_matches_setting_the_style(tiny):
    G, _, s, _ = tiny
    x = torch.randn(3, 16, 4, 4)
    for name in ("conv1", "convs.0"):  # plain and upsampling convolution
        conv = G.get_submodule(name).conv
        style = s[:3, :16]
        channels = torch.tensor([5, 0, 11])
        values = torch.randn(2, 3) * 3
        y, d = conv.forward_channels_set(x, style, channels, values)
        for v in range(2):
            for j, c in enumerate(channels.tolist()):
                edited = style.clone()
                edited[:, c] = values[v, j]
                y_ref, d_ref = conv.forward_undemodulated(x, edited)
                rows = slice((v * 3 + j) * 3, (v * 3 + j + 1) * 3)
                torch.testing.assert_close(y[rows], y_ref, rtol=1e-4, atol=1e-4)
                torch.testing.assert_close(d[rows], d_ref, rtol=1e-5, atol=1e-6)


def test_fast_relevance_matches_the_reference(tiny):
    G, clip, s, s_rgb = tiny
    mean, std = s.double().mean(0).numpy(), s.double().std(0).numpy()
    ref = relevance_reference(G, clip, s[:6], s_rgb[:6], mean, std, sigma=5.0)
    # batch 8: image batches of 4 (the 6 images split 4 + 2) and one channel per forward;
    # batch 64: all images and 5 channels per forward
    for batch_size in (8, 64):
        fast = relevance_fast(G, clip, s[:6], s_rgb[:6], mean, std, sigma=5.0, batch_size=batch_size)
        assert fast.shape == ref.shape == (G.s_dim, 64) and fast.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
        assert (fast * ref).sum(1).min() >= 0.999
    subset = relevance_fast(G, clip, s[:6], s_rgb[:6], mean, std, channels=[39, 3, 17])
    assert (subset * ref[[39, 3, 17]]).sum(1).min() >= 0.999


def test_stage_writes_rs_and_stats_and_loaders_check_them(tiny, tmp_path):
    from deltaspace.cli import main

    G, clip, s, s_rgb = tiny
    save_generator(tmp_path / "g.pt", G, torch.zeros(32))
    save_clip(tmp_path / "c.pt", clip.model, "deltaspace-tiny")
    _write_codes(tmp_path / "fakes", s, s_rgb, rows_per_shard=64)
    out = tmp_path / "relevance"
    rc = main(["relevance", "--generator", json.dumps({"format": "deltaspace", "checkpoint": str(tmp_path / "g.pt")}),
               "--clip", json.dumps({"format": "deltaspace", "checkpoint": str(tmp_path / "c.pt")}),
               "--fakes-codes", str(tmp_path / "fakes"), "--images", "4", "--batch-size", "32",
               "--out", str(out / "rs.npy"), "--stats", str(out / "s_stats.npz"), "--info", str(out / "rs.json")])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["rs.json", "rs.npy", "s_stats.npz"]
    rs = load_relevance(out / "rs.npy", "relevance", s_dim=G.s_dim, clip_dim=64)
    assert rs.shape == (40, 64) and np.allclose(np.linalg.norm(rs, axis=1), 1.0, atol=1e-5)
    info = json.loads((out / "rs.json").read_text())
    assert info["method"] == "fast" and info["images"] == 4 and info["s_dim"] == 40 and info["clip_dim"] == 64
    mean, std = load_style_stats(out / "s_stats.npz")
    np.testing.assert_allclose(std, s.double().std(0, unbiased=False).numpy(), rtol=1e-5)

    with pytest.raises(DataError, match=r"relevance\.rs: R_s in .*rs\.npy has shape \(40, 64\), expected \(41, 64\)"):
        load_relevance(out / "rs.npy", "relevance.rs", s_dim=41, clip_dim=64)
    missing = tmp_path / "nowhere" / "rs.npy"
    with pytest.raises(CheckpointError, match=r"relevance\.rs: no file at .*nowhere/rs\.npy"):
        load_relevance(missing, "relevance.rs")
    bad = rs.copy()
    bad[3, 5] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match="non-finite"):
        load_relevance(tmp_path / "nan.npy", "relevance.rs")
