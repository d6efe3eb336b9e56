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
