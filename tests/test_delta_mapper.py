"""Delta Mapper: level layouts, output order, equalized-lr folding, loss, streaming pair sampler,
checkpoints and a tiny deterministic training run on synthetic shards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deltaspace.errors import CheckpointError, DataError
from deltaspace.io.checkpoints import save_checkpoint
from deltaspace.io.shards import shard_name, write_manifest, write_shard
from deltaspace.models.delta_mapper import (
    DeltaMapper, EqualizedDeltaMapper, LevelSpec, count_parameters, delta_condition, load_delta_mapper,
    raw_condition, save_delta_mapper, text_condition,
)
from deltaspace.models.stylegan2 import Generator, save_generator
from deltaspace.training.delta_mapper import (
    PairSampler, ShardStream, TrainingSet, lr_factor, mapper_loss, parse_collections, train_delta_mapper,
)

MINI_CHANNELS = {4: 128, 8: 128, 16: 64, 32: 32}
# a small layout with both kinds of level: per-token (equal widths) and flat (mixed widths)
SMALL_LEVELS = [
    LevelSpec("coarse", ((0, 8), (8, 16))),
    LevelSpec("medium", ((16, 24), (24, 32))),
    LevelSpec("fine", ((32, 40), (40, 44), (44, 48))),
]
SMALL_D, SMALL_CLIP = 48, 8


def mini_generator() -> Generator:
    torch.manual_seed(0)
    return Generator(32, style_dim=512, n_mlp=2, channels=MINI_CHANNELS)


# ---------------------------------------------------------------------------------------------
# layouts
# ---------------------------------------------------------------------------------------------

def test_mini_s_and_wplus_layouts():
    G = mini_generator()
    m = DeltaMapper.for_space(G, "s", 128)
    assert G.s_dim == m.code_dim == 672
    lv = {l.name: l for l in m.levels}
    assert lv["coarse"].widths == (128, 128, 128) and lv["coarse"].per_token
    assert lv["medium"].widths == (128, 64) and not lv["medium"].per_token
    assert lv["fine"].widths == (64, 32) and not lv["fine"].per_token
    # per-token level: one 128->128 style MLP shared by the 3 tokens
    assert m.mappers["coarse"].style.layers[0].weight.shape == (128, 128)
    assert m.mappers["medium"].style.layers[0].weight.shape == (192, 192)
    assert m.mappers["fine"].fusion.layers[0].weight.shape == (96, 192)

    w = DeltaMapper.for_space(G, "wplus", 128)
    assert w.code_dim == G.n_latent * G.style_dim == 8 * 512
    entries = {l.name: [a // 512 for a, _ in l.slices] for l in w.levels}
    # conv1 <- 0, convs.k <- k+1 (res 8, 8, 16, 16, 32, 32), entry 7 feeds only the 32 px toRGB
    assert entries == {"coarse": [0, 1, 2], "medium": [3, 4], "fine": [5, 6, 7]}
    assert all(l.per_token for l in w.levels)


def test_real_1024_layout_matches_official_parameter_count():
    with torch.device("meta"):  # layout and parameter shapes only, nothing allocated
        G = Generator(1024, style_dim=512, n_mlp=8, channel_multiplier=2)
        m = DeltaMapper.for_space(G, "s", 512)
        w = DeltaMapper.for_space(G, "wplus", 512)
    assert [(l.name, l.width, l.per_token) for l in m.levels] == [
        ("coarse", 1536, True), ("medium", 2048, True), ("fine", 2464, False)]
    assert count_parameters(m) == 82_760_576
    assert [len(l.slices) for l in w.levels] == [3, 4, 11] and w.code_dim == 18 * 512


def test_output_shape_and_code_order():
    torch.manual_seed(0)
    m = DeltaMapper(SMALL_LEVELS, SMALL_CLIP)
    code, cond = torch.randn(5, SMALL_D), torch.randn(5, 2 * SMALL_CLIP)
    out = m(code, cond)
    assert out.shape == (5, SMALL_D)
    for name, (a, b) in {"coarse": (0, 16), "medium": (16, 32), "fine": (32, 48)}.items():
        lm = m.mappers[name]
        torch.testing.assert_close(out[:, a:b], lm(lm.take(code), cond))
    # levels listed out of code order (and a level with non-adjacent tokens) still write in code order
    shuffled = [LevelSpec("b", ((16, 24), (40, 48))), LevelSpec("a", ((0, 16), (24, 40)))]
    torch.manual_seed(0)
    s = DeltaMapper(shuffled, SMALL_CLIP)
    out = s(code, cond)
    lb = s.mappers["b"]
    torch.testing.assert_close(lb(lb.take(code), cond), torch.cat([out[:, 16:24], out[:, 40:48]], 1))
    with pytest.raises(ValueError, match="partition"):
        DeltaMapper([LevelSpec("a", ((0, 8),)), LevelSpec("b", ((9, 12),))], 4)


def test_conditions():
    i1, i2 = torch.randn(3, 8), torch.randn(3, 8)
    n1, n2 = i1 / i1.norm(dim=1, keepdim=True), i2 / i2.norm(dim=1, keepdim=True)
    d = n2 - n1
    torch.testing.assert_close(delta_condition(i1, i2), torch.cat([n1, d / d.norm(dim=1, keepdim=True)], 1))
    torch.testing.assert_close(raw_condition(i1, i2), torch.cat([n1, n2], 1))
    torch.testing.assert_close(text_condition(i1, 3 * i2), torch.cat([n1, n2], 1))


def test_folded_model_trains_like_equalized_lr_layers_under_adam():
    """Adam(lr) on EqualLinear(lr_mul) == Adam with lr*scale (weights), lr*lr_mul (bias) on the folded
    weights; Adam's eps becomes eps/scale, so eps is set tiny to compare the two exactly."""
    torch.manual_seed(0)
    ref = EqualizedDeltaMapper(SMALL_LEVELS, SMALL_CLIP)
    folded = DeltaMapper(SMALL_LEVELS, SMALL_CLIP)
    folded.load_state_dict(ref.folded_state_dict())
    code, cond = torch.randn(16, SMALL_D), torch.randn(16, 2 * SMALL_CLIP)
    torch.testing.assert_close(folded(code, cond), ref(code, cond), rtol=1e-5, atol=1e-6)
    lr = 0.5
    opt_ref = torch.optim.Adam(ref.parameters(), lr=lr, eps=1e-30)
    opt_fold = torch.optim.Adam(folded.param_groups(lr), eps=1e-30)
    for step in range(5):
        code, cond, target = torch.randn(16, SMALL_D), torch.randn(16, 2 * SMALL_CLIP), torch.randn(16, SMALL_D)
        for model, opt in ((ref, opt_ref), (folded, opt_fold)):
            loss, _ = mapper_loss(model(code, cond), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    moved = 0.0
    for k, v in ref.folded_state_dict().items():
        torch.testing.assert_close(folded.state_dict()[k], v, rtol=1e-4, atol=1e-6)
        moved = max(moved, float((v - DeltaMapper(SMALL_LEVELS, SMALL_CLIP).state_dict()[k]).abs().max()))
    assert moved > 1e-3  # the weights did move


def test_loss_known_values():
    t = torch.tensor([[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]])
    loss, parts = mapper_loss(t.clone(), t)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)
    loss, parts = mapper_loss(-t, t)  # mse = mean((2t)^2) = 4 * 34 / 6, cos = -1
    assert parts["mse"] == pytest.approx(68 / 3) and parts["cos"] == pytest.approx(-1.0)
    assert float(loss) == pytest.approx(68 / 3 + 2)
    assert lr_factor(0, 10, "cosine") == 1.0 and lr_factor(5, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(7, 10, "constant") == 1.0


# ---------------------------------------------------------------------------------------------
# synthetic tables
# ---------------------------------------------------------------------------------------------

def make_table(root: Path, name: str, rows: int, per_shard: int, *, d: int = SMALL_D, clip_dim: int = SMALL_CLIP,
               offset: int = 0, splits: bool = False, column: str = "s", latent: np.ndarray | None = None) -> dict:
    """codes/<name> + clip/<name>, row-aligned. Without `latent`, column 0 of the code and of the CLIP
    embedding holds a global row id (offset + row), so tests can identify rows; with `latent`, codes
    and embeddings are functions of a shared latent per row (learnable pairs)."""
    codes, clip = root / "codes" / name, root / "clip" / name
    cparts, kparts = [], []
    for part in range((rows + per_shard - 1) // per_shard):
        idx = np.arange(part * per_shard, min(rows, (part + 1) * per_shard))
        if latent is None:
            code = np.zeros((len(idx), d), np.float32)
            emb = np.ones((len(idx), clip_dim), np.float32)
            code[:, 0] = emb[:, 0] = offset + idx
        else:
            z = latent[offset + idx]
            code = (z @ np.linspace(-1, 1, z.shape[1] * d).reshape(z.shape[1], d)).astype(np.float32)
            emb = np.tanh(z @ np.cos(np.arange(z.shape[1] * clip_dim)).reshape(z.shape[1], clip_dim)).astype(np.float32)
        cols = {"index": idx, column: code}
        if splits:
            cols["split"] = np.where(idx % 3 == 0, "eval", "train")
        cparts.append(write_shard(codes / shard_name(part), cols))
        kparts.append(write_shard(clip / shard_name(part), {"index": idx, "clip": emb}))
    write_manifest(codes, cparts, rows)
    write_manifest(clip, kparts, rows)
    return {"codes": str(codes), "clip": str(clip), "split": "train" if splits else None}


@pytest.fixture
def two_tables(tmp_path):
    real = make_table(tmp_path, "real", 90, 20, splits=True)            # 60 "train" rows, 5 shards
    fakes = make_table(tmp_path, "fakes", 70, 20, offset=1000)          # 70 rows, 4 shards
    return [real, fakes]


def ids(codes: np.ndarray) -> list[int]:
    return [int(v) for v in codes[:, 0]]


def expected_ids() -> set[int]:
    return {i for i in range(90) if i % 3} | set(range(1000, 1070))


def test_sampler_covers_every_row_once_per_epoch_with_split_filter(two_tables):
    data = TrainingSet(parse_collections(two_tables), "s", SMALL_D)
    assert data.rows == 130 and data.collection_rows == [60, 70]
    for name in ("anchor", "partner"):
        stream = ShardStream(data, seed=3, name=name, window=2)
        for epoch in range(2):
            codes, clip = stream.next(data.rows)
            assert sorted(ids(codes)) == sorted(expected_ids())  # each row once, no eval row
            assert ids(codes) == ids(clip)  # CLIP rows stay aligned with their codes
        assert stream.epoch == 1


def test_sampler_is_deterministic_and_streams_are_independent(two_tables):
    data = TrainingSet(parse_collections(two_tables), "s", SMALL_D)
    a = [ids(PairSampler(data, seed=7).next(100)[k].numpy()) for k in (0, 2)]
    b = [ids(PairSampler(data, seed=7).next(100)[k].numpy()) for k in (0, 2)]
    assert a == b
    assert ids(PairSampler(data, seed=8).next(100)[0].numpy()) != a[0]
    anchor, partner = np.array(a[0]), np.array(a[1])
    assert (anchor == partner).mean() < 0.1  # not the same order
    # the partner of a row is spread over the whole set: partners of real rows include fakes and reals
    assert (partner[anchor < 1000] >= 1000).any() and (partner[anchor < 1000] < 1000).any()
    # batch size does not change the stream
    s = PairSampler(data, seed=7)
    pieces = [s.next(n) for n in (13, 50, 37)]
    assert sum((ids(p[0].numpy()) for p in pieces), []) == a[0]


def test_sampler_memory_holds_at_most_a_window_of_shards(two_tables):
    data = TrainingSet(parse_collections(two_tables), "s", SMALL_D)
    stream = ShardStream(data, seed=0, name="x", window=2)
    for _ in range(30):
        stream.next(17)
        assert data.live_shards <= 2
    assert data.peak_live_shards == 2 and data.shard_reads >= 9
    stream.release()
    assert data.live_shards == 0
    pair = PairSampler(data, seed=0, window=1)
    for _ in range(30):
        pair.next(9)
    assert data.peak_live_shards == 2  # one shard per stream


def test_wplus_from_w_only_table_and_alignment_errors(tmp_path):
    t = make_table(tmp_path, "fakes", 10, 5, d=4, column="w")
    data = TrainingSet(parse_collections([t]), "wplus", 12)
    codes, _ = ShardStream(data, 0, "x").next(10)
    assert codes.shape == (10, 12)
    np.testing.assert_array_equal(codes[:, :4], codes[:, 4:8])
    with pytest.raises(DataError, match="no s code column"):
        TrainingSet(parse_collections([t]), "s", 12)
    other = make_table(tmp_path, "other", 10, 4)
    with pytest.raises(DataError, match="not row-aligned"):
        TrainingSet(parse_collections([{"codes": other["codes"], "clip": t["clip"]}]), "s", SMALL_D)


# ---------------------------------------------------------------------------------------------
# checkpoints and training
# ---------------------------------------------------------------------------------------------

def test_checkpoint_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    m = DeltaMapper(SMALL_LEVELS, SMALL_CLIP, pixel_norm=False)
    path = tmp_path / "m.pt"
    save_delta_mapper(path, m, space="s", condition="raw", extra={"note": 1})
    loaded, info = load_delta_mapper(path, "mappers.x")
    assert info["space"] == "s" and info["condition"] == "raw" and info["note"] == 1
    assert info["clip_dim"] == SMALL_CLIP and info["arch"]["pixel_norm"] is False
    code, cond = torch.randn(3, SMALL_D), torch.randn(3, 2 * SMALL_CLIP)
    torch.testing.assert_close(loaded(code, cond), m.eval()(code, cond))

    other = tmp_path / "g.pt"
    save_checkpoint(other, "stylegan2", {}, {})
    with pytest.raises(CheckpointError, match=r"mappers\.x: .*g\.pt is not a deltaspace/delta_mapper"):
        load_delta_mapper(other, "mappers.x")
    obj = torch.load(path, weights_only=True)
    key = next(iter(obj["state_dict"]))
    obj["state_dict"][key] = torch.zeros(3, 3)
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"mappers\.x: .*bad\.pt does not fit"):
        load_delta_mapper(tmp_path / "bad.pt", "mappers.x")


def learnable_tables(root: Path) -> list[dict]:
    latent = np.random.default_rng(0).standard_normal((2000, 4)).astype(np.float32)
    return [make_table(root, "real", 150, 40, splits=True, latent=latent),
            make_table(root, "fakes", 200, 50, offset=1000, latent=latent)]


def test_tiny_training_reduces_loss_and_is_deterministic(tmp_path):
    tables = learnable_tables(tmp_path)
    kwargs = dict(collections=tables, levels=SMALL_LEVELS, space="s", condition="delta", arch={"lr_mul": 0.01},
                  steps=60, batch_size=32, lr=1.0, seed=5, heldout_pairs=128)
    summary = train_delta_mapper(tmp_path / "a.pt", **kwargs)
    assert summary["heldout"]["loss"] < 0.7 * summary["heldout_before"]["loss"]
    assert summary["training_rows"] == 100 + 200 and summary["peak_live_shards"] <= 4
    train_delta_mapper(tmp_path / "b.pt", **kwargs)
    a = torch.load(tmp_path / "a.pt", weights_only=True)
    b = torch.load(tmp_path / "b.pt", weights_only=True)
    assert a["extra"]["training"]["heldout"] == summary["heldout"]
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k


def test_stage_from_the_command_line(tmp_path):
    from deltaspace.cli import main

    G = mini_generator()
    save_generator(tmp_path / "g.pt", G, torch.zeros(512))
    table = make_table(tmp_path, "fakes", 64, 32, d=G.s_dim, clip_dim=16)
    rc = main(["train-delta-mapper", "--collections", json.dumps([table]),
               "--generator", json.dumps({"format": "deltaspace", "checkpoint": str(tmp_path / "g.pt")}),
               "--space", "s", "--condition", "delta", "--arch", '{"n_layers": 2}', "--steps", "2",
               "--batch-size", "8", "--lr", "0.1", "--seed", "0", "--out", str(tmp_path / "m.pt")])
    assert rc == 0
    mapper, info = load_delta_mapper(tmp_path / "m.pt", "mappers.deltaedit")
    assert mapper.code_dim == 672 and mapper.clip_dim == 16 and info["training"]["steps"] == 2
    assert len(mapper.mappers["coarse"].style.layers) == 2
