# Shared helpers: config validation, output paths, model specs and input functions.
# Rules stay free of lambdas; everything they look up from the config is looked up here.
import json
from argparse import Namespace
import shlex
from pathlib import Path

from deltaspace.config import METHOD_KEYS, prompt_asks, validate_config
from deltaspace.io.images import list_images
from deltaspace.io.shards import shard_count, shard_name
from deltaspace.methods.base import method_kind
from deltaspace.directions.text import prompt_name

validate_config(config)  # fills defaults; an unknown key or wrong type stops the run here

WORLD = config["world"]
OUT = f"results/{WORLD}"
MINI = WORLD == "mini"
DATASETS = list(config["datasets"])
FAKES = "fakes"
#: every prompt a method may be asked to edit: the evaluation prompts, then the wordings
PROMPT_ENTRIES = [*config["evaluation"]["prompts"], *config["wordings"]["prompts"]]
if FAKES in DATASETS:
    raise ValueError(f"datasets.{FAKES}: this name is reserved for the generator samples")


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(config["methods"]) or "(?!)",
    mapper="|".join(config["mappers"]) or "(?!)",
    collection="|".join(DATASETS + [FAKES]),
    part=r"\d{5}",
    replicate=r"(\.seed[1-9]\d*)?",  # training replicate k > 0 of the seeds target ("": the ordinary run)
    kind="codes|clip",
    prompt="|".join(prompt_name(e["target"]) for e in PROMPT_ENTRIES),


# Priority of the jobs on the longest chain (generator -> encoder -> inversion -> mappers): started
# before ready jobs off that chain, which can wait (renders, CLIP of fakes, metric nets). On 2 cores
# this keeps the chain from waiting behind work that has slack: about 3 minutes of the Table 1 run in
# a schedule simulated from its measured job times.
CRITICAL_PATH = 10


def log_path(name):
    return f"{OUT}/logs/{name}.log"


def bench_path(name):
    return f"{OUT}/benchmarks/{name}.tsv"


# ---- datasets -------------------------------------------------------------------------------


def collection_rows(collection):
    """Rows of a codes/features collection, known at DAG build so shards can be expanded."""
    if collection == FAKES:
        return config["fakes"]["count"]
    ds = config["datasets"][collection]
    if MINI:
        return ds["count"]
    return len(list_images(ds["images"], f"datasets.{collection}.images"))


def collection_parts(collection):
    return [f"{p:05d}" for p in range(shard_count(collection_rows(collection), config["shard_rows"]))]


def collection_shards(kind, collection):
    return [f"{OUT}/{kind}/{collection}/{shard_name(int(p))}" for p in collection_parts(collection)]


def manifest(kind, collection):
    return f"{OUT}/{kind}/{collection}/manifest.json"


def collection_inputs(kind, collection):
    """A collection as a job's inputs: its manifest, named `<kind>_<collection>`, and its shards. Both are
    declared, so a storage plugin stages the shards beside the manifest; the stage is given the staged
    manifest's path (collection_input) and reads the shards next to it."""
    return {f"{kind}_{collection}": manifest(kind, collection),
            f"{kind}_{collection}_shards": collection_shards(kind, collection)}


def collection_input(input, kind, collection):
    """The staged manifest of a collection declared with collection_inputs."""
    return input[f"{kind}_{collection}"]


# ---- models ---------------------------------------------------------------------------------


def model_checkpoint(model):
    """Checkpoint path of a model: trained by the workflow (mini) or given in the config (real)."""
    path = config["models"][model]["checkpoint"]
    if path:
        return path
    if MINI:
        return f"{OUT}/models/{model}.pt"
    raise ValueError(f"models.{model}.checkpoint: required in the real world")


# Settings that only matter for checkpoints in the published formats (they store no architecture).
FORMAT_KEYS = {"rosinality": ("size", "style_dim", "n_mlp", "channel_multiplier", "channels"), "open_clip": ("arch",)}


