import copy

import pytest
import yaml

from deltaspace.config import load_config, validate_config
from deltaspace.errors import ConfigError

from conftest import REPO

MINIMAL = {"world": "mini", "datasets": {"d": {"count": 10, "train_count": 5}}}


def test_shipped_configs_validate(repo_root):
    for name in ("config.yaml", "test.yaml"):
        cfg = load_config(repo_root / "config" / name)
        assert cfg["world"] == "mini"
    ffhq = yaml.safe_load((repo_root / "config" / "ffhq.yaml").read_text())
    assert validate_config(ffhq)["world"] == "real"


def test_the_test_config_over_the_default_validates(repo_root):
    # `snakemake --configfile config/test.yaml` in the repository merges it over config/config.yaml
    # (the Snakefile's configfile), key by key: every section test.yaml shrinks must still validate.
    from snakemake.utils import update_config
    merged = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())
    update_config(merged, yaml.safe_load((repo_root / "config" / "test.yaml").read_text()))
    assert validate_config(merged)["wordings"]["images"] == 8


def test_defaults_are_filled():
    cfg = validate_config(copy.deepcopy(MINIMAL))
    assert cfg["shard_rows"] == 20000 and cfg["fakes"]["count"] == 200000
    assert cfg["models"]["clip"]["normalize"] is True


@pytest.mark.parametrize("change, message", [
    (lambda c: c["datasets"]["d"].update(cuont=3), "datasets.d.cuont: unknown key"),
    (lambda c: c.update(seed="zero"), "seed: expected integer"),
    (lambda c: c.update(world="moon"), "world"),
    (lambda c: c.update(mini={"generator": {"steps": 1.5}}), "mini.generator.steps: expected integer"),
    (lambda c: c["datasets"]["d"].update(train_count=11), "exceeds count"),
    (lambda c: c.update(world="real"), "datasets.d.images: required"),
])
def test_bad_configs_name_the_key(change, message):
    cfg = copy.deepcopy(MINIMAL)
    change(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def _with_prompts(**sections):
    """The shipped config with `section__key=value` set."""
    cfg = load_config(REPO / "config" / "config.yaml")
    for key, value in sections.items():
        section, _, name = key.partition("__")
        cfg[section][name] = value
    return cfg


@pytest.mark.parametrize("sections, message", [
    ({"evaluation__prompts": [{"target": "x", "attribute": "smile", "value": "yes", "asks": {"smile": "yes"}}]},
     "evaluation.prompts.0"),
    ({"evaluation__prompts": [{"target": "x", "asks": {"smile": "yes", "hat": "yes"}}]},
     r"evaluation.prompts\[0\] \('x'\): attribute/value: .*hat"),
    ({"wordings__prompts": [{"target": "x", "asks": {"smile": "maybe"}, "group": "g"}]},
     r"wordings.prompts\[0\] \('x'\)"),
    ({"wordings__prompts": [{"target": "x", "asks": {"smile": "yes"}}]}, "wordings.prompts.0: 'group'"),
    ({"wordings__methods": ["nope"]}, "wordings.methods: no method named 'nope'"),
    ({"wordings__images": 5000}, "wordings.images: 5000 exceeds"),
])
def test_prompts_asking_for_values_are_checked(sections, message):
    """A prompt gives what it asks for one way (attribute and value, or asks), every value exists in the mini
    world, and the wordings target names configured methods and fits the evaluation images."""
    with pytest.raises(ConfigError, match=message):
        validate_config(_with_prompts(**sections))


def test_a_prompt_may_ask_for_two_values():
    cfg = validate_config(_with_prompts(evaluation__prompts=[{"target": "x", "asks": {"smile": "yes", "bangs": "yes"}}]))
    assert cfg["evaluation"]["prompts"][0]["asks"] == {"smile": "yes", "bangs": "yes"}
    assert cfg["wordings"]["dataset"] == cfg["evaluation"]["table1_dataset"] and cfg["wordings"]["images"] == 200
