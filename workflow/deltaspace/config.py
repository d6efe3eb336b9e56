"""Config loading and validation against workflow/schemas/config.schema.yaml.

Validation fills in the schema's defaults and turns the first schema violation into one
ConfigError that names the offending key (e.g. `mini.generator.stepz: unknown key`).
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


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


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        prefix = f"{where}." if error.absolute_path else ""
        return f"{prefix}{extra[0] if extra else '?'}: unknown key (known keys here: {known})"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}"
    if error.validator == "required":
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def validate_config(config: dict) -> dict:
    """Validate in place (defaults filled in) and return the config."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver is deprecated but still works
        validator = _Validator(load_schema())
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid config: " + _describe(errors[0]))
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


def _check_editing(config: dict) -> None:
    """Cross-key checks of the editing and evaluation sections (the schema checks each key alone)."""
    for name, method in config["methods"].items():
        if method["kind"] != "deltaedit":
            continue
        if "mapper" not in method:
            raise ConfigError(f"methods.{name}.mapper: required for kind deltaedit (a key of mappers)")
        mapper = config["mappers"].get(method["mapper"])
        if mapper is None:
            raise ConfigError(f"methods.{name}.mapper: no mapper named {method['mapper']!r} "
                              f"(known: {', '.join(config['mappers'])})")
        if method["relevance"] and mapper["space"] != "s":
            raise ConfigError(f"methods.{name}.relevance: R_s masks S channels, but mapper "
                              f"{method['mapper']!r} works in {mapper['space']!r}")
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
    if config["world"] == "mini":
        from .world.attributes import value_index

        for k, prompt in enumerate(evaluation["prompts"]):
            try:
                value_index(prompt["attribute"], prompt["value"])
            except (ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"evaluation.prompts[{k}] ({prompt['target']!r}): attribute/value: {exc}") from exc
    else:
        needs = {"fid": "inception", "ids": "identity"}
        for metric, key in needs.items():
            path = config["metrics"][key]
            if metric in evaluation["metrics"] and not path:
                raise ConfigError(f"metrics.{key}: required in the real world for the {metric} metric")


def load_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return validate_config(config)
