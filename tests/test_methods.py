"""The method plug-in: a kind is one module plus a config entry; rules and stages never branch on kinds."""

import copy
import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
import yaml

from deltaspace.config import validate_config
from deltaspace.errors import ConfigError
from deltaspace.io.images import decode_pngs, tensor_to_uint8
from deltaspace.io.shards import read_manifest, read_shard
from deltaspace.methods import build_method, method_kind, method_kinds

from conftest import REPO, TINY_CONFIG, snakemake_command, tiny_world

# toy_kind (conftest.py): a kind as a user would write it, a module named by its dotted path in the config


@pytest.fixture
def tiny_config():
    return yaml.safe_load(TINY_CONFIG.read_text())


def test_builtin_kinds_are_the_modules_of_the_package():
    assert {"deltaedit", "styleclip-gd", "reconstruction"} <= set(method_kinds())
    with pytest.raises(ConfigError, match=r"methods.x.kind: unknown method kind 'nope' \(built-in kinds: "):
        method_kind("nope", "methods.x.kind")
    with pytest.raises(ConfigError, match="cannot import method module 'no.such'"):
        method_kind("no.such", "methods.x.kind")


def test_reading_every_kind_imports_no_torch():
    """Snakemake reads the configured kinds' declarations at every start: no torch there."""
    probe = ("import sys\nfrom deltaspace.methods.base import builtin_kinds\nbuiltin_kinds()\n"
             "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert proc.stdout.strip() == "False", proc.stderr


def test_a_kind_of_ones_own_is_validated_by_its_module(tiny_config, toy_kind):
    config = copy.deepcopy(tiny_config)
    config["methods"]["toy"] = {"kind": toy_kind}
    assert validate_config(copy.deepcopy(config))["methods"]["toy"]["shift"] == 0.5  # its default
    config["methods"]["toy"]["shfit"] = 1.0
    with pytest.raises(ConfigError, match=r"methods.toy.shfit: unknown key \(known keys here: shift\)"):
        validate_config(copy.deepcopy(config))
    config["methods"]["toy"] = {"kind": toy_kind, "shift": "far"}
    with pytest.raises(ConfigError, match="methods.toy.shift: expected number"):
        validate_config(config)


def test_the_workflow_schedules_a_kind_of_ones_own_with_its_artefacts(tmp_path, tiny_config, toy_kind):
    """Adding a method touches its module and the config: the edit job reads the artefact it declared."""
    tiny_config["methods"] = {"toy": {"kind": toy_kind, "shift": 1.0}}
    configfile = tmp_path / "toy.yaml"
    configfile.write_text(yaml.safe_dump(tiny_config))
    target = "results/mini/metrics/mini-ffhq/toy.jsonl"
    proc = subprocess.run(snakemake_command(tmp_path / "run", "-n", "--cores", "1", target, configfile=configfile),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    edit_job = proc.stdout[proc.stdout.index("rule edit_images:"):].split("\n\n")[0]
    assert "results/mini/relevance/s_stats.npz" in edit_job and "wildcards: dataset=mini-ffhq, method=toy" in edit_job
    assert "train_delta_mapper" not in proc.stdout  # the toy needs no mapper, so none is trained


@pytest.mark.parametrize("shift", [1.0, 0.0])
def test_edit_stage_runs_a_kind_of_ones_own_and_records_what_it_did(tmp_path, toy_kind, shift, caplog):
    from deltaspace.stages.editing import edit_images

    generator, originals = tiny_world(tmp_path)
    spec = {"name": "toy", "kind": toy_kind, "settings": {"shift": shift}, "generator": generator, "clip": {},
            "inputs": {"stats": str(tmp_path / "s_stats.npz")}}
    prompts = [{"target": "face with smile", "attribute": "smile", "value": "yes"}]
    with caplog.at_level(logging.WARNING):
        edit_images(evaluation_set=tmp_path / "eval.parquet", method=spec, prompts=prompts, source="face",
                    out=tmp_path / "edits")
    edited = decode_pngs(read_shard(tmp_path / "edits" / "face-with-smile.parquet")["image"])
    info = read_manifest(tmp_path / "edits")["info"]["prompt_info"]["face-with-smile"]
    if shift:
        assert np.abs(edited.astype(int) - originals).mean() > 1 and info["channels_kept"] > 0
        assert "changes nothing" not in caplog.text
    else:  # an edit that changes nothing is reported, not silent
        np.testing.assert_array_equal(edited, originals)
        assert info["channels_kept"] == 0 and "keeps 0 of" in caplog.text and "changes nothing" in caplog.text


def test_no_edit_reference_returns_the_reconstruction(tmp_path):
    from deltaspace.directions.text import Prompt
    from deltaspace.methods import EvalBatch

    generator, originals = tiny_world(tmp_path)
    table = read_shard(tmp_path / "eval.parquet")
    method = build_method({"name": "no-edit", "kind": "reconstruction", "settings": {}, "inputs": {},
                           "generator": generator, "clip": {}})
    s, s_rgb = torch.from_numpy(np.array(table["s"])), torch.from_numpy(np.array(table["s_rgb"]))
    batch = EvalBatch(s=s, s_rgb=s_rgb, wplus=None, embedding=None, images=None)
    with torch.no_grad():
        out = tensor_to_uint8(method.edit(batch, Prompt(target="face with smile")))
    np.testing.assert_array_equal(out, originals)
    assert method.prompt_info(Prompt(target="x")) == {}


def test_method_specs_carry_settings_and_inputs_separately(tiny_config):
    """Settings may share a name with an input role (deltaedit's `mapper` and `relevance`)."""
    config = validate_config(copy.deepcopy(tiny_config))
    kind = method_kind(config["methods"]["deltaedit"]["kind"])
    settings = {k: v for k, v in config["methods"]["deltaedit"].items() if k != "kind"}
    assert kind.artefacts(settings) == {"mapper": "mapper:deltaedit", "relevance": "relevance"}
    settings["relevance"] = False
    assert kind.artefacts(settings) == {"mapper": "mapper:deltaedit"}
    assert json.loads(json.dumps(kind.settings_schema()))["required"] == ["mapper"]


def test_wrong_artefact_names_the_method(tiny_config, toy_kind, tmp_path, monkeypatch):
    bad = tmp_path / "plugins" / "toylab" / "bad.py"
    bad.write_text(textwrap.dedent('''
        from deltaspace.methods import MethodKind
        KIND = MethodKind(name="toylab.bad", settings={}, inputs=lambda s: {"x": "nothing"}, build=None)
    '''))
    config = copy.deepcopy(tiny_config)
    config["methods"] = {"bad": {"kind": "toylab.bad"}}
    with pytest.raises(ConfigError, match="methods.bad: kind 'toylab.bad' asks for an unknown artefact 'nothing'"):
        validate_config(config)
