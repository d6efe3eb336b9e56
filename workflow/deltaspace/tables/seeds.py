"""The seed spread of Table 1 (results/table1-seeds.csv): each metric's mean and standard deviation over training seeds.

Table 1's intervals (tables/spread.py) cover the choice of evaluation images, not the randomness of
training. The seeds target retrains every trained artefact a method reads (methods.base.TRAINED_ARTEFACTS:
the Delta Mappers) with seed `seed` + k for replicate k = 0 .. evaluation.seeds - 1 (k = 0 is the
ordinary run) and measures each retrained method once per replicate, on the same images and bootstrap
resamples. One row per configured method, in Table 1's order; per metric (averaged over the prompts as
in Table 1):

* ``<metric>_mean``, ``<metric>_std``: mean and standard deviation (n - 1 in the denominator) over the
  seeds; ``<metric>_seed<k>``: the value of replicate k (trained with seed `seed` + k);
* ``<metric>_ci_width``: the width of Table 1's 95% bootstrap interval over images, and
  ``<metric>_image_std``: the standard deviation of the bootstrap replicates (the spread over images
  in the units of ``<metric>_std``), both averaged over the seeds.

Methods without a trained artefact (StyleCLIP-GD, the reconstruction) are the same for every seed: their
one run stands for every seed (std 0), and ``retrained`` says "none". The generator, encoder, CLIP
model and metric networks are fixed substrate, not retrained (``note`` says so on every row).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .spread import interval, prompt_average
from .table1 import PAPER_ROWS, _description, _integer_counts, _measured, _ordered_methods, metric_names

FIXED = "generator, encoder, CLIP and metric networks fixed (not retrained)"


def seed_cells(rows: pd.DataFrame, metric: str) -> tuple[float | None, float | None, float | None]:
    """One replicate's metric averaged over the prompts, the width of its bootstrap interval and the standard
    deviation of its bootstrap replicates (None, None without a bootstrap)."""
    point, replicates = prompt_average(rows, metric)
    if replicates is None:
        return point, None, None
    low, high = interval(replicates)
    return point, high - low, float(np.nanstd(replicates, ddof=1))


def build_table1_seeds(results: list[pd.DataFrame], dataset: str, methods: list[str], retrained: dict,
                       seeds: list[int]) -> pd.DataFrame:
    """results[k]: the results (table1.read_results) of replicate k, trained with seeds[k]: every method's
    for k = 0, at least the retrained methods' for k > 0; retrained: {method: [trained artefacts it reads]}."""
    if len(results) != len(seeds):
        raise DataError(f"{len(results)} replicates of results for {len(seeds)} seeds")
    metrics = metric_names(results[0])
    rows = []
    for name in [m for m in _ordered_methods(methods) if m in methods]:
        runs = [_measured(results[k] if name in retrained else results[0], dataset, name) for k in range(len(seeds))]
        artefacts = " ".join(retrained.get(name, []))
        note = f"retrained per seed: {artefacts}" if artefacts else "no trained artefact: the same for every seed"
        row = {"method": name, "paper_label": PAPER_ROWS.get(name, (name, {}))[0], "retrained": artefacts or "none",
               "seeds": len(seeds), "training_seeds": " ".join(map(str, seeds)) if artefacts else None}
        for m in metrics:
            points, widths, image_stds = (pd.Series(c, dtype=float) for c in zip(*(seed_cells(r, m) for r in runs)))
            # a method without a trained artefact repeats one run: exactly 0, not the rounding of a mean of copies
            row.update({f"{m}_mean": points.mean(), f"{m}_std": points.std() if artefacts else 0.0,
                        **{f"{m}_seed{k}": v for k, v in enumerate(points)},
                        f"{m}_ci_width": widths.mean(), f"{m}_image_std": image_stds.mean()})
        row.update({"prompts": int(runs[0]["prompt"].nunique()), **_description(runs[0], metrics),
                    "note": f"{note}; {FIXED}"})
        rows.append(row)
    return _integer_counts(pd.DataFrame(rows))