EXPECTED_FORMAT = {
    "rosinality": "a rosinality stylegan2-pytorch checkpoint (g_ema, latent_avg)",
    "e4e": "an encoder4editing checkpoint (state_dict, latent_avg, opts)",
    "open_clip": "an open_clip state dict",
    "deltaspace": "a deltaspace checkpoint",
}


def check_given_checkpoints():
    """Fail at DAG build, naming the config key, when a user-supplied checkpoint is missing."""
    for model, section in config["models"].items():
        path = section["checkpoint"]
        if path and not Path(path).is_file():
            raise FileNotFoundError(
                f"models.{model}.checkpoint: no file at {path} "
                f"(expected {EXPECTED_FORMAT[section['format']]})"
            )


check_given_checkpoints()


def model_spec(model, input=None):
    """A model's section of the config, with its checkpoint path, as the stages read it: the job's input of
    that name (the staged file) when `input` is given, else the configured or workflow-made path."""
    section = config["models"][model]
    spec = {k: v for k, v in section.items() if k not in sum(FORMAT_KEYS.values(), ())}
    spec.update({k: section[k] for k in FORMAT_KEYS.get(section["format"], ())})
    if model == "encoder" and section["format"] == "e4e":
        # e4e checkpoints hold a rosinality decoder of the configured generator architecture
        spec.update({k: config["models"]["generator"][k] for k in FORMAT_KEYS["rosinality"]})
    spec["checkpoint"] = input[model] if input is not None else model_checkpoint(model)
    return spec


def as_arg(value):
    """A Python value as one shell-quoted command-line argument (JSON for dicts and lists)."""
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return shlex.quote(text)


def cli_flags(values):
    """A dict of settings as `--key value` flags for the deltaspace command (underscores -> dashes)."""
    return " ".join(f"--{k.replace('_', '-')} {as_arg(v)}" for k, v in sorted(values.items()))


def invert_args(wildcards, input):
    return cli_flags({
        "images": staged_images(input.images),
        "images_key": f"datasets.{wildcards.dataset}.images",
        "rows_per_shard": config["shard_rows"],
        "train_count": config["datasets"][wildcards.dataset]["train_count"],
        "generator": model_spec("generator", input),
        "encoder": model_spec("encoder", input),
    })


def sample_args(wildcards, input):
    return cli_flags({
        "generator": model_spec("generator", input),
        "rows_per_shard": config["shard_rows"],
        "count": config["fakes"]["count"],
        "seed": config["seed"],
        "truncation": config["fakes"]["truncation"],
    })


def clip_images_args(wildcards, input):
    return cli_flags({
        "images": staged_images(input.images),
        "images_key": f"datasets.{wildcards.dataset}.images",
        "rows_per_shard": config["shard_rows"],
        "clip": model_spec("clip", input),
    })


def clip_codes_args(wildcards, input):
    return cli_flags({"generator": model_spec("generator", input), "clip": model_spec("clip", input)})


def manifest_folder(wildcards):
    return f"{OUT}/{wildcards.kind}/{wildcards.collection}"


def manifest_args(wildcards):
    return cli_flags({
        "shards": manifest_shards(wildcards),
        "rows": collection_rows(wildcards.collection),
        "info": {"world": WORLD, "collection": f"{wildcards.kind}/{wildcards.collection}", "seed": config["seed"]},
    })


def dataset_inputs(collections=("codes",)):
    """Every dataset's images (its rendered world folder in the mini world) and the given collections of it."""
    inputs = {f"images_{d}": images_input(Namespace(dataset=d)) for d in DATASETS}
    for d in DATASETS:
        for kind in collections:
            inputs.update(collection_inputs(kind, d))
    return inputs


def fidelity_inputs(wildcards):
    inputs = {**dataset_inputs(), "generator": model_checkpoint("generator"), "clip": model_checkpoint("clip")}
    if MINI:
        inputs["attribute_net"] = f"{OUT}/models/attribute_net.pt"
    return inputs


