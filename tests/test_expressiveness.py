"""The S-expressiveness check (world/expressiveness.py) on tiny distilled generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deltaspace import rng
from deltaspace.models.stylegan2 import load_generator
from deltaspace.training.generator import train_generator
from deltaspace.world import attributes, renderer
from deltaspace.metrics.expressiveness import s_expressiveness

ARCH = {"size": 8, "style_dim": 64, "n_mlp": 2, "channels": {4: 32, 8: 16}}
PROMPTS = [{"attribute": "hair_color", "value": "red"}, {"attribute": "hair_color", "value": "blond"},
           {"attribute": "skin_tone", "value": "tanned"}, {"attribute": "hair_color", "value": "red"}]


class NearestIdeal:
    """Stands in for the attribute net: per attribute, the value whose render (with the images' other
    true parameters) is nearest in pixels. It knows the images, so its verdict on a render is exact."""

    def __init__(self, params, size):
        self.params, self.size = params, size

    def predict(self, images):
        out = {}
        for name, values in attributes.ATTRIBUTES.items():
            renders = [renderer.render(attributes.replace(self.params, **{name: v}), self.size, "ffhq")
                       for v in range(len(values))]
            out[name] = torch.stack([(images - r).square().flatten(1).mean(1) for r in renders], 1).argmin(1).numpy()
        return out


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    """Tiny generators distilled with constant and with free toRGB styles (~23 and ~25 dB, 8 s in all)."""
    out = {}
    for mode in ("constant", "free"):
        path = tmp_path_factory.mktemp("expressiveness") / f"{mode}.pt"
        train_generator(path, arch=ARCH, steps=300, batch_size=16, lr=0.05, seed=0, eval_count=16, threads=1,
                        latent_avg_count=64, torgb_styles=mode)
        out[mode] = load_generator(path, "generator")[0]
    return out


def _check(G, n=8, steps=50):
    z = rng.normal(0, "test-expressiveness", range(n), G.style_dim)
    params = attributes.params_from_latent(z, "ffhq")
    with torch.no_grad():
        s, s_rgb = G.styles_from_z(torch.from_numpy(z))
    return params, s_expressiveness(G, NearestIdeal(params, G.size), params, s, s_rgb, PROMPTS, style="ffhq",
                                    steps=steps)


def test_colour_is_expressible_through_s_only_with_constant_torgb_styles(generators):
    G = generators["constant"]
    before = {k: v.clone() for k, v in G.state_dict().items()}
    flags = [p.requires_grad for p in G.parameters()]
    params, result = _check(G)
    assert list(result["prompts"]) == ["hair_color=red", "hair_color=blond", "skin_tone=tanned"]  # duplicates once
    assert result["images"] == 8 and result["steps"] == 50
    for key, entry in result["prompts"].items():
        attribute, value = key.split("=")
        assert 0.0 <= entry["no_edit_rate"] <= 1.0
        assert entry["no_edit_rate"] == pytest.approx(np.mean(params[attribute] == attributes.value_index(attribute, value)))
        assert entry["ideal_accuracy"] == 1.0 and np.isfinite(entry["psnr_db"]) and np.isfinite(entry["shared_psnr_db"])
        for kind in ("accuracy", "shared_accuracy"):
            assert 0.0 <= entry[kind] <= 1.0
            assert result[f"min_{kind}"] == min(e[kind] for e in result["prompts"].values())
        assert entry["accuracy"] >= 0.9 and entry["accuracy"] > entry["no_edit_rate"]  # the best S code per image
        # one direction for all images fits them no better than a code per image
        assert entry["shared_psnr_db"] < entry["psnr_db"]
    assert result["passes"] == (min(result["min_accuracy"], result["min_shared_accuracy"]) >= 0.9)
    # the check leaves the generator as it was
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert [p.requires_grad for p in G.parameters()] == flags


def test_hair_colour_held_in_free_torgb_styles_is_out_of_reach_of_an_s_direction(generators):
    # trained with free toRGB styles, the generator puts part of the hair colour there: no single
    # S direction (toRGB styles held at the originals') turns every image's hair to the colour
    _, free = _check(generators["free"])
    _, constant = _check(generators["constant"])
    hair = ("hair_color=red", "hair_color=blond")
    worst = {name: min(r["prompts"][k]["shared_accuracy"] for k in hair) for name, r in (("free", free), ("constant", constant))}
    assert worst["free"] < 0.5 < worst["constant"]
    assert not free["passes"]
