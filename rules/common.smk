# Shared helpers: config validation, output paths, model specs and input functions.
# Rules stay free of lambdas; everything they look up from the config is looked up here.
import json
import shlex
from pathlib import Path

from deltaspace.config import validate_config
from deltaspace.io.images import list_images
from deltaspace.io.shards import shard_count, shard_name

validate_config(config)  # fills defaults; an unknown key or wrong type stops the run here

WORLD = config["world"]
OUT = f"results/{WORLD}"
MINI = WORLD == "mini"
DATASETS = list(config["datasets"])
FAKES = "fakes"
if FAKES in DATASETS:
    raise ValueError(f"datasets.{FAKES}: this name is reserved for the generator samples")


wildcard_constraints:
    dataset="|".join(DATASETS),
    table="|".join(DATASETS + [FAKES]),
    part=r"\d{5}",
    kind="codes|clip",


def log_path(name):
    return f"{OUT}/logs/{name}.log"


def bench_path(name):
    return f"{OUT}/benchmarks/{name}.tsv"


# ---- datasets -------------------------------------------------------------------------------


def dataset_folder(name):
    """The folder holding a dataset's images (rendered in the mini world, the user's otherwise)."""
    if MINI:
        return f"{OUT}/world/{name}/images"
    return config["datasets"][name]["images"]


def table_rows(table):
    """Rows of a codes/features table, known at DAG build so shards can be expanded."""
    if table == FAKES:
        return config["fakes"]["count"]
    ds = config["datasets"][table]
    if MINI:
        return ds["count"]
    return len(list_images(ds["images"], f"datasets.{table}.images"))


def table_parts(table):
    return [f"{p:05d}" for p in range(shard_count(table_rows(table), config["shard_rows"]))]


def table_shards(kind, table):
    return [f"{OUT}/{kind}/{table}/{shard_name(int(p))}" for p in table_parts(table)]


def manifest(kind, table):
    return f"{OUT}/{kind}/{table}/manifest.json"


# ---- models ---------------------------------------------------------------------------------


def checkpoint(model):
    """Checkpoint path of a model: trained by the workflow (mini) or given in the config (real)."""
    path = config["models"][model]["checkpoint"]
    if path:
        return path
    if MINI:
        return f"{OUT}/models/{model}.pt"
    raise ValueError(f"models.{model}.checkpoint: required in the real world")


def model_spec(model):
    spec = dict(config["models"][model])
    spec["checkpoint"] = checkpoint(model)
    return spec


def as_arg(value):
    """A Python value as one shell-quoted command-line argument (JSON for dicts and lists)."""
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return shlex.quote(text)


def spec_arg(model):
    return as_arg(model_spec(model))


# ---- input functions ------------------------------------------------------------------------


def images_input(wildcards):
    if MINI:
        return f"{OUT}/world/{wildcards.dataset}"
    return config["datasets"][wildcards.dataset]["images"]


def all_images_inputs():
    return [f"{OUT}/world/{d}" if MINI else config["datasets"][d]["images"] for d in DATASETS]


def datasets_arg(wildcards):
    """What the fidelity report needs to know of each dataset, as one JSON argument."""
    out = {}
    for name, ds in config["datasets"].items():
        out[name] = {
            "images": dataset_folder(name),
            "attributes": f"{OUT}/world/{name}/attributes.parquet" if MINI else None,
            "train_count": ds["train_count"],
            "prior": ds["prior"],
            "style": ds["style"],
        }
    return as_arg(out)


def images_arg(wildcards):
    return as_arg(dataset_folder(wildcards.dataset))


def images_key(wildcards):
    return f"datasets.{wildcards.dataset}.images"


def manifest_shards(wildcards):
    return table_shards(wildcards.kind, wildcards.table)


def manifest_shards_arg(wildcards):
    return as_arg(manifest_shards(wildcards))


def manifest_info_arg(wildcards):
    return as_arg({"world": WORLD, "table": f"{wildcards.kind}/{wildcards.table}", "seed": config["seed"]})


def manifest_rows(wildcards):
    return table_rows(wildcards.table)


def train_count(wildcards):
    return config["datasets"][wildcards.dataset]["train_count"]


def all_outputs():
    tables = DATASETS + [FAKES]
    outs = [manifest("codes", t) for t in tables] + [manifest("clip", t) for t in tables]
    outs.append(f"{OUT}/reports/fidelity.json")
    return outs