def fidelity_args(wildcards, input):
    datasets = {}
    for name, ds in config["datasets"].items():
        images = input[f"images_{name}"]
        datasets[name] = {
            "images": staged_images(images),
            "attributes": world_attributes(images) if MINI else None,
            "codes": collection_input(input, "codes", name),
            "train_count": ds["train_count"],
            "style": ds["style"],
            "prior": ds["prior"],
        }
    args = {
        "world": WORLD,
        "generator": model_spec("generator", input),
        "clip": model_spec("clip", input),
        "datasets": datasets,
        "images": config["report"]["images"],
        "pairs": config["report"]["pairs"],
        "seed": config["seed"],
        "expressiveness_images": config["report"]["expressiveness_images"],
        "expressiveness_steps": config["report"]["expressiveness_steps"],
    }
    if MINI:  # the S-expressiveness check (the real world has no ideal edit: reported not applicable)
        args["attribute_net"] = input.attribute_net
        args["prompts"] = [{"attribute": a, "value": v} for p in config["evaluation"]["prompts"]
                           for a, v in prompt_asks(p).items()]
    return cli_flags(args)


def alignment_inputs(wildcards):
    return {**dataset_inputs(("codes", "clip")), "clip": model_checkpoint("clip")}


def alignment_args(wildcards, input):
    """The DeltaSpace check's settings (mini world only: captions are made from the true attributes)."""
    if not MINI:
        raise ValueError("report.alignment_images: the DeltaSpace check (deltaspace-alignment) needs the mini "
                         "world's attributes to caption images; the real world has none")
    datasets = {name: {"attributes": world_attributes(input[f"images_{name}"]), "train_count": ds["train_count"],
                       "codes": collection_input(input, "codes", name), "clip": collection_input(input, "clip", name)}
                for name, ds in config["datasets"].items()}
    return cli_flags({
        "world": WORLD,
        "clip": model_spec("clip", input),
        "datasets": datasets,
        "images": config["report"]["alignment_images"],
        "pairs": config["report"]["alignment_pairs"],
        "seed": config["seed"],
    })


# ---- mini world -----------------------------------------------------------------------------


def mini_training(model):
    """Training settings of a mini model as CLI flags (with the seed and, except for the generator, size)."""
    settings = dict(config["mini"][model])
    settings["seed"] = settings.pop("seed_offset", 0) + config["seed"]  # a second model of one kind: another seed
    if model == "clip":
        settings["size"] = config["mini"]["resolution"]
    return cli_flags(settings)


def dataset_settings(wildcards):
    ds = config["datasets"][wildcards.dataset]
    return (
        f"--count {ds['count']} --prior {ds['prior']} --style {ds['style']} "
        f"--size {config['mini']['resolution']} --seed {config['seed']}"
    )


# ---- input functions ------------------------------------------------------------------------


def images_input(wildcards):
    """A dataset's images as a job input: the rendered world folder (mini) or the user's image folder."""
    if MINI:
        return f"{OUT}/world/{wildcards.dataset}"
    return config["datasets"][wildcards.dataset]["images"]


def staged_images(path):
    """The image folder inside a (staged) images_input: a mini world folder keeps its images in images/."""
    return f"{path}/images" if MINI else path


def world_attributes(path):
    """The true attributes of a (staged) mini world folder."""
    return f"{path}/attributes.parquet"


def manifest_shards(wildcards):
    return collection_shards(wildcards.kind, wildcards.collection)


def all_outputs():
    collections = DATASETS + [FAKES]
    outs = [manifest("codes", c) for c in collections] + [manifest("clip", c) for c in collections]
    outs.append(f"{OUT}/reports/fidelity.json")
    outs += [f"{OUT}/reports/deltaspace.json", f"{OUT}/figures/deltaspace-tsne.png"] if MINI else []
    if config["methods"]:
        outs += ["results/table1.csv", "results/table5.csv", "results/claims.md", f"{OUT}/models/deltaedit.json"]
        outs += [f"{OUT}/tables/table1-{d}.csv" for d in EVAL_DATASETS]
    return outs


