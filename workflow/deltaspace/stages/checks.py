"""Checks a user runs before the workflow: a config file as the workflow will read it."""

from __future__ import annotations

from pathlib import Path

from ..cli import stage
from ..config import merge, read_yaml, validate_config


@stage("check-config")
def check_config(*, configfile: Path, base: Path | None = Path("config/config.yaml")) -> dict:
    """Check a config file as the workflow would read it: laid over `base` (the default config, when
    it exists), then validated. Snakemake reports a YAML error in a --configfile without its file and
    line; this names both."""
    config = read_yaml(base) if base and Path(base).is_file() else {}
    validate_config(merge(config, read_yaml(configfile)))
    return {"configfile": str(configfile), "valid": True}
