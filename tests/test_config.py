import copy

import pytest
import yaml

from deltaspace.config import load_config, validate_config
from deltaspace.errors import ConfigError

MINIMAL = {"world": "mini", "datasets": {"d": {"count": 10, "train_count": 5}}}


def test_shipped_configs_validate(repo_root):
    for name in ("config.yaml", "test.yaml"):
        cfg = load_config(repo_root / "config" / name)
        assert cfg["world"] == "mini"
    ffhq = yaml.safe_load((repo_root / "config" / "ffhq.yaml").read_text())
    assert validate_config(ffhq)["world"] == "real"


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