# ---- editing and evaluation -----------------------------------------------------------------

MAPPERS = list(config["mappers"])
METHODS = list(config["methods"])
EVAL_DATASETS = list(config["evaluation"]["images"])
TRAIN_DATASETS = [d for d, ds in config["datasets"].items() if ds["train_count"] > 0]


def relevance_inputs(wildcards):
    return {**collection_inputs("codes", FAKES), "generator": model_checkpoint("generator"),
            "clip": model_checkpoint("clip")}


def relevance_args(wildcards, input):
    return cli_flags({
        "generator": model_spec("generator", input),
        "clip": model_spec("clip", input),
        "fakes_codes": collection_input(input, "codes", FAKES),
        **config["relevance"],
    })


def mapper_inputs(wildcards):
    """The Delta Mapper's training collections (codes and CLIP of each training dataset and of the fakes)."""
    inputs = {"generator": model_checkpoint("generator")}
    for collection in TRAIN_DATASETS + [FAKES]:
        inputs.update(collection_inputs("codes", collection))
        inputs.update(collection_inputs("clip", collection))
    return inputs


def mapper_collections(input):
    """Training collections of the Delta Mapper: the training split of real datasets plus all fakes."""
    return [{"codes": collection_input(input, "codes", c), "clip": collection_input(input, "clip", c),
             "split": None if c == FAKES else "train"} for c in TRAIN_DATASETS + [FAKES]]


# Training replicates (the seeds target, results/table1-seeds.csv): replicate k trains every trained artefact
# (methods.base.TRAINED_ARTEFACTS) with seed `seed` + k. Its files carry the suffix ".seed<k>" after the mapper's or
# method's name (the {replicate} wildcard); replicate 0 is the ordinary run, its files have no suffix.
SEEDS = config["evaluation"]["seeds"]


def replicate_suffix(k):
    return f".seed{k}" if k else ""


def replicate_seed(replicate):
    """The training seed of a replicate suffix: `seed` for "", `seed` + k for ".seed<k>"."""
    return config["seed"] + int(replicate.removeprefix(".seed") or 0)


def mapper_args(wildcards, input):
    settings = config["mappers"][wildcards.mapper]
    return cli_flags({
        "collections": mapper_collections(input),
        "generator": model_spec("generator", input),
        "seed": replicate_seed(wildcards.replicate),
        **settings,
    })


def mapper_checkpoint(name, replicate=""):
    return f"{OUT}/models/mappers/{name}{replicate}.pt"


def artefact_inputs(role, ref, replicate=""):
    """A workflow artefact a method kind reads (methods.base.ARTEFACTS), of a training replicate, as job inputs.
    File artefacts are one input named `role`; the training codes are every training dataset's codes
    collection (manifest and shards, collection_inputs)."""
    artefact, _, name = ref.partition(":")
    if artefact == "training_codes":
        return {key: path for d in TRAIN_DATASETS for key, path in collection_inputs("codes", d).items()}
    if artefact == "mapper":
        return {role: mapper_checkpoint(name, replicate)}
    if artefact == "identity_loss":
        return {role: identity_loss_checkpoint()}
    if artefact == "encoder":
        return {role: model_checkpoint("encoder")}
    return {role: {"relevance": f"{OUT}/relevance/rs.npy", "style_stats": f"{OUT}/relevance/s_stats.npz"}[artefact]}


def artefact_value(input, role, ref):
    """What the builder gets for an artefact: the staged file, the training codes' staged manifests, or the
    encoder's model spec with its staged checkpoint."""
    if ref == "training_codes":
        return [collection_input(input, "codes", d) for d in TRAIN_DATASETS]
    if ref == "encoder":
        return {**model_spec("encoder"), "checkpoint": input[role]}
    return input[role]


