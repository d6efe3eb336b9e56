"""Edit strength, matched: the strength sweep stage, curves read at equal preservation, the trade-off outputs."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from deltaspace.config import validate_config
from deltaspace.errors import ConfigError
from deltaspace.io.drawing import PALETTE
from deltaspace.tables.tradeoff import common_levels, read_curves, tradeoff_claims, value_at

from conftest import REPO, TINY_CONFIG, tiny_world
from test_dag import dry_run, planned_jobs

PROMPTS = [{"target": "face with smile", "attribute": "smile", "value": "yes"}, {"target": "face with red hair"}]
REAL = {"world": "real"}  # no metric nets: PSNR only, which needs none


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scaling_the_strength_setting_scales_the_edit(tmp_path, toy_kind):
    """The toy's `shift` times each scale: the further it shifts, the further the edits from the inputs."""
    from deltaspace.stages.sweep import strength_sweep

    generator, _ = tiny_world(tmp_path, n=6)
    spec = {"name": "toy", "kind": toy_kind, "settings": {"shift": 0.7}, "generator": generator, "clip": {},
            "inputs": {"stats": str(tmp_path / "s_stats.npz")}}
    summary = strength_sweep(evaluation_set=tmp_path / "eval.parquet", method=spec, scales=[2, 0.5, 4, 1], images=5,
                             prompts=PROMPTS, source="face", nets=REAL, world="real", dataset="tiny", metrics=["psnr"],
                             bootstrap=20, out=tmp_path / "sweep.jsonl")
    assert summary["scales"] == 4 and summary["images"] == 5 and summary["prompts"] == 2
    lines = _lines(tmp_path / "sweep.jsonl")
    points = [line for line in lines if line["row"] == "average"]
    assert len(lines) == 4 * (2 + 1) and [p["scale"] for p in points] == [0.5, 1, 2, 4]
    assert [p["strength"] for p in points] == pytest.approx([0.35, 0.7, 1.4, 2.8])
    assert all(p["strength_setting"] == "shift" and p["images"] == 5 for p in points)
    psnr = [p["metrics"]["psnr"] for p in points]
    assert all(a > b + 1 for a, b in zip(psnr, psnr[1:])), psnr  # monotonic: a larger edit at every step
    for point in points:
        prompts = [line for line in lines if line["row"] == "prompt" and line["scale"] == point["scale"]]
        assert [line["prompt"] for line in prompts] == point["prompts"] == ["face-with-smile", "face-with-red-hair"]
        assert point["metrics"]["psnr"] == pytest.approx(np.mean([line["metrics"]["psnr"] for line in prompts]))
        low, high = point["intervals"]["psnr"]
        assert low <= point["metrics"]["psnr"] <= high and len(point["bootstrap"]["values"]["psnr"]) == 20


def test_the_sweep_at_scale_1_measures_what_the_evaluate_stage_measures(tmp_path, toy_kind):
    from deltaspace.stages.editing import edit_images
    from deltaspace.stages.evaluate import evaluate
    from deltaspace.stages.sweep import strength_sweep

    generator, _ = tiny_world(tmp_path)
    spec = {"name": "toy", "kind": toy_kind, "settings": {"shift": 0.7}, "generator": generator, "clip": {},
            "inputs": {"stats": str(tmp_path / "s_stats.npz")}}
    common = {"evaluation_set": tmp_path / "eval.parquet", "prompts": PROMPTS, "source": "face"}
    strength_sweep(**common, method=spec, scales=[1, 2], images=5, nets=REAL, world="real", dataset="tiny",
                   metrics=["psnr"], bootstrap=10, out=tmp_path / "sweep.jsonl")
    edit_images(**common, method=spec, out=tmp_path / "edits")
    evaluate(**common, edits=tmp_path / "edits", metrics=["psnr"], nets=REAL, world="real", dataset="tiny",
             method="toy", bootstrap=10, out=tmp_path / "metrics.jsonl")
    swept = [line for line in _lines(tmp_path / "sweep.jsonl") if line["row"] == "prompt" and line["scale"] == 1]
    for a, b in zip(swept, _lines(tmp_path / "metrics.jsonl"), strict=True):
        assert (a["prompt"], a["metrics"], a["bootstrap"]) == (b["prompt"], b["metrics"], b["bootstrap"])


