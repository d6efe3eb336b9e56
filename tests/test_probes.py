"""CLIP probes: zero-shot accuracy and the DeltaSpace alignment check."""

from __future__ import annotations

import json

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deltaspace.models import clip as C
from deltaspace.metrics import clip_probes as probes
from deltaspace.world.attributes import ATTRIBUTES, sample_params
from deltaspace.world.captions import EDIT_PROMPTS, SOURCE_PROMPT, zero_shot_prompts
from deltaspace.world.renderer import render


class LookupTokenizer:
    """Maps each known text to its row in a table (the mock CLIP's 'token')."""

    def __init__(self, texts: list[str]):
        self.index = {t: i for i, t in enumerate(texts)}

    def __call__(self, texts):
        return torch.tensor([[self.index[t]] for t in texts])


class MockClip(nn.Module):
    """Image embedding = the pixels themselves (plus `extra` zero dims); text embedding = a table row."""

    def __init__(self, size: int, table: torch.Tensor, extra: int = 0):
        super().__init__()
        self.visual = nn.Module()
        open_clip.set_model_preprocess_cfg(self, {"size": size, "mean": C.MINI_MEAN, "std": C.MINI_STD})
        self.table = nn.Parameter(table, requires_grad=False)
        self.extra = extra

    def encode_image(self, x):
        flat = x.flatten(1)
        return torch.cat([flat, flat.new_zeros(flat.shape[0], self.extra)], dim=1)

    def encode_text(self, tokens):
        return self.table[tokens[:, 0]]


def _one_hot_world():
    """Images whose pixels one-hot encode their attribute values; prompts aligned with them."""
    offsets = np.cumsum([0] + [len(v) for v in ATTRIBUTES.values()])
    dim = 3 * 4 * 4
    texts, rows = [], []
    for k, attribute in enumerate(ATTRIBUTES):
        for v, prompt in enumerate(zero_shot_prompts(attribute)):
            texts.append(prompt)
            rows.append(F.one_hot(torch.tensor(offsets[k] + v), dim).float())
    model = MockClip(4, torch.stack(rows))
    params = sample_params(0, "probe-test", np.arange(40), "uniform")

    def images_for(p):
        x = torch.zeros(40, dim)
        for k, attribute in enumerate(ATTRIBUTES):
            x[torch.arange(40), torch.from_numpy(offsets[k] + np.asarray(p[attribute]))] = 1.0
        return x.view(40, 3, 4, 4)  # mean = std = 0.5: the model sees these values unchanged

    return model, LookupTokenizer(texts), params, images_for


def test_zero_shot_accuracy_on_a_hand_built_clip():
    model, tokenizer, params, images_for = _one_hot_world()
    images = images_for(params)
    acc = probes.zero_shot_accuracy(model, tokenizer, images, params, templates=["{}"])
    assert set(acc) == set(ATTRIBUTES)
    assert all(v == 1.0 for v in acc.values())
    # Images showing the wrong eye size for 10 of 40 faces: accuracy 0.75 on that attribute only.
    wrong = dict(params)
    wrong["eye_size"] = params["eye_size"].copy()
    wrong["eye_size"][:10] = 1 - wrong["eye_size"][:10]
    acc = probes.zero_shot_accuracy(model, tokenizer, images_for(wrong), params, templates=["{}"])
    assert acc["eye_size"] == pytest.approx(0.75)
    assert all(acc[a] == 1.0 for a in ATTRIBUTES if a != "eye_size")


def test_balanced_accuracy_ignores_the_prior():
    # Always predicting "no eyeglasses" on 30 no / 10 yes: plain accuracy 0.75, balanced 0.5.
    model, tokenizer, params, images_for = _one_hot_world()
    truth = dict(params)
    truth["eyeglasses"] = np.array([0] * 30 + [1] * 10)
    shown = dict(params)
    shown["eyeglasses"] = np.zeros(40, dtype=np.int64)
    images = images_for(shown)
    plain = probes.zero_shot_accuracy(model, tokenizer, images, truth, templates=["{}"], attributes=["eyeglasses"])
    balanced = probes.zero_shot_accuracy(
        model, tokenizer, images, truth, templates=["{}"], attributes=["eyeglasses"], balanced=True
    )
    assert plain == {"eyeglasses": pytest.approx(0.75)}
    assert balanced == {"eyeglasses": pytest.approx(0.5)}