def method_declaration(name):
    """A method's kind (methods.base.MethodKind) and settings (its config entry without the workflow's keys)."""
    method = config["methods"][name]
    return method_kind(method["kind"]), {k: v for k, v in method.items() if k not in METHOD_KEYS}


def method_images(name):
    """{"images": N} for a method evaluated on the first N evaluation images only (`methods.<name>.images`)."""
    images = config["methods"][name].get("images")
    return {"images": images} if images else {}


def method_artefacts(name, replicate=""):
    """The workflow artefacts a method's kind reads, of a training replicate, as job inputs."""
    kind, settings = method_declaration(name)
    return {k: v for role, ref in kind.artefacts(settings).items() for k, v in artefact_inputs(role, ref, replicate).items()}


def method_spec(name, input):
    """What a stage needs to build a method: its kind, settings, and its artefacts, models and (kinds that learn
    per prompt) trained files as the job's (staged) inputs of the same names (method_inputs)."""
    kind, settings = method_declaration(name)
    spec = {"name": name, "kind": config["methods"][name]["kind"], "settings": settings,
            "inputs": {role: artefact_value(input, role, ref) for role, ref in kind.artefacts(settings).items()},
            "generator": model_spec("generator", input), "clip": model_spec("clip", input)}
    if kind.trains_per_prompt:
        trained = {entry["target"]: input.get(trained_role(entry)) for entry in ALL_PROMPTS.values()}
        spec["trained"] = {target: path for target, path in trained.items() if path}
    return spec


def method_model_inputs(wildcards):
    """The artefacts a method's kind declares (of the job's replicate) and the models."""
    return {**method_artefacts(wildcards.method, getattr(wildcards, "replicate", "")),
            "generator": model_checkpoint("generator"), "clip": model_checkpoint("clip")}


def method_inputs(wildcards):
    """Files a method's jobs read: method_model_inputs and what it learned for each evaluation prompt."""
    return {**method_model_inputs(wildcards),
            **trained_inputs(wildcards.method, config["evaluation"]["prompts"], getattr(wildcards, "replicate", ""))}


# ---- methods that learn per prompt (MethodKind.train; rules/prompt_training.smk) ---------------------

#: PROMPT_ENTRIES by file-safe name
ALL_PROMPTS = {prompt_name(e["target"]): e for e in PROMPT_ENTRIES}


def trains_per_prompt(method):
    return method_declaration(method)[0].trains_per_prompt


def prompt_training_path(method, prompt, replicate=""):
    return f"{OUT}/models/prompt_training/{method}{replicate}/{prompt}.pt"


def trained_role(entry):
    name = prompt_name(entry["target"]).replace("-", "_")
    return f"trained_{name}"


def trained_inputs(method, entries, replicate=""):
    """{role: file} of what a kind that learns per prompt learned for each prompt entry (none for other kinds)."""
    if not trains_per_prompt(method):
        return {}
    return {trained_role(e): prompt_training_path(method, prompt_name(e["target"]), replicate) for e in entries}


def identity_loss_checkpoint():
    """The identity net of the methods' identity losses: trained by the workflow (mini) or given (real)."""
    path = config["losses"]["identity"]
    if path:
        return path
    if MINI:
        return f"{OUT}/models/identity_loss_net.pt"
    raise ValueError("losses.identity: required in the real world by methods with an identity loss")


def prompt_training_args(wildcards, input):
    spec = {k: v for k, v in method_spec(wildcards.method, input).items() if k != "trained"}
    return cli_flags({
        "method": spec,
        "prompt": ALL_PROMPTS[wildcards.prompt],
        "source": config["editing"]["source"],
        "seed": replicate_seed(wildcards.replicate),
    })


