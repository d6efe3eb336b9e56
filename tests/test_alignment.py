"""The DeltaSpace check: retrieval scores on built embeddings, pairs, the verdict, the stage end to end."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from deltaspace.io.shards import write_manifest, write_shard
from deltaspace.models import clip as C
from deltaspace.stages import alignment
from deltaspace.world.attributes import params_to_frame, sample_params
from deltaspace.metrics.clip_probes import (alignment_per_item, pair_deltas, paired_alignment, random_pairs,
                                     retrieval_scores)
from deltaspace.world.renderer import render


def _random(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_perfectly_aligned_embeddings_retrieve_every_item():
    x = _random(50, 32, 0)
    s = paired_alignment(x, 3.0 * x)  # scale must not matter
    assert s["image_to_text_top1"] == s["text_to_image_top1"] == 1.0
    assert s["match_cos"] == pytest.approx(1.0)
    assert s["gap"] == pytest.approx(1.0 - s["mismatch_cos"])
    assert s["chance_top1"] == pytest.approx(1 / 50)


def test_unrelated_embeddings_score_near_chance_in_both_spaces():
    images, texts = _random(400, 64, 1), _random(400, 64, 2)
    deltas = pair_deltas(images, texts, random_pairs(0, 400, 400))  # pairs sharing an item leak nothing
    for s in (paired_alignment(images, texts), paired_alignment(*deltas)):
        assert s["image_to_text_top1"] < 0.02 and s["text_to_image_top1"] < 0.02  # chance 0.0025
        assert abs(s["gap"]) < 0.03


def test_ties_are_broken_at_random_in_expectation():
    keys = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # keys 0 and 1 identical (a shared caption)
    queries = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]])  # the last one is zero: tied with all keys
    s = retrieval_scores(queries, keys, [0, 1, 2])
    assert s["top1"] == pytest.approx((0.5 + 0.5 + 1 / 3) / 3)


def test_random_pairs_are_distinct_seeded_and_independent_of_their_count():
    pairs = random_pairs(3, 10, 2000)
    assert pairs.shape == (2000, 2) and pairs.dtype == np.int64
    assert np.all(pairs[:, 0] != pairs[:, 1]) and pairs.min() >= 0 and pairs.max() <= 9
    assert len({tuple(p) for p in pairs}) == 90  # every ordered pair of 10 items shows up
    assert np.array_equal(random_pairs(3, 10, 20), pairs[:20])
    assert not np.array_equal(random_pairs(4, 10, 20), pairs[:20])
    with pytest.raises(ValueError, match="two items"):
        random_pairs(0, 1, 5)


def test_pair_deltas_normalise_images_not_texts():
    images = torch.tensor([[2.0, 0.0], [0.0, 5.0]])
    texts = torch.tensor([[1.0, 1.0], [3.0, 0.0]])
    di, dt = pair_deltas(images, texts, [[0, 1]])
    assert torch.allclose(di, torch.tensor([[-1.0, 1.0]]))
    assert torch.allclose(dt, torch.tensor([[2.0, -1.0]]))


def test_a_modality_gap_spoils_raw_retrieval_but_not_delta_retrieval():
    """Images and captions share their content but each modality adds its own constant offset (the
    modality gap): raw retrieval suffers, differences cancel the offset and align."""
    content = 0.4 * _random(200, 64, 3)
    offset_i, offset_t = 2.0 * _random(1, 64, 4), 2.0 * _random(1, 64, 5)
    images, texts = content + offset_i, F.normalize(content + offset_t, dim=-1)
    pairs = random_pairs(0, 200, 200)
    raw, delta = paired_alignment(images, texts), paired_alignment(*pair_deltas(images, texts, pairs))
    assert delta["gap"] > raw["gap"] and delta["image_to_text_top1"] > raw["image_to_text_top1"]
    judged = alignment.judged_differences(alignment_per_item(images, texts),
                                          alignment_per_item(*pair_deltas(images, texts, pairs)), seed=0)
    assert judged["verdict"] == "held"
    for score, d in judged["differences"].items():  # the item means reproduce the scores
        assert d["difference"] == pytest.approx(delta[score] - raw[score], abs=1e-4) and d["ci_low"] > 0
    # Without the gap, raw space is already perfect: delta space cannot beat it (equal top-1s: not held or noise).
    same = alignment.judged_differences(alignment_per_item(content, content),
                                        alignment_per_item(*pair_deltas(content, content, pairs)), seed=0)
    assert same["verdict"] != "held" and same["differences"]["image_to_text_top1"]["verdict"] != "held"
    # The same space against itself: every difference is 0, so within noise, never held.
    itself = alignment_per_item(images, texts)
    assert alignment.judged_differences(itself, itself, seed=0)["verdict"] == "within noise"


def _tiny_world(tmp_path, n: int = 14, train_count: int = 4):
    """A rendered dataset of n faces (attributes, codes and CLIP tables) and a tiny random CLIP."""
    model, _ = C.create_mini("deltaspace-tiny", seed=0)
    C.save_clip(tmp_path / "clip.pt", model, "deltaspace-tiny")
    params = sample_params(0, "alignment-test", np.arange(n))
    files = np.array([f"{i:03d}.png" for i in range(n)])
    (tmp_path / "world").mkdir()
    frame = params_to_frame(params)
    frame.insert(0, "file", files)
    frame.insert(0, "index", np.arange(n))
    frame.to_parquet(tmp_path / "world" / "attributes.parquet", index=False)
    index = np.arange(n, dtype=np.int64)
    embeddings = C.encode_images(model, render(params, 32)).numpy()
    split = np.where(index < train_count, "train", "eval")
    for table, columns in (("codes", {"index": index, "file": files, "split": split}),
                           ("clip", {"index": index, "clip": embeddings})):
        write_shard(tmp_path / table / "d" / "part-00000.parquet", columns)
        write_manifest(tmp_path / table / "d", [tmp_path / table / "d" / "part-00000.parquet"])
    return {"format": "deltaspace", "checkpoint": str(tmp_path / "clip.pt"), "normalize": True}


def _datasets(tmp_path):
    """The stage's dataset entry for _tiny_world, its collections given by manifest as the workflow gives them."""
    return {"d": {"attributes": str(tmp_path / "world" / "attributes.parquet"), "train_count": 4,
                  "codes": str(tmp_path / "codes" / "d" / "manifest.json"),
                  "clip": str(tmp_path / "clip" / "d" / "manifest.json")}}


