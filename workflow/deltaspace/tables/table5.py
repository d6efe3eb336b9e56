"""Table 5 (time efficiency): what each method costs before, while and after it learns, measured by the workflow.

Pre-processing is the work a method needs that is not trained for it (the fakes and their CLIP
features, R_s, the inversion of the training images), training the work trained for it (a Delta
Mapper, one training per prompt), both summed from the Snakemake benchmark files of the jobs that
made them (wall seconds; jobs shared by several methods count for each). The generator, encoder,
CLIP and the loss networks are substrate every method shares and are not counted. Inference is the
time-inference stage's: seconds per edited image at batch 1 and in one batch, after a warm-up.
"""

from __future__ import annotations

import pandas as pd

from .published import TABLE1, TABLE5, TABLE5_ALIASES

COLUMNS = ["method", "label", "space", "image_conditioned", "preprocessing_s", "training_s", "trainings",
           "inference_batch1_s", "inference_batched_s", "batch", "published_preprocessing", "published_training",
           "published_inference", "published_image_conditioned", "published_space", "machine", "threads", "device"]


def benchmark_seconds(paths) -> float:
    """Wall seconds of the jobs whose Snakemake benchmark files are `paths` (each file's `s`, summed)."""
    return float(sum(pd.read_csv(p, sep="\t")["s"].mean() for p in paths))


def published_row(method: str) -> tuple[str, dict]:
    """A method's label (Table 1's) and the paper's Table 5 values for it (none for rows Table 5 lacks)."""
    label = TABLE1.get(method, TABLE5.get(method, (method, {})))[0]
    return label, TABLE5.get(TABLE5_ALIASES.get(method, method), ("", {}))[1]


def build_table5(methods: list[dict], timings: dict[str, dict]) -> pd.DataFrame:
    """methods: [{"method", "kind", "space", "image_conditioned", "preprocessing": [benchmark files],
    "training": [benchmark files]}] in table order; timings: method -> the time-inference stage's result."""
    rows = []
    for m in methods:
        label, published = published_row(m["method"])
        timing = timings[m["method"]]
        rows.append({
            "method": m["method"], "label": label, "space": m["space"], "image_conditioned": m["image_conditioned"],
            "preprocessing_s": round(benchmark_seconds(m["preprocessing"]), 1) if m["preprocessing"] else 0.0,
            "training_s": round(benchmark_seconds(m["training"]), 1) if m["training"] else 0.0,
            "trainings": len(m["training"]),
            "inference_batch1_s": timing["batch1_seconds"], "inference_batched_s": timing["batched_seconds_per_image"],
            "batch": timing["batch"],
            **{f"published_{k}": published.get(k, "") for k in
               ("preprocessing", "training", "inference", "image_conditioned", "space")},
            "machine": f"{timing['processor']} ({timing['cpus']} CPUs)", "threads": timing["threads"],
            "device": timing["device"],
        })
    return pd.DataFrame(rows, columns=COLUMNS)


#: the paper's Table 5 claims (section 5.5): DeltaEdit-G's inference "in the same range" as these rows (within
#: a factor of SAME_RANGE either way) and "far below" these (at least FAR_BELOW times faster), at batch 1
SAME_RANGE, FAR_BELOW = 3.0, 10.0
SAME_RANGE_ROWS = ("styleclip-lm", "styleclip-gd-rho2", "styleclip-gd-rho3", "styleclip-gd-rho4", "stylemc")
FAR_BELOW_ROWS = ("styleclip-op", "tedigan")


def table5_claims(table: pd.DataFrame, claimant: str = "deltaedit") -> str:
    """The Table 5 claims judged on the measured inference times (per image at batch 1), as Markdown."""
    rows = table.set_index("method")
    if claimant not in rows.index:
        return ""
    own = rows.loc[claimant, "inference_batch1_s"]
    lines = ["## Table 5 claims (inference time per image, batch 1)", "",
             f"DeltaEdit-G: {own * 1000:.3g} ms. In the same range: within {SAME_RANGE:g}x either way; far below: at "
             f"least {FAR_BELOW:g}x faster. Measured on {rows.loc[claimant, 'machine']}, {rows.loc[claimant, 'threads']} "
             f"thread(s), {rows.loc[claimant, 'device']}.", "", "| claim | other (ms) | ratio other / DeltaEdit-G | verdict |",
             "|---|---|---|---|"]
    for other in (m for m in SAME_RANGE_ROWS + FAR_BELOW_ROWS if m in rows.index):
        ratio = rows.loc[other, "inference_batch1_s"] / own
        far = other in FAR_BELOW_ROWS
        held = ratio >= FAR_BELOW if far else 1 / SAME_RANGE <= ratio <= SAME_RANGE
        claim = f"DeltaEdit-G {'far below' if far else 'in the same range as'} {rows.loc[other, 'label']}"
        lines.append(f"| {claim} | {rows.loc[other, 'inference_batch1_s'] * 1000:.3g} | {ratio:.3g} | "
                     f"{'held' if held else 'not held'} |")
    return "\n".join(lines) + "\n"
