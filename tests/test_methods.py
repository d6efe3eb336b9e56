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
from deltaspace.io.images import decode_pngs, encode_png, tensor_to_uint8
from deltaspace.io.shards import read_manifest, read_shard, write_shard
from deltaspace.methods import build_method, method_kind, method_kinds
from deltaspace.models.stylegan2 import Generator, save_generator

from conftest import REPO, TINY_CONFIG, snakemake_command

# A toy kind as a user would write it: one module, named by its dotted path in the config. It reads
# one workflow artefact (the S statistics) and shifts every S channel by `shift` of its std.
TOY_MODULE = '''
from deltaspace.methods import EditingMethod, MethodKind


class Shift(EditingMethod):
    kind = "toylab.shift"

    def __init__(self, G, std, shift):
        self.G, self.std, self.shift = G, std, shift

    def edit(self, batch, prompt):
        return self.G.synthesis(batch.s + self.shift * self.std, batch.s_rgb, noise_mode="const")

    def prompt_info(self, prompt):
        return {"channels_kept": 0 if self.shift == 0 else int(self.std.numel()), "channels": int(self.std.numel())}


def build(spec):
    import numpy as np
    import torch
    from deltaspace.models.loading import load_generator_spec

    G, _ = load_generator_spec(spec["generator"])
    std = torch.from_numpy(np.load(spec["inputs"]["stats"])["std"])
    return Shift(G, std, spec["settings"]["shift"])


KIND = MethodKind(
    name="toylab.shift",
    settings={"shift": {"type": "number", "default": 0.5}},
    inputs=lambda settings: {"stats": "style_stats"},
    build=build,
)
'''


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    package = tmp_path / "plugins" / "toylab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "shift.py").write_text(TOY_MODULE)
    for name in [m for m in sys.modules if m == "toylab" or m.startswith("toylab.")]:
        monkeypatch.delitem(sys.modules, name)  # another test's copy of the package
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "plugins"))
    return "toylab.shift"


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


def _tiny_world(tmp_path, n=5):
    """A random tiny generator, its S statistics and an evaluation set of its own renders."""
    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=1, channels={4: 8, 8: 8, 16: 8}).eval()
    save_generator(tmp_path / "g.pt", G, torch.zeros(16))
    z = torch.randn(n, 16)
    wplus = G.wplus_from_z(z)
    with torch.no_grad():
        s, s_rgb = G.styles_from_wplus(wplus)
        images = tensor_to_uint8(G.synthesis(s, s_rgb, noise_mode="const"))
    np.savez(tmp_path / "s_stats.npz", mean=s.mean(0).numpy(), std=s.std(0).numpy())
    write_shard(tmp_path / "eval.parquet", {
        "index": np.arange(n), "s": s.numpy(), "s_rgb": s_rgb.numpy(), "wplus": wplus.flatten(1).detach().numpy(),
        "embedding": np.ones((n, 4), dtype=np.float32) / 2, "image": [encode_png(x) for x in images]})
    generator = {"format": "deltaspace", "checkpoint": str(tmp_path / "g.pt")}
    return generator, images


@pytest.mark.parametrize("shift", [1.0, 0.0])
def test_edit_stage_runs_a_kind_of_ones_own_and_records_what_it_did(tmp_path, toy_kind, shift, caplog):
    from deltaspace.stages.editing import edit_images

    generator, originals = _tiny_world(tmp_path)
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
    from deltaspace.editing.text import Prompt
    from deltaspace.methods import EvalBatch

    generator, originals = _tiny_world(tmp_path)
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
