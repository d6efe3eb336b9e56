"""Bootstrap intervals: resamples, the Frechet distance and KID on weighted sets, the evaluate stage's
replicates, Table 1's interval columns and per-prompt table, paired differences and verdicts."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from deltaspace.errors import DataError
from deltaspace.io.images import encode_png
from deltaspace.io.shards import write_manifest, write_shard
from deltaspace.metrics.bootstrap import per_image_mean, point_value, resample_weights
from deltaspace.metrics.fid import fid_from_features, frechet_distances
from deltaspace.metrics.kid import kernel_distances
from deltaspace.tables.claims import claims_markdown, table1_claims
from deltaspace.tables.spread import centred, interval, paired_difference, verdict
from deltaspace.tables.table1 import build_table1, read_results


def _features(n, d=8, seed=0, shift=0.0):
    """Paired feature sets: b is a noisy, shifted copy of a with its own covariance."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    return a, 0.7 * a + rng.normal(size=(n, d)) + shift


def test_resamples_depend_only_on_seed_and_image_count():
    w = resample_weights(3, 50, 40)
    assert w.shape == (50, 40) and (w.sum(axis=1) == 40).all() and (w >= 0).all()
    np.testing.assert_array_equal(w, resample_weights(3, 50, 40))  # any method, any prompt: the same rows
    np.testing.assert_array_equal(w[:10], resample_weights(3, 10, 40))  # row b does not depend on B
    assert not np.array_equal(w, resample_weights(4, 50, 40))
    assert 0.55 < (w > 0).mean() < 0.72  # about 1 - 1/e of the images in each resample


