"""Config loading and validation against the schema (deltaspace/schemas/config.schema.yaml, package data;
workflow/schemas links to it, where Snakemake workflows keep their schemas).

Validation fills in the schema's defaults and turns the first schema violation into one
ConfigError that names the offending key (e.g. `mini.generator.stepz: unknown key`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

def load_schema() -> dict:
    from importlib.resources import files

    return yaml.safe_load(files("deltaspace").joinpath("schemas/config.schema.yaml").read_text())


def _extend_with_default(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _extend_with_default(jsonschema.Draft202012Validator)


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    path = [prefix] if prefix else []
    where = ".".join(path + [str(p) for p in error.absolute_path]) or "<top level>"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        prefix = f"{where}." if where != "<top level>" else ""
        return f"{prefix}{extra[0] if extra else '?'}: unknown key (known keys here: {known})"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    return f"{where}: {error.message}"


def _validate(instance, schema: dict, prefix: str = "") -> None:
    """Validate `instance` in place (defaults filled in); the first violation becomes a ConfigError."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver is deprecated but still works
        errors = sorted(_Validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid config: " + _describe(errors[0], prefix))


def validate_config(config: dict) -> dict:
    """Validate in place (defaults filled in) and return the config."""
    _validate(config, load_schema())
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    for name, ds in config["datasets"].items():
        key = f"datasets.{name}"
        if config["world"] == "mini" and ds.get("count") is None:
            raise ConfigError(f"{key}.count: required in the mini world (number of images to render)")
        if config["world"] == "real" and not ds.get("images"):
            raise ConfigError(f"{key}.images: required in the real world (folder of images)")
        if ds.get("count") is not None and ds["train_count"] > ds["count"]:
            raise ConfigError(f"{key}.train_count: {ds['train_count']} exceeds count {ds['count']}")
    if config["world"] == "real":
        for model in ("generator", "encoder", "clip"):
            spec = config["models"][model]
            if not spec.get("checkpoint"):
                raise ConfigError(f"models.{model}.checkpoint: required in the real world (path of the checkpoint)")
    _check_editing(config)
    _check_sweep(config)
    _check_wordings(config)


def _check_editing(config: dict) -> None:
    """Cross-key checks of the editing and evaluation sections (the schema checks each key alone)."""
    _check_methods(config)
    if config["methods"] and not any(ds["train_count"] for ds in config["datasets"].values()):
        raise ConfigError("datasets: training the mappers needs a dataset with train_count > 0")
    evaluation = config["evaluation"]
    if not config["methods"]:
        return
    if not evaluation["images"]:
        raise ConfigError("evaluation.images: name at least one dataset and its number of evaluation images")
    for name, count in evaluation["images"].items():
        ds = config["datasets"].get(name)
        if ds is None:
            raise ConfigError(f"evaluation.images.{name}: no dataset of that name (known: {', '.join(config['datasets'])})")
        if ds.get("count") is not None and count > ds["count"] - ds["train_count"]:
            raise ConfigError(f"evaluation.images.{name}: {count} exceeds the {ds['count'] - ds['train_count']} held-out images")
    if evaluation["table1_dataset"] is None:
        evaluation["table1_dataset"] = next(n for n, ds in config["datasets"].items() if ds["train_count"])
    if evaluation["table1_dataset"] not in evaluation["images"]:
        raise ConfigError(f"evaluation.table1_dataset: {evaluation['table1_dataset']!r} is not in evaluation.images")
    if not evaluation.get("prompts"):
        raise ConfigError("evaluation.prompts: required (a list of {target, attribute, value})")
    _check_prompts(config, "evaluation.prompts", evaluation["prompts"])
    if config["world"] != "mini":
        needs = {"fid": "inception", "ids": "identity"}
        for metric, key in needs.items():
            path = config["metrics"][key]
            if metric in evaluation["metrics"] and not path:
                raise ConfigError(f"metrics.{key}: required in the real world for the {metric} metric")


#: sweep.methods when not given: DeltaEdit-G, its ablations and StyleCLIP-GD at the paper's middle strength
SWEEP_METHODS = ("deltaedit", "deltaedit-no-rs", "deltaedit-wplus", "straightforward", "styleclip-gd-rho3")


def prompt_asks(prompt: dict) -> dict:
    """{attribute: value} a config prompt entry asks for: its `asks`, or its `attribute` and `value`."""
    return dict(prompt.get("asks") or {prompt.get("attribute"): prompt.get("value")})


def _check_prompts(config: dict, key: str, prompts: list) -> None:
    """No empty prompt; in the mini world, each asks for attribute values the world has."""
    for k, prompt in enumerate(prompts):
        if not prompt["target"].strip():
            raise ConfigError(f"{key}[{k}].target: the prompt is empty")
    if config["world"] != "mini":
        return
    from .world.attributes import value_index

    for k, prompt in enumerate(prompts):
        for attribute, value in prompt_asks(prompt).items():
            try:
                value_index(attribute, value)
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"{key}[{k}] ({prompt['target']!r}): attribute/value: {exc}") from exc