def test_a_kind_without_strength_is_refused(tmp_path):
    from deltaspace.stages.sweep import strength_sweep

    spec = {"name": "no-edit", "kind": "reconstruction", "settings": {}, "inputs": {}, "generator": {}, "clip": {}}
    refused = r"sweep.methods: method 'no-edit' \(kind 'reconstruction'\) has no strength setting"
    with pytest.raises(ConfigError, match=refused):
        strength_sweep(evaluation_set=tmp_path / "none.parquet", method=spec, scales=[1, 2], images=2, prompts=PROMPTS,
                       source="face", nets=REAL, world="real", dataset="tiny", out=tmp_path / "sweep.jsonl")
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["sweep"]["methods"] = ["deltaedit", "no-edit"]
    with pytest.raises(ConfigError, match=refused):
        validate_config(copy.deepcopy(config))
    config["sweep"]["methods"] = ["deltaedit", "nope"]
    with pytest.raises(ConfigError, match="sweep.methods: no method named 'nope'"):
        validate_config(copy.deepcopy(config))
    config["sweep"] = {"images": 9}  # mini-ffhq evaluates 8 images
    with pytest.raises(ConfigError, match=r"sweep.images: 9 exceeds evaluation.images.mini-ffhq \(8\)"):
        validate_config(copy.deepcopy(config))
    del config["sweep"]
    sweep = validate_config(config)["sweep"]  # by default: DeltaEdit-G, its ablations, StyleCLIP-GD rho=3
    assert sweep["methods"] == ["deltaedit", "deltaedit-no-rs", "deltaedit-wplus", "straightforward",
                                "styleclip-gd-rho3"] and sweep["dataset"] == "mini-ffhq" and sweep["images"] == 8


def test_curves_are_read_where_they_first_reach_a_level():
    assert value_at([0.9, 0.8, 0.6], [0.1, 0.3, 0.7], 0.7) == pytest.approx(0.5)
    assert value_at([0.9, 0.8, 0.6], [0.1, 0.3, 0.7], 0.9) == pytest.approx(0.1)  # on a measured point
    # a curve that turns back crosses 0.75 twice: the weakest edit reaching it counts
    assert value_at([0.9, 0.7, 0.8, 0.5], [0.1, 0.5, 0.6, 0.9], 0.75) == pytest.approx(0.4)
    assert np.isnan(value_at([0.9, 0.8], [0.1, 0.3], 0.5))  # never reached
    assert np.isnan(value_at([0.9, np.nan, 0.5], [0.1, 0.2, 0.3], 0.7))  # no value: no line through it
    np.testing.assert_allclose(common_levels([(0.5, 0.9), (0.6, 1.0)]), [0.675, 0.75, 0.825])
    assert common_levels([(0.5, 0.6), (0.7, 1.0)]).size == 0  # the curves share no range


SCALES = [0.5, 1, 2, 3]