def test_the_stage_writes_the_report_and_the_figure(tmp_path):
    spec = _tiny_world(tmp_path)
    datasets = _datasets(tmp_path)
    out, figure = tmp_path / "reports" / "deltaspace.json", tmp_path / "figures" / "tsne.png"
    summary = alignment.deltaspace_alignment(clip=spec, datasets=datasets, images=50, pairs=12, seed=0, out=out,
                                             figure=figure)
    report = json.loads(out.read_text())
    entry = report["datasets"]["d"]
    assert entry["images"] == 10 and entry["pairs"] == 12  # the 10 held-out images of 14
    assert report["seed"] == 0 and report["world"] == "mini" and report["clip_backbone"] == "deltaspace-mini"
    for space in alignment.SPACES:
        assert {"image_to_text_top1", "text_to_image_top1", "match_cos", "mismatch_cos", "gap"} <= set(entry[space])
        assert 0.0 <= entry[space]["image_to_text_top1"] <= 1.0
        assert entry[space]["gap"] == pytest.approx(entry[space]["match_cos"] - entry[space]["mismatch_cos"], abs=2e-4)
    assert entry["raw"]["chance_top1"] == 0.1 and entry["delta"]["chance_top1"] == pytest.approx(1 / 12, abs=1e-4)
    assert entry["verdict"] == report["verdict"] == summary["verdict"]
    assert set(entry["differences"]) == set(alignment.CLAIM_SCORES) and entry["bootstrap"] == alignment.BOOTSTRAP
    with Image.open(io.BytesIO(figure.read_bytes())) as img:
        assert img.format == "PNG" and img.size == alignment.figure_size(1)
        pixels = np.asarray(img.convert("RGB"))
    for colour in (c for pair in alignment.COLOURS.values() for c in pair):  # both spaces' points are drawn
        assert np.any(np.all(pixels == colour, axis=-1)), colour


def test_the_stage_refuses_a_dataset_without_two_heldout_images(tmp_path):
    spec = _tiny_world(tmp_path, n=5, train_count=4)
    with pytest.raises(Exception, match="needs two"):
        alignment.deltaspace_alignment(clip=spec, datasets=_datasets(tmp_path), images=8, pairs=4, seed=0,
                                       out=tmp_path / "r.json", figure=tmp_path / "f.png")