def retrained_artefacts():
    """{method: [trained artefacts it reads]} of the methods the seeds target retrains (the others read none)."""
    retrained = {}
    for name in METHODS:
        kind, settings = method_declaration(name)
        refs = list(kind.trained_artefacts(settings).values()) + (["prompt_training"] if kind.trains_per_prompt else [])
        if refs:
            retrained[name] = refs
    return retrained


def edit_args(wildcards, input):
    return cli_flags({
        "method": method_spec(wildcards.method, input),
        "prompts": config["evaluation"]["prompts"],
        "source": config["editing"]["source"],
        "batch_size": config["editing"]["batch_size"],
        **method_images(wildcards.method),
    })


def evaluation_set_args(wildcards, input):
    d = wildcards.dataset
    return cli_flags({
        "codes": collection_input(input, "codes", d),
        "clip_collection": collection_input(input, "clip", d),
        "images": staged_images(input.images),
        "images_key": f"datasets.{d}.images",
        "count": config["evaluation"]["images"][d],
        "generator": model_spec("generator", input),
        # mini world: every factor of each image and the render style, to render the ideal edits
        **({"attributes": world_attributes(input.images), "style": config["datasets"][d]["style"]} if MINI else {}),
    })


def evaluation_set_inputs(wildcards):
    d = wildcards.dataset
    return {**collection_inputs("codes", d), **collection_inputs("clip", d), "images": images_input(wildcards),
            "generator": model_checkpoint("generator")}


def bundle_method():
    """The method `deltaspace edit` uses: DeltaEdit with R_s if configured, else the first method."""
    return "deltaedit" if "deltaedit" in METHODS else METHODS[0]


def figure_paths(wildcards):
    return [f"{OUT}/figures/{wildcards.dataset}/{m}.png" for m in METHODS]


def bundle_inputs(wildcards):
    return {**method_inputs(Namespace(method=bundle_method())), "encoder": model_checkpoint("encoder")}


def bundle_args(wildcards, input):
    return cli_flags({"method": method_spec(bundle_method(), input), "encoder": model_spec("encoder", input)})


def metric_net_inputs(wildcards):
    """Checkpoints of the metric backbones: trained by the workflow (mini) or given (real: no attribute net)."""
    if MINI:
        return {"attribute_net": f"{OUT}/models/attribute_net.pt", "identity": f"{OUT}/models/identity_net.onnx",
                "fid_features": f"{OUT}/models/attribute_net.pt"}
    return {"identity": config["metrics"]["identity"], "fid_features": config["metrics"]["inception"]}


def metric_nets(input):
    """The metric backbones as the evaluating stages read them: the job's (staged) inputs of metric_net_inputs."""
    return {"world": WORLD, "attribute_net": input.get("attribute_net"), "identity": input.identity,
            "fid_features": input.fid_features}


def evaluate_args(wildcards, input):
    return cli_flags({
        "prompts": config["evaluation"]["prompts"],
        "source": config["editing"]["source"],
        "metrics": config["evaluation"]["metrics"],
        "nets": metric_nets(input),
        "world": WORLD,
        "dataset": wildcards.dataset,
        "method": wildcards.method,
        "bootstrap": config["evaluation"]["bootstrap"],
        "seed": config["seed"],
        **method_images(wildcards.method),
    })


def figure_inputs(wildcards):
    """The evaluation set, every method's edits of it (named edits_<method>) and the generator."""
    return {"evaluation_set": f"{OUT}/evaluation/{wildcards.dataset}.parquet",
            **{f"edits_{m}": f"{OUT}/edits/{wildcards.dataset}/{m}" for m in METHODS},
            "generator": model_checkpoint("generator")}  # renders the reconstruction column


def figure_args(wildcards, input, output):
    return cli_flags({
        "edits": {m: input[f"edits_{m}"] for m in METHODS},
        "out": dict(zip(METHODS, output)),
        "prompts": config["evaluation"]["prompts"],
        "source": config["editing"]["source"],
        "rows": config["evaluation"]["figure_rows"],
        "generator": model_spec("generator", input),
        "world": WORLD,
        "dataset": wildcards.dataset,
    })