def test_frechet_distance_matches_clean_fid():
    from cleanfid.fid import fid_from_feats

    for n, d in ((300, 32), (1000, 64)):
        a, b = _features(n, d, seed=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = fid_from_feats(b, a)
        assert fid_from_features(b, a) == pytest.approx(expected, rel=1e-6)
    # a weighted row is the same as repeating the images
    w = resample_weights(0, 1, 300)[0]
    rows = np.repeat(np.arange(300), w.astype(int))
    assert frechet_distances(b[:300], a[:300], w[None])[0] == pytest.approx(fid_from_features(b[rows], a[rows]), rel=1e-9)


def test_kid_is_zero_for_an_unchanged_set_positive_for_a_shift_and_matches_clean_fid():
    from cleanfid.fid import kernel_distance

    a, b = _features(200, 8)
    w = resample_weights(0, 20, 200)
    assert np.abs(kernel_distances(a, a, w)).max() < 1e-9
    near, far = (kernel_distances(a, b + s, np.ones((1, 200)))[0] for s in (0.0, 1.0))
    assert far > near > 0
    # clean-fid keeps the cross pairs of the same image (independent sets); without them the values agree
    n, d = len(a), a.shape[1]
    cross = (b @ a.T / d + 1) ** 3
    cleanfid = kernel_distance(b, a, num_subsets=1, max_subset_size=n)  # all n images: no random subset
    same_pairs = 2 * cross.sum() / n ** 2 - 2 * (cross.sum() - np.trace(cross)) / (n * (n - 1))
    assert kernel_distances(b, a, np.ones((1, n)))[0] == pytest.approx(cleanfid + same_pairs, rel=1e-9)
    # a resample of one distinct image has no pair of different images: KID is undefined there
    one = np.zeros((1, n))
    one[0, 3] = n
    assert np.isnan(kernel_distances(b, a, one)[0])
    assert interval(centred([1.0, None, 3.0], 2.0)) == pytest.approx((1.05, 2.95))  # undefined ones left out


@pytest.mark.parametrize("metric", [frechet_distances, kernel_distances, "mean"])
def test_intervals_contain_the_value_and_shrink_with_more_images(metric):
    widths = []
    for n in (200, 1600):
        a, b = _features(n, shift=0.5, seed=1)
        statistic = per_image_mean(np.linalg.norm(a - b, axis=1)) if metric == "mean" else lambda w: metric(b, a, w)
        point = point_value(statistic, n)
        low, high = interval(centred(statistic(resample_weights(0, 200, n)), point))
        assert low < point < high
        widths.append(high - low)
    assert widths[1] < 0.6 * widths[0]  # 1/sqrt(8) expected


def _edits(folder, images):
    """An edits folder as the edit stage writes it: {prompt name: images}."""
    shards = []
    for prompt, edited in images.items():
        shards.append(folder / f"{prompt}.parquet")
        write_shard(shards[-1], {"index": np.arange(len(edited)), "image": [encode_png(x) for x in edited]})
    write_manifest(folder, shards, info={})


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """The evaluate stage on two methods x two prompts (PSNR on 40 noisy copies): the JSON line paths."""
    from deltaspace.stages.evaluate import evaluate

    root = tmp_path_factory.mktemp("evaluate")
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    write_shard(root / "set.parquet", {"index": np.arange(40), "image": [encode_png(x) for x in originals]})
    prompts = ["face-with-smile", "face-with-bangs"]
    noisy = {s: np.clip(originals + rng.normal(0, s, originals.shape), 0, 255).astype(np.uint8) for s in (4, 5, 30)}
    methods = {"deltaedit": {prompts[0]: noisy[4], prompts[1]: noisy[5]},  # better than straightforward
               "straightforward": {prompts[0]: noisy[30], prompts[1]: noisy[5]}}
    paths = []
    for method, images in methods.items():
        _edits(root / method, images)
        paths.append(root / f"{method}.jsonl")
        evaluate(evaluation_set=root / "set.parquet", edits=root / method, source="face", metrics=["psnr"],
                 prompts=[{"target": "face with smile"}, {"target": "face with bangs"}], nets={"world": "real"},
                 world="real", dataset="faces", method=method, out=paths[-1], bootstrap=200, seed=7)
    return paths, originals, methods


def test_evaluate_writes_replicates_of_the_same_resamples_for_every_method(evaluated):
    from deltaspace.metrics.psnr import psnr_db
    from deltaspace.io.images import uint8_to_tensor

    paths, originals, methods = evaluated
    weights = resample_weights(7, 200, len(originals))
    for path, (method, images) in zip(paths, methods.items()):
        for line in map(json.loads, path.read_text().splitlines()):
            assert line["bootstrap"]["seed"] == 7 and line["bootstrap"]["replicates"] == 200
            per_image = psnr_db(uint8_to_tensor(originals), uint8_to_tensor(images[line["prompt"]])).double().numpy()
            assert line["metrics"]["psnr"] == pytest.approx(per_image.mean())
            np.testing.assert_allclose(line["bootstrap"]["values"]["psnr"], weights @ per_image / len(originals))


def test_table1_columns_and_the_per_prompt_table(evaluated, tmp_path):
    from deltaspace.stages.tables import table1

    paths, _, methods = evaluated
    table1(results=[str(p) for p in paths], dataset="faces", methods=list(methods), out=tmp_path / "t.csv",
           per_prompt=tmp_path / "p.csv")
    table = pd.read_csv(tmp_path / "t.csv").set_index("method")
    measured = table.loc[list(methods)]
    assert list(table.columns[table.columns.str.startswith("psnr")]) == [
        "psnr", "psnr_ci_low", "psnr_ci_high", "psnr_published", "psnr_backbone"]
    assert (measured["bootstrap"] == 200).all()
    assert (measured["psnr_ci_low"] < measured["psnr"]).all() and (measured["psnr"] < measured["psnr_ci_high"]).all()
    assert table.loc["tedigan", ["psnr", "psnr_ci_low", "psnr_ci_high"]].isna().all()  # not implemented: no numbers
    per_prompt = pd.read_csv(tmp_path / "p.csv")
    assert len(per_prompt) == len(methods) * 2
    assert set(zip(per_prompt["method"], per_prompt["prompt"])) == {
        (m, p) for m in methods for p in ("face-with-smile", "face-with-bangs")}
    assert (per_prompt["psnr_ci_low"] <= per_prompt["psnr"]).all() and (per_prompt["psnr"] <= per_prompt["psnr_ci_high"]).all()
    # the aggregate cell is the mean of the per-prompt cells
    assert measured["psnr"].tolist() == pytest.approx(per_prompt.groupby("method", sort=False)["psnr"].mean().tolist(),
                                                      abs=1e-3)


def test_paired_differences_give_the_three_verdicts(evaluated):
    paths, _, _ = evaluated
    results = read_results(paths)
    better = paired_difference(results, "faces", "psnr", "deltaedit", "straightforward")
    assert better["ci_low"] > 0 and verdict(better["ci_low"], better["ci_high"], higher_is_better=True) == "held"
    worse = paired_difference(results, "faces", "psnr", "straightforward", "deltaedit")
    assert verdict(worse["ci_low"], worse["ci_high"], higher_is_better=True) == "not held"
    # on the prompt where both methods made the same edit, the difference is exactly 0: within noise
    same = paired_difference(results[results["prompt"] == "face-with-bangs"], "faces", "psnr", "deltaedit",
                             "straightforward")
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0
    assert verdict(same["ci_low"], same["ci_high"], higher_is_better=True) == "within noise"
    assert verdict(-2.0, -1.0, higher_is_better=False) == "held" and verdict(1.0, 2.0, higher_is_better=False) == "not held"


def test_paired_differences_need_the_same_resamples(evaluated):
    paths, _, _ = evaluated
    results = read_results(paths)
    results.loc[results["method"] == "straightforward", "bootstrap_seed"] = 8
    with pytest.raises(DataError, match="not paired"):
        paired_difference(results, "faces", "psnr", "deltaedit", "straightforward")
    build_table1(results, "faces", ["deltaedit", "straightforward"])  # a table of its own needs no pairing


def test_the_paper_claims_are_judged_against_each_measured_row(evaluated):
    paths, _, _ = evaluated
    claims = table1_claims(read_results(paths), "faces", ["deltaedit", "straightforward"])
    assert claims[["b", "metric", "verdict"]].values.tolist() == [["straightforward", "psnr", "held"]]
    text = claims_markdown(claims, "faces")
    assert "| DeltaEdit-G better than" in text and "1 held, 0 not held, 0 within noise" in text


def test_a_row_on_fewer_images_is_compared_unpaired_and_never_on_fid(evaluated, tmp_path):
    from deltaspace.stages.evaluate import evaluate

    paths, originals, methods = evaluated
    root = paths[0].parent
    worse = {p: x[:20] for p, x in methods["straightforward"].items()}  # a slow method: the first 20 images
    _edits(tmp_path / "tedigan", {"face-with-smile": worse["face-with-smile"], "face-with-bangs": worse["face-with-smile"]})
    evaluate(evaluation_set=root / "set.parquet", edits=tmp_path / "tedigan", source="face", metrics=["psnr"],
             prompts=[{"target": "face with smile"}, {"target": "face with bangs"}], nets={"world": "real"},
             world="real", dataset="faces", method="tedigan", out=tmp_path / "tedigan.jsonl", bootstrap=200, seed=7,
             images=20)
    results = read_results([*paths, tmp_path / "tedigan.jsonl"])
    assert set(results.loc[results["method"] == "tedigan", "images"]) == {20}
    for row in results.itertuples():  # FID stands in as a copy of PSNR: it is never compared across image counts
        row.metrics["fid"], row.replicates["fid"] = row.metrics["psnr"], row.replicates["psnr"]
    claims = table1_claims(results, "faces", ["deltaedit", "straightforward", "tedigan"]).set_index(["b", "metric"])
    assert claims.loc[("tedigan", "psnr"), "verdict"] == "held" and not claims.loc[("tedigan", "psnr"), "paired"]
    assert claims.loc[("tedigan", "psnr"), "claim"].endswith("(unpaired: other images)")
    assert claims.loc[("tedigan", "fid"), "verdict"] == "not comparable"
    assert claims.loc[("straightforward", "fid"), "verdict"] != "not comparable"
    assert claims.loc[("straightforward", "psnr"), "paired"]
    assert "not comparable" in claims_markdown(claims.reset_index(), "faces")