def _write_sweep(path, method, preservation, accuracy, noise=0.01, seed=0, resamples=50):
    """Average lines of a sweep of `method` as the strength-sweep stage writes them (no prompt lines):
    preservation and IDS as `preservation`(scale), accuracy as `accuracy`(scale), resamples around them."""
    rng = np.random.default_rng(seed)
    lines = []
    for scale in SCALES:
        values = {"preservation": preservation(scale), "ids": preservation(scale), "edit_accuracy": accuracy(scale)}
        lines.append({"world": "mini", "dataset": "ds", "method": method, "kind": "deltaedit", "scale": scale,
                      "strength_setting": "strength", "strength": scale, "row": "average", "prompt": None,
                      "prompts": ["a", "b"], "images": 100, "metrics": values,
                      "backbones": {m: f"{m} net" for m in values},
                      "bootstrap": {"seed": 0, "replicates": resamples,
                                    "values": {m: list(v + noise * rng.standard_normal(resamples))
                                               for m, v in values.items()}}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("slope, expected", [(0.1, "held"), (0.2, "within noise"), (0.4, "not held")])
def test_equal_preservation_compares_accuracy_at_matched_strength(tmp_path, slope, expected):
    """DeltaEdit keeps 1 - 0.1 s of the face at scale s and the rival 1 - 0.2 s, both with accuracy 0.2 s:
    at preservation p, DeltaEdit's accuracy is 0.2 (1 - p) / slope, the rival's 1 - p."""
    from deltaspace.tables.tradeoff import equal_level_table

    paths = [_write_sweep(tmp_path / "a.jsonl", "deltaedit", lambda s: 1 - slope * s, lambda s: 0.2 * s),
             _write_sweep(tmp_path / "b.jsonl", "straightforward", lambda s: 1 - 0.2 * s, lambda s: 0.2 * s, seed=1)]
    curves = read_curves(paths, "ds")
    table = equal_level_table(curves, "mini", "ds")
    low, high = max(1 - 3 * slope, 0.4), min(1 - 0.5 * slope, 0.9)  # the range both curves span (scales 0.5-3)
    levels = np.linspace(low, high, 5)[1:-1]
    for axis in ("preservation", "IDS"):
        rows = table[table["axis"] == axis]
        np.testing.assert_allclose(rows["level"], np.repeat(levels, 2))
        for method, slope_of in (("deltaedit", slope), ("straightforward", 0.2)):
            mine = rows[rows["method"] == method]
            np.testing.assert_allclose(mine["edit_accuracy"], 0.2 * (1 - levels) / slope_of)
            np.testing.assert_allclose(mine["scale"], (1 - levels) / slope_of)
            assert (mine["edit_accuracy_ci_low"] < mine["edit_accuracy"]).all()
    claims = tradeoff_claims(curves)
    assert len(claims) == 6 and set(claims["verdict"]) == {expected}
    np.testing.assert_allclose(claims["difference"], 0.2 * (1 - np.tile(levels, 2)) * (1 / slope - 1 / 0.2))


def test_tradeoff_stage_draws_the_curves_and_writes_the_table_and_claim(tmp_path):
    from deltaspace.stages.sweep import figure_size, tradeoff

    paths = [_write_sweep(tmp_path / "a.jsonl", "deltaedit", lambda s: 1 - 0.1 * s, lambda s: 0.2 * s),
             _write_sweep(tmp_path / "b.jsonl", "straightforward", lambda s: 1 - 0.2 * s, lambda s: 0.2 * s, seed=1)]
    out = {"figure": tmp_path / "f.png", "table": tmp_path / "t.csv", "claims": tmp_path / "c.md"}
    summary = tradeoff(sweeps=[str(p) for p in paths], dataset="ds", world="mini", **out)
    assert summary == {"methods": 2, "rows": 12, "verdicts": {"held": 6}}
    with Image.open(out["figure"]) as image:
        assert image.format == "PNG" and image.size == figure_size(2)
        pixels = np.asarray(image.convert("RGB"))
    for colour in PALETTE[:2]:  # each method's curve
        assert (pixels == colour).all(-1).sum() > 100
    table = pd.read_csv(out["table"])
    assert set(table["method"]) == {"deltaedit", "straightforward"} and set(table["world"]) == {"mini"}
    text = out["claims"].read_text()
    assert "DeltaEdit-G more accurate than DeltaEdit-G (straightforward) at preservation 0.750" in text
    assert "6 held, 0 not held, 0 within noise" in text


def test_the_sweep_target_plans_one_job_per_swept_method(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    jobs = planned_jobs(dry_run(tmp_path, "results/mini/figures/tradeoff-mini-ffhq.png"))
    assert jobs["strength_sweep"] == len(config["sweep"]["methods"]) == 5 and jobs["tradeoff"] == 1
    assert "edit_images" not in jobs and "evaluate" not in jobs  # the sweep edits and measures by itself
    assert "strength_sweep" not in planned_jobs(dry_run(tmp_path))  # not part of the default target