def metrics_paths(dataset):
    """Every method's evaluation results on a dataset, in the order of `methods`."""
    return [f"{OUT}/metrics/{dataset}/{m}.jsonl" for m in METHODS]


def claims_inputs(wildcards):
    return {d: metrics_paths(d) for d in EVAL_DATASETS}


def claims_args(wildcards, input):
    return cli_flags({"results": {d: list(input[d]) for d in EVAL_DATASETS}, "methods": METHODS, "world": WORLD})


def table1_args(wildcards, input):
    return cli_flags({"results": list(input.results), "dataset": wildcards.dataset, "methods": METHODS})


def seed_results(dataset):
    """The evaluate stage's results of each training replicate k (the seeds target): every method's for
    k = 0 (the ordinary run), the retrained methods' for k > 0 (the others are the same for every seed)."""
    retrained = retrained_artefacts()
    return [[f"{OUT}/metrics/{dataset}/{m}{replicate_suffix(k)}.jsonl" for m in (retrained if k else METHODS)]
            for k in range(SEEDS)]


def seed_results_inputs(wildcards):
    return sum(seed_results(wildcards.dataset), [])


def table1_seeds_args(wildcards, input):
    staged = iter(input)  # the staged files of seed_results_inputs, in the same order
    return cli_flags({
        "results": [[next(staged) for _ in replicate] for replicate in seed_results(wildcards.dataset)],
        "dataset": wildcards.dataset,
        "methods": METHODS,
        "retrained": retrained_artefacts(),
        "seeds": [replicate_seed(replicate_suffix(k)) for k in range(SEEDS)],
    })


# ---- Table 5 (time efficiency): what each method's artefacts cost, from the jobs' benchmark files -----------


def collection_benchmarks(kind, collection):
    """Benchmark files of the jobs that make a codes or CLIP collection."""
    fakes = collection == FAKES
    job = {"codes": "sample_shard" if fakes else "invert_shard", "clip": "clip_fakes_shard" if fakes else "clip_images_shard"}[kind]
    folder = job if fakes else f"{job}/{collection}"
    return [bench_path(f"{folder}/{part}") for part in collection_parts(collection)]


def artefact_costs(ref):
    """(pre-processing, training) benchmark files of the jobs that make an artefact (methods.base.ARTEFACTS).
    The encoder and the loss identity net are models every method shares: not counted, as the generator."""
    artefact, _, name = ref.partition(":")
    if artefact in ("relevance", "style_stats"):
        return collection_benchmarks("codes", FAKES) + [bench_path("relevance")], []
    if artefact == "mapper":
        data = [b for c in TRAIN_DATASETS + [FAKES] for kind in ("codes", "clip") for b in collection_benchmarks(kind, c)]
        return data, [bench_path(f"train_delta_mapper/{name}")]
    if artefact == "training_codes":
        return [b for d in TRAIN_DATASETS for b in collection_benchmarks("codes", d)], []
    return [], []


def method_costs(name):
    """A method's Table 5 entry: kind, space, image conditioning, and the benchmark files of its pre-processing
    and training (one per prompt for kinds that learn per prompt)."""
    kind, settings = method_declaration(name)
    pre, train = [], []
    for ref in kind.artefacts(settings).values():
        p, t = artefact_costs(ref)
        pre, train = pre + p, train + t
    if kind.trains_per_prompt:
        train += [bench_path(f"train_prompt_edit/{name}/{prompt_name(e['target'])}") for e in config["evaluation"]["prompts"]]
    return {"method": name, "kind": kind.name, **kind.profile(settings, config),
            "preprocessing": list(dict.fromkeys(pre)), "training": list(dict.fromkeys(train))}


def timing_path(method):
    return f"{OUT}/timings/{method}.json"


