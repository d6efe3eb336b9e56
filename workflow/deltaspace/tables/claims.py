"""The paper's Table 1 claims, judged on the measured results: held / not held / within noise.

Section 5.2.3 of the paper: "Compared with the state-of-the-art GAN-based methods, our DeltaEdit-G
achieves the best performance on all metrics" (Table 1: lower FID, higher PSNR and IDS), and against
the straightforward solution and the other ablations it "can largely improve the inference performance
on all metrics". Each claim here is one comparison: DeltaEdit-G against one other measured row of the
paper's Table 1, on one metric, judged on the bootstrap interval of the paired difference of their
prompt-averaged values (tables/spread.py). KID is judged beside FID (the same claim, a second measure
of distribution distance). Rows outside the paper's table (the no-edit reference) are not claims.
A row measured on fewer images (a slow method's `images`) is compared unpaired, and not on FID, whose
value depends on the number of images ("not comparable").
"""

from __future__ import annotations

import pandas as pd

from .published import TABLE1 as PAPER_ROWS
from .spread import NOT_COMPARABLE, SIZE_BIASED, VERDICTS, paired_difference, same_resamples, verdict

CLAIMANT = "deltaedit"
#: metric -> whether higher is better, for the metrics the claims are made on: the paper's three (KID beside
#: FID), then the mini world's ground truth, which tests "more accurate and more disentangled" directly
CLAIM_METRICS = {"fid": False, "kid": False, "psnr": True, "ids": True,
                 "edit_accuracy": True, "preservation": True, "target_distance": False}


def table1_claims(results: pd.DataFrame, dataset: str, methods: list[str]) -> pd.DataFrame:
    """One row per (other measured method of the paper's Table 1, metric): the difference DeltaEdit-G
    minus it, the difference's interval, and the verdict on "DeltaEdit-G is better"."""
    measured = set(results.loc[results["dataset"] == dataset, "method"])
    metrics = [m for m in CLAIM_METRICS if any(m in values for values in results["metrics"])]
    rows = []
    for rival in (m for m in PAPER_ROWS if m in methods and m != CLAIMANT and m in measured):
        paired = same_resamples(results, dataset, CLAIMANT, rival)
        for metric in metrics:
            claim = f"{PAPER_ROWS[CLAIMANT][0]} better than {PAPER_ROWS[rival][0]} on {metric}"
            if not paired and metric in SIZE_BIASED:
                rows.append({"claim": claim, "metric": metric, "a": CLAIMANT, "b": rival, "difference": float("nan"),
                             "ci_low": float("nan"), "ci_high": float("nan"), "paired": False,
                             "verdict": NOT_COMPARABLE})
                continue
            diff = paired_difference(results, dataset, metric, CLAIMANT, rival, paired=False)
            rows.append({"claim": claim if paired else f"{claim} (unpaired: other images)", **diff,
                         "verdict": verdict(diff["ci_low"], diff["ci_high"], CLAIM_METRICS[metric])})
    return pd.DataFrame(rows)


def claims_markdown(claims: pd.DataFrame, dataset: str, title: str = "Table 1 claims") -> str:
    """The judged claims as a Markdown section: a table and a count of each verdict."""
    lines = [f"## {title} ({dataset})", "",
             "| claim | difference | 95% interval | verdict |", "|---|---|---|---|"]
    for row in claims.itertuples():
        lines.append(f"| {row.claim} | {row.difference:.4g} | [{row.ci_low:.4g}, {row.ci_high:.4g}] | {row.verdict} |")
    counts = claims["verdict"].value_counts() if not claims.empty else pd.Series(dtype=int)
    lines += ["", ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS), ""]
    return "\n".join(lines)