def _check_images_of(config: dict, section: str) -> None:
    """A target measured on the first `images` evaluation images of `dataset` (default: Table 1's)."""
    settings = config[section]
    settings["dataset"] = settings["dataset"] or config["evaluation"]["table1_dataset"]
    count = config["evaluation"]["images"].get(settings["dataset"])
    if count is None:
        raise ConfigError(f"{section}.dataset: {settings['dataset']!r} is not in evaluation.images")
    settings["images"] = settings["images"] or count
    if settings["images"] > count:
        raise ConfigError(f"{section}.images: {settings['images']} exceeds evaluation.images.{settings['dataset']} "
                          f"({count})")


#: wordings.methods when not given: DeltaEdit-G, the straightforward solution and StyleCLIP-GD at rho 3
WORDINGS_METHODS = ("deltaedit", "straightforward", "styleclip-gd-rho3")


def _check_wordings(config: dict) -> None:
    """The wordings target's methods (configured), prompts (mini world: ground truth) and images."""
    wordings, methods = config["wordings"], config["methods"]
    if wordings["methods"] is None:
        mini = config["world"] == "mini"
        wordings["methods"] = [name for name in WORDINGS_METHODS if name in methods and mini]
    for name in wordings["methods"]:
        if name not in methods:
            raise ConfigError(f"wordings.methods: no method named {name!r} (known: {', '.join(methods) or 'none'})")
    if not wordings["methods"]:
        return
    if config["world"] != "mini":
        raise ConfigError("wordings.methods: the wordings target needs the mini world's ground truth (set it to [])")
    if not wordings["prompts"]:
        raise ConfigError("wordings.prompts: required when wordings.methods is set")
    _check_prompts(config, "wordings.prompts", wordings["prompts"])
    _check_images_of(config, "wordings")


def _check_sweep(config: dict) -> None:
    """The strength sweep's methods (configured, with a strength setting) and dataset (evaluated, with enough images)."""
    from .methods.base import method_kind

    sweep, methods = config["sweep"], config["methods"]
    if sweep["methods"] is None:
        sweep["methods"] = [name for name in SWEEP_METHODS if name in methods]
    for name in sweep["methods"]:
        if name not in methods:
            raise ConfigError(f"sweep.methods: no method named {name!r} (known: {', '.join(methods) or 'none'})")
        method_kind(methods[name]["kind"]).strength_setting(name)
    if sweep["methods"]:
        _check_images_of(config, "sweep")


#: keys of a method entry that the workflow reads itself (every other key is the kind's setting):
#: `kind`, and `images`, the number of evaluation images (the first ones) a slow method is evaluated on
METHOD_KEYS = ("kind", "images")


def _check_methods(config: dict) -> None:
    """Each method entry against its kind's own settings schema, artefacts and checks (methods.base)."""
    from .methods.base import ARTEFACTS, method_kind

    for name, method in config["methods"].items():
        key = f"methods.{name}"
        kind = method_kind(method["kind"], f"{key}.kind")
        images = method.get("images")
        if images is not None and (isinstance(images, bool) or not isinstance(images, int) or images < 1):
            raise ConfigError(f"{key}.images: {images!r} is not a positive number of evaluation images")
        settings = {k: v for k, v in method.items() if k not in METHOD_KEYS}
        _validate(settings, kind.settings_schema(), key)
        method.update(settings)  # defaults filled in
        for role, ref in kind.artefacts(settings).items():
            artefact, _, mapper = ref.partition(":")
            if artefact not in ARTEFACTS:
                raise ConfigError(f"{key}: kind {kind.name!r} asks for an unknown artefact {ref!r} "
                                  f"(known: {', '.join(ARTEFACTS)})")
            if artefact == "mapper" and mapper not in config["mappers"]:
                raise ConfigError(f"{key}.{role}: no mapper named {mapper!r} (known: {', '.join(config['mappers'])})")
        if kind.check:
            kind.check(name, settings, config)
        uses_identity_loss = "identity_loss" in kind.artefacts(settings).values()
        if uses_identity_loss and config["world"] != "mini" and not config["losses"]["identity"]:
            raise ConfigError(f"losses.identity: required in the real world by {key} (kind {kind.name!r} has an "
                              "identity loss): StyleCLIP's IR-SE50 (model_ir_se50.pth) or a deltaspace identity_net "
                              "checkpoint, never the network that measures IDS (metrics.identity)")


def read_yaml(path: str | Path) -> dict:
    """A config file's mapping; a syntax error names the file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        raise ConfigError(f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")) from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return data or {}


def load_config(path: str | Path) -> dict:
    return validate_config(read_yaml(path))


def merge(base: dict, update: dict) -> dict:
    """`update` laid over `base` key by key, as Snakemake merges a --configfile over the default config."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out