def test_alignment_scores_exact_on_orthonormal_vectors():
    eye = torch.eye(3)
    prompts = ["a", "b", "c"]
    delta_i = {p: eye[k].repeat(5, 1) * 0.3 for k, p in enumerate(prompts)}  # scale must not matter
    after = {p: eye[k].repeat(5, 1) for k, p in enumerate(prompts)}
    delta_t = {p: eye[k] for k, p in enumerate(prompts)}
    target = {"a": eye[0], "b": F.normalize(eye[0] + eye[1], dim=0), "c": eye[2]}
    s = probes.alignment_scores(delta_i, after, delta_t, target)
    assert s["prompts"]["a"]["delta_match"] == pytest.approx(1.0)
    assert s["prompts"]["a"]["delta_mismatch"] == pytest.approx(0.0)
    assert s["mean"]["delta_top1"] == pytest.approx(1.0)
    # Raw space: image "a" is as close to t("b") (cos 0.707) as needed to show the weaker contrast.
    assert s["prompts"]["a"]["raw_mismatch"] == pytest.approx((2**-0.5 + 0.0) / 2)
    assert s["prompts"]["b"]["raw_match"] == pytest.approx(2**-0.5)


def test_delta_alignment_finds_the_edit_with_a_pixel_space_clip():
    """Pixel-space 'CLIP' whose text directions are average image differences measured on other
    faces: each prompt's own Δt must match its edit pairs best."""
    size, n = 16, 12
    dim = 3 * size * size
    prompts = {p: EDIT_PROMPTS[p] for p in ("face with red hair", "face with smile", "face with eyeglasses",
                                            "face with pale skin", "face with big eyes")}
    source = torch.zeros(dim + 1)
    source[-1] = 1.0  # t("face"): a direction no image difference has
    rows, texts = [source], [SOURCE_PROMPT]
    for prompt, (attribute, value) in prompts.items():
        base, edited = probes.edit_pairs(99, 24, attribute, value)  # other faces than the probe's
        d = (F.normalize(render(edited, size).flatten(1), dim=1) - F.normalize(render(base, size).flatten(1), dim=1))
        rows.append(torch.cat([d.mean(0), torch.ones(1)]))  # normalised by the model: ~ source + d
        texts.append(prompt)
    model = MockClip(size, torch.stack(rows), extra=1)
    out = probes.delta_alignment(model, LookupTokenizer(texts), 0, n, size, "ffhq", prompts=prompts, templates=["{}"])
    for prompt, row in out["prompts"].items():
        assert row["delta_match"] > row["delta_mismatch"] + 0.2, prompt
        assert row["delta_top1"] >= 0.9, prompt
    assert out["mean"]["delta_top1"] >= 0.95


def test_delta_alignment_with_an_untrained_clip_is_json_ready():
    model, tokenizer = C.create_mini("deltaspace-tiny", seed=0)
    out = probes.delta_alignment(model, tokenizer, seed=0, n_pairs=3, size=32, style="celeba")
    assert set(out["prompts"]) == set(EDIT_PROMPTS)
    keys = {f"{s}_{m}" for s in ("delta", "raw") for m in ("match", "mismatch", "top1")}
    for prompt, row in out["prompts"].items():
        assert keys <= set(row)
        assert (row["attribute"], ATTRIBUTES[row["attribute"]].index(row["value"])) == EDIT_PROMPTS[prompt]
        assert all(-1.0 <= row[k] <= 1.0 for k in keys)
    assert out["style"] == "celeba" and out["n_pairs"] == 3
    json.dumps(out)


def test_edit_pairs_differ_in_one_attribute_only():
    base, edited = probes.edit_pairs(0, 50, "hair_color", 2)
    assert np.all(edited["hair_color"] == 2) and np.all(base["hair_color"] != 2)
    for name in base:
        if name != "hair_color":
            assert np.array_equal(base[name], edited[name])
