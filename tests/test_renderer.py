"""Tests of the mini world's attributes (priors, latent mapping) and its face renderer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from deltaspace import rng
from deltaspace.world import attributes as A
from deltaspace.world import renderer as R

torch.set_num_threads(1)


def faces(n: int = 24, seed: int = 3, prior: str = "uniform", **changes) -> A.Params:
    """Random faces, centred (pose 0) unless told otherwise, with some factors fixed."""
    params = A.sample_params(seed, "test-renderer", range(n), prior)
    return A.replace(params, **{"offset_x": 0.0, "offset_y": 0.0, **changes})


# ---------------------------------------------------------------- attributes


def test_factor_layout():
    assert list(A.ATTRIBUTES) == [
        "hair_color", "hair_length", "bangs", "smile", "eyeglasses", "eye_size", "skin_tone", "background",
    ]
    assert A.ATTRIBUTES["hair_color"] == ("black", "blond", "red", "brown", "gray")
    assert A.NUM_FACTORS == 16 == len(A.ATTRIBUTES) + len(A.IDENTITY) + len(A.POSE)
    for prior in ("ffhq", "celeba", "uniform"):
        for name, values in A.ATTRIBUTES.items():
            probs = A.PRIORS[prior][name]
            assert len(probs) == len(values)
            assert sum(probs) == pytest.approx(1.0)


@pytest.mark.parametrize("prior", ["ffhq", "celeba", "uniform"])
def test_params_from_normal_follows_prior(prior):
    z = rng.normal(0, "test-prior", np.arange(20_000), A.NUM_FACTORS)
    params = A.params_from_normal(z, prior)
    for name, values in A.ATTRIBUTES.items():
        freq = np.bincount(params[name], minlength=len(values)) / 20_000
        np.testing.assert_allclose(freq, A.PRIORS[prior][name], atol=0.015, err_msg=f"{prior}/{name}")
    for name in A.IDENTITY:
        assert params[name].dtype == np.float32
        assert 0.0 <= params[name].min() and params[name].max() <= 1.0
        assert abs(params[name].mean() - 0.5) < 0.02  # Phi(z) is uniform
    for name in A.POSE:
        assert params[name].dtype == np.float32
        assert -1.0 <= params[name].min() and params[name].max() <= 1.0
    assert all(params[name].dtype == np.int64 for name in A.ATTRIBUTES)


def test_priors_differ_where_promised():
    ffhq, celeba = A.PRIORS["ffhq"], A.PRIORS["celeba"]
    assert ffhq["eyeglasses"][1] == pytest.approx(0.2)
    assert celeba["eyeglasses"][1] < ffhq["eyeglasses"][1]
    assert celeba["hair_color"][1] > ffhq["hair_color"][1]  # more blond
    assert celeba["smile"][1] > ffhq["smile"][1]
    assert celeba["hair_length"][1] > ffhq["hair_length"][1]
    assert celeba["background"] != ffhq["background"]


def test_params_from_normal_is_deterministic_and_ignores_extra_columns():
    z = rng.normal(1, "test-extra", np.arange(100), A.NUM_FACTORS + 5)
    a = A.params_from_normal(z, "ffhq")
    z2 = z.copy()
    z2[:, A.NUM_FACTORS:] = 0.0
    b = A.params_from_normal(z2, "ffhq")
    for name in A.FACTORS:
        np.testing.assert_array_equal(a[name], b[name])
    with pytest.raises(ValueError):
        A.params_from_normal(z[:, : A.NUM_FACTORS - 1], "ffhq")
    with pytest.raises(ValueError):
        A.params_from_normal(z, "no-such-prior")


def test_sample_params_does_not_depend_on_batch():
    all_ = A.sample_params(7, "stream", range(50), "ffhq")
    some = A.sample_params(7, "stream", [3, 41], "ffhq")
    other_stream = A.sample_params(7, "other", range(50), "ffhq")
    for name in A.FACTORS:
        np.testing.assert_array_equal(all_[name][[3, 41]], some[name])
    assert any(not np.array_equal(all_[name], other_stream[name]) for name in A.FACTORS)


def test_replace_sets_only_the_named_factors():
    base = faces(10)
    changed = A.replace(base, hair_color="red", smile=1, face_width=0.25)
    assert (changed["hair_color"] == 2).all() and (changed["smile"] == 1).all()
    assert np.allclose(changed["face_width"], 0.25)
    for name in set(A.FACTORS) - {"hair_color", "smile", "face_width"}:
        np.testing.assert_array_equal(changed[name], base[name])
    assert not np.array_equal(base["hair_color"], changed["hair_color"])  # the copy is independent
    per_item = A.replace(base, background=np.arange(10) % 4)
    np.testing.assert_array_equal(per_item["background"], np.arange(10) % 4)
    for bad in ({"hair_color": "purple"}, {"smile": 2}, {"nose": 1}):
        with pytest.raises(ValueError):
            A.replace(base, **bad)


def test_frame_round_trip():
    params = faces(12, prior="ffhq")
    frame = A.params_to_frame(params)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 12
    assert set(frame["hair_color"]) <= set(A.ATTRIBUTES["hair_color"])
    back = A.params_from_frame(frame)
    for name in A.FACTORS:
        np.testing.assert_array_equal(back[name], params[name])
        assert back[name].dtype == params[name].dtype


# ---------------------------------------------------------------- renderer basics


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("style", R.STYLES)
def test_render_shape_dtype_range(size, style):
    params = faces(6, prior="ffhq")
    img = R.render(params, size, style)
    assert img.shape == (6, 3, size, size) and img.dtype == torch.float32
    assert img.min() >= -1.0 and img.max() <= 1.0
    assert img.min() < -0.5 and img.max() > 0.5  # uses the range (dark and bright pixels)
    u8 = R.render_uint8(params, size, style)
    assert u8.shape == (6, size, size, 3) and u8.dtype == np.uint8
    np.testing.assert_array_equal(u8, R.to_uint8(img))


def test_render_at_256_matches_32_when_downsampled():
    params = faces(2, prior="ffhq")
    big = R.render(params, 256)
    small = R.render(params, 32)
    assert big.shape == (2, 3, 256, 256)
    down = F.avg_pool2d(big, 8)
    assert (down - small).abs().mean() < 0.03  # same picture at any size


def test_render_is_deterministic():
    params = faces(8)
    for style in R.STYLES:
        assert torch.equal(R.render(params, 32, style), R.render(params, 32, style))


def test_render_does_not_depend_on_batch():
    params = A.sample_params(5, "batch", range(12), "uniform")  # poses included
    for style in R.STYLES:
        batch = R.render(params, 32, style)
        for i in range(12):
            alone = R.render(A.select(params, [i]), 32, style)
            torch.testing.assert_close(alone[0], batch[i], rtol=0, atol=1e-5)
        # and in a different batch composition
        mixed = R.render(A.select(params, [11, 3, 7]), 32, style)
        torch.testing.assert_close(mixed, batch[[11, 3, 7]], rtol=0, atol=1e-5)


def test_chunked_rendering_matches(monkeypatch):
    params = A.sample_params(6, "chunks", range(13), "uniform")
    whole = R.render(params, 32, "celeba")
    monkeypatch.setattr(R, "CHUNK_PIXELS", 5 * 32 * 32)  # chunks of 5, 5 and 3 faces
    torch.testing.assert_close(R.render(params, 32, "celeba"), whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("style", R.STYLES)
def test_bands_hold_every_shape(style, monkeypatch):
    """Extreme identities and poses render the same with and without the speed-up bands."""
    n = 64
    u = rng.uniform(9, "extremes", np.arange(n), A.NUM_FACTORS)
    params = A.sample_params(9, "extremes-attrs", range(n), "uniform")
    for k, name in enumerate(A.IDENTITY):
        params[name] = (u[:, k] > 0.5).astype(np.float32)
    for k, name in enumerate(A.POSE):
        params[name] = np.where(u[:, 8 + k] > 0.5, 1.0, -1.0).astype(np.float32)
    for size in (16, 32):
        banded = R.render(params, size, style)
        monkeypatch.setattr(R, "_USE_BANDS", False)
        full = R.render(params, size, style)
        monkeypatch.setattr(R, "_USE_BANDS", True)
        torch.testing.assert_close(banded, full, rtol=0, atol=1e-5)


def test_render_rejects_bad_input():
    params = faces(2)
    with pytest.raises(ValueError):
        R.render(params, 32, "anime")
    bad = dict(params)
    bad["skin_tone"] = np.array([0, 3])
    with pytest.raises(ValueError):
        R.render(bad, 32)
    incomplete = {k: v for k, v in params.items() if k != "smile"}
    with pytest.raises(ValueError):
        R.render(incomplete, 32)


# ---------------------------------------------------------------- attributes are visible where expected

# Regions at 32 px for centred faces: (rows, cols) boxes, end exclusive.
TOP = [(slice(0, 12), slice(4, 28))]
HAIR = [(slice(0, 17), slice(3, 29))]
FOREHEAD = [(slice(9, 18), slice(4, 28))]
SIDES = [(slice(14, 32), slice(0, 14)), (slice(14, 32), slice(18, 32))]  # beside the face and neck
EYES = [(slice(13, 22), slice(5, 27))]
GLASSES = [(slice(13, 23), slice(5, 27))]
MOUTH = [(slice(22, 27), slice(10, 22))]
LOWER_MOUTH = [(slice(23, 27), slice(10, 22))]
FACE = [(slice(8, 32), slice(4, 28))]
CORNERS = [(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(28, 32))]
CENTRE = [(slice(16, 26), slice(11, 21))]
FACE_CORE = [(slice(16, 24), slice(12, 20))]


def region_mask(boxes) -> torch.Tensor:
    mask = torch.zeros(32, 32, dtype=torch.bool)
    for rows, cols in boxes:
        mask[rows, cols] = True
    return mask


# attribute -> (values to compare, factors fixed so the regions are stable, changed region,
#   region left untouched, least mean |difference| in the changed region for every face (the
#   [-1, 1] scale; 0.1 is about 13 grey levels over the whole box), least share of the change
#   that lies in the region (None: the background changes the whole frame by design)).
CASES = {
    "hair_color": ((0, 1, 2, 3, 4), {"hair_length": "short", "bangs": "no"}, HAIR, CENTRE + MOUTH, 0.1, 0.95),
    "hair_length": ((0, 1), {}, SIDES, TOP + FACE_CORE, 0.1, 0.95),
    "bangs": ((0, 1), {}, FOREHEAD, MOUTH + CORNERS, 0.05, 0.95),
    "smile": ((0, 1), {}, MOUTH, TOP + EYES + CORNERS, 0.08, 0.95),
    "eyeglasses": ((0, 1), {}, GLASSES, LOWER_MOUTH + TOP + CORNERS, 0.15, 0.95),
    "eye_size": ((0, 1), {"eyeglasses": "no"}, EYES, MOUTH + TOP + CORNERS, 0.06, 0.95),
    "skin_tone": ((0, 1, 2), {}, FACE, CORNERS, 0.06, 0.95),
    "background": ((0, 1, 2, 3), {}, CORNERS, FACE_CORE, 0.4, None),
}


@pytest.mark.parametrize("style", R.STYLES)
@pytest.mark.parametrize("attribute", list(CASES))
def test_attribute_changes_its_region(attribute, style):
    values, fixed, region, untouched, least, least_share = CASES[attribute]
    params = faces(24, **fixed)
    inside, outside = region_mask(region), region_mask(untouched)
    images = [R.render(A.replace(params, **{attribute: v}), 32, style) for v in values]
    for i, a in enumerate(images):
        for b in images[i + 1 :]:
            diff = (a - b).abs().amax(1)  # (N, H, W), largest channel change
            # clearly visible inside its region, for every face
            per_face = diff[:, inside].mean(1)
            assert per_face.min() > least, f"{attribute}: weakest change {per_face.min():.3f}"
            # most of the change lies in the region
            if least_share is not None:
                share = diff[:, inside].sum() / diff.sum()
                assert share > least_share, f"{attribute}: only {share:.2f} of the change in its region"
            # and the unrelated region does not move at all
            assert diff[:, outside].max() < 1e-5


@pytest.mark.parametrize("attribute", [a for a in CASES if a != "background"])
def test_other_attributes_leave_the_background_alone(attribute):
    values, fixed, *_ = CASES[attribute]
    params = faces(8, **fixed)
    corners = region_mask(CORNERS)
    a = R.render(A.replace(params, **{attribute: values[0]}), 32)
    b = R.render(A.replace(params, **{attribute: values[-1]}), 32)
    assert (a - b).abs().amax(1)[:, corners].max() < 1e-5


def test_hair_colours_are_all_distinct_in_the_hair():
    params = faces(4, hair_length="short", bangs="no")
    top = region_mask([(slice(3, 6), slice(13, 19))])  # the crown: hair for every face
    means = []
    for v in range(5):
        img = R.render(A.replace(params, hair_color=v), 32)
        means.append(img[:, :, top].mean(2))  # (N, 3)
    for i in range(5):
        for j in range(i + 1, 5):
            dist = (means[i] - means[j]).norm(dim=1)
            assert dist.min() > 0.3, (A.ATTRIBUTES["hair_color"][i], A.ATTRIBUTES["hair_color"][j], dist)


def test_background_is_uniform_and_the_palette_colour():
    params = faces(4, background="green", hair_length="short")
    for style in R.STYLES:
        img = R.render(params, 32, style)
        corners = img[:, :, :3, :3].reshape(4, 3, -1)
        expected = R.BACKGROUND_COLORS[2] * 2 - 1
        torch.testing.assert_close(corners, expected.reshape(1, 3, 1).expand_as(corners), rtol=0, atol=1e-6)


def test_big_eyes_are_much_larger():
    # colours chosen so that only the eyes are white or near-black
    params = faces(8, eyeglasses="no", hair_color="gray", skin_tone="medium", background="blue")
    size = 128  # count pixels at a size where the area is well resolved
    areas = []
    for v in (0, 1):
        img = (R.render(A.replace(params, eye_size=v), size) + 1) / 2
        sclera = (img.amin(1) > 0.95).flatten(1).sum(1)
        pupil = (img.amax(1) < 0.15).flatten(1).sum(1)
        areas.append((sclera + pupil).float())
    assert (areas[0] > 20).all()  # normal eyes are there too
    assert (areas[1] > 2.0 * areas[0]).all(), areas


def test_identity_changes_less_than_attributes_and_pose_shifts():
    params = faces(16, prior="ffhq")

    def change(name, lo, hi) -> float:
        a = R.render(A.replace(params, **{name: lo}))
        b = R.render(A.replace(params, **{name: hi}))
        return (a - b).abs().mean().item()

    attribute_changes = [change(name, 0, len(values) - 1) for name, values in A.ATTRIBUTES.items()]
    typical = float(np.median(attribute_changes))
    for name in A.IDENTITY:
        c = change(name, 0.0, 1.0)
        assert 0.0005 < c < 0.7 * typical, (name, c, typical)
    # pose: offset_x = +-1 moves the whole picture by +-1.5 px (3 px between the extremes)
    left = R.render(A.replace(params, offset_x=-1.0, background="white"))
    right = R.render(A.replace(params, offset_x=1.0, background="white"))
    shifted = (right[..., 3:] - left[..., :-3]).abs().mean()
    assert shifted < 0.01 < (right - left).abs().mean()
    up = R.render(A.replace(params, offset_y=-1.0, background="white"))
    down = R.render(A.replace(params, offset_y=1.0, background="white"))
    assert (down[..., 3:, :] - up[..., :-3, :]).abs().mean() < 0.01


def test_styles_differ_but_share_the_geometry():
    params = faces(16, prior="ffhq")
    ffhq, celeba = R.render(params, 32, "ffhq"), R.render(params, 32, "celeba")
    assert (ffhq - celeba).abs().mean() > 0.05
    # the figure's outline (where the background ends) is nearly the same in both styles
    bg = R.BACKGROUND_COLORS[torch.as_tensor(params["background"])].reshape(-1, 3, 1, 1) * 2 - 1
    is_bg_ffhq = (ffhq - bg).abs().amax(1) < 1e-3
    is_bg_celeba = (celeba - bg).abs().amax(1) < 1e-3
    # (celeba's hair is taller and its long hair flares: a few percent of the pixels)
    assert 0.002 < (is_bg_ffhq != is_bg_celeba).float().mean() < 0.08


def test_attribute_sheet():
    sheet = R.attribute_sheet(size=16, style="celeba")
    rows = len(A.ATTRIBUTES) + len(A.IDENTITY) + len(A.POSE)
    assert sheet.shape == (rows * 16, 5 * 16, 3) and sheet.dtype == np.uint8
    first_row = sheet[:16].reshape(16, 5, 16, 3).transpose(1, 0, 2, 3)  # the five hair colours
    assert all(not np.array_equal(first_row[i], first_row[j]) for i in range(5) for j in range(i + 1, 5))