def time_inference_args(wildcards, input):
    return cli_flags({"method": method_spec(wildcards.method, input), "prompts": config["evaluation"]["prompts"],
                      "source": config["editing"]["source"]})


def table5_inputs(wildcards):
    costs = [method_costs(m) for m in METHODS]
    return {"timings": [timing_path(m) for m in METHODS],
            "benchmarks": list(dict.fromkeys(b for c in costs for b in c["preprocessing"] + c["training"]))}


def table5_args(wildcards, input):
    return cli_flags({"methods": [method_costs(m) for m in METHODS], "timings": list(input.timings)})


# ---- strength sweep (a separate target, not part of all_outputs: rules/sweep.smk) -------------------

SWEEP_METHODS = list(config["sweep"]["methods"])


def in_process_inputs(wildcards):
    """Files a job that edits and measures in process (sweep, wordings) reads for a method: its kind's
    artefacts (of the ordinary run), the models, the metric nets and the evaluation set."""
    return {**method_inputs(wildcards), **metric_net_inputs(wildcards),
            "evaluation_set": f"{OUT}/evaluation/{wildcards.dataset}.parquet"}


def wordings_inputs(wildcards):
    """in_process_inputs and, for a kind that learns per prompt, what it learned for each wording."""
    return {**in_process_inputs(wildcards), **trained_inputs(wildcards.method, config["wordings"]["prompts"])}


def sweep_args(wildcards, input):
    return cli_flags({
        "method": method_spec(wildcards.method, input),
        "scales": config["sweep"]["scales"],
        "images": config["sweep"]["images"],
        "prompts": config["evaluation"]["prompts"],
        "source": config["editing"]["source"],
        "batch_size": config["editing"]["batch_size"],
        "nets": metric_nets(input),
        "world": WORLD,
        "dataset": wildcards.dataset,
        "bootstrap": config["evaluation"]["bootstrap"],
        "seed": config["seed"],
    })


def sweep_paths(wildcards):
    """Every swept method's results on a dataset, in the order of sweep.methods."""
    return [f"{OUT}/sweeps/{wildcards.dataset}/{m}.jsonl" for m in SWEEP_METHODS]


def tradeoff_args(wildcards, input):
    return cli_flags({"sweeps": list(input), "dataset": wildcards.dataset, "world": WORLD})


def wordings_args(wildcards, input):
    return cli_flags({
        "method": method_spec(wildcards.method, input),
        "prompts": config["wordings"]["prompts"],
        "canonical": config["evaluation"]["prompts"],
        "images": config["wordings"]["images"],
        "source": config["editing"]["source"],
        "batch_size": config["editing"]["batch_size"],
        "nets": metric_nets(input),
        "world": WORLD,
        "dataset": wildcards.dataset,
        "bootstrap": config["evaluation"]["bootstrap"],
        "seed": config["seed"],
    })


def wordings_paths(wildcards):
    """Every measured method's wordings results on a dataset, in the order of wordings.methods."""
    return [f"{OUT}/wordings/{wildcards.dataset}/{m}.jsonl" for m in config["wordings"]["methods"]]


def wordings_table_args(wildcards, input):
    return cli_flags({"results": list(input), "dataset": wildcards.dataset, "world": WORLD})


def wordings_outputs():
    """The `wordings` target: the wordings table of wordings.dataset (none without methods)."""
    if not config["wordings"]["methods"]:
        return []
    d = config["wordings"]["dataset"]
    return [f"{OUT}/tables/wordings-{d}.csv"]


def sweep_outputs():
    """The `sweep` target: the trade-off figure, table and claim of sweep.dataset (none without methods)."""
    if not SWEEP_METHODS:
        return []
    d = config["sweep"]["dataset"]
    return [f"{OUT}/figures/tradeoff-{d}.png", f"{OUT}/tables/tradeoff-{d}.csv", f"{OUT}/tables/tradeoff-claims-{d}.md"]
