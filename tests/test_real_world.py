"""The real world, end to end, on checkpoints saved in the published formats.

The test writes a rosinality StyleGAN2 checkpoint, an official-layout e4e checkpoint (IR-SE 50
encoder + decoder + latent_avg + opts), an open_clip state dict, a clean-fid-style Inception
TorchScript file, an ArcFace ONNX model and two folders of PNGs, points a `world: real` config at
them and runs the workflow: inversion, fakes, CLIP features, manifests, the fidelity report, R_s,
Delta Mappers in S and W+, edits, metrics and Table 1.
"""

import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pandas as pd
import torch
import yaml

from conftest import run_snakemake, write_fake_inception
from deltaspace.io.images import write_png
from deltaspace.io.shards import read_manifest, read_collection

pytestmark = pytest.mark.slow
# rosinality's layout with a narrowed channel table: at rosinality's own 512 channels, R_s alone
# (3,584 channels x 2 images, each a 32 px synthesis) takes half an hour on one CPU thread.
GEN_ARCH = {"size": 32, "style_dim": 64, "n_mlp": 2, "channel_multiplier": 1,
            "channels": {4: 32, 8: 32, 16: 16, 32: 16}}


def _write_images(folder: Path, count: int, size: int, seed: int) -> None:
    from deltaspace.world.attributes import sample_params
    from deltaspace.world.renderer import render_uint8

    folder.mkdir(parents=True)
    for i, img in enumerate(render_uint8(sample_params(seed, "real-test", np.arange(count), "uniform"), size)):
        write_png(folder / f"img{i:03d}.png", img)


@pytest.fixture(scope="module")
def real_world(tmp_path_factory):
    from deltaspace.models.clip import create_mini
    from deltaspace.models.e4e import E4EEncoder, n_latent_for_size, real_e4e_arch
    from deltaspace.models.stylegan2 import Generator

    root = tmp_path_factory.mktemp("real")
    torch.manual_seed(0)
    G = Generator(**GEN_ARCH).eval()
    with torch.no_grad():
        latent_avg = G.mapping(torch.randn(1000, GEN_ARCH["style_dim"])).mean(0)
    torch.save({"g_ema": G.state_dict(), "latent_avg": latent_avg,
                "args": argparse.Namespace(size=32, n_mlp=2, channel_multiplier=1)}, root / "stylegan2.pt")
    E = E4EEncoder(**real_e4e_arch(n_latent=n_latent_for_size(32), style_dim=64))
    state = {f"encoder.{k}": v for k, v in E.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in G.state_dict().items()})
    torch.save({"state_dict": state, "latent_avg": latent_avg.expand(8, 64).clone(),
                "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": 32, "start_from_latent_avg": True}},
               root / "e4e.pt")
    clip = create_mini("deltaspace-mini", seed=0)
    torch.save(clip.model.state_dict(), root / "clip.pt")
    write_fake_inception(root / "inception-2015-12-05.pt")
    from deltaspace.models.identity_net import IdentityNet, export_onnx

    torch.manual_seed(0)
    export_onnx(IdentityNet(size=28, input_size=112, channels=[8, 8], embedding_dim=16).eval(), root / "arcface.onnx")
    _write_images(root / "faces", 30, 64, seed=1)  # other size than the generator: resized on load
    _write_images(root / "faces-eval", 12, 32, seed=2)
    config = {
        "world": "real", "seed": 0, "shard_rows": 16,
        "datasets": {"faces": {"images": str(root / "faces"), "train_count": 20},
                     "faces-eval": {"images": str(root / "faces-eval"), "train_count": 0}},
        "fakes": {"count": 20},
        "models": {
            "generator": {"format": "rosinality", "checkpoint": str(root / "stylegan2.pt"), **GEN_ARCH},
            "encoder": {"format": "e4e", "checkpoint": str(root / "e4e.pt"), "batch_size": 8},
            "clip": {"format": "open_clip", "arch": "deltaspace-mini", "checkpoint": str(root / "clip.pt"),
                     "normalize": False},
        },
        "report": {"images": 8, "pairs": 2},
        "metrics": {"inception": str(root / "inception-2015-12-05.pt"), "identity": str(root / "arcface.onnx")},
        "relevance": {"images": 2},
        # the real-format paths: an S and a W+ mapper, R_s masking, StyleCLIP's global directions
        "mappers": {name: {"space": space, "condition": "delta", "steps": 5, "batch_size": 8}
                    for name, space in (("deltaedit", "s"), ("wplus", "wplus"))},
        "methods": {"deltaedit": {"mapper": "deltaedit", "relevance": True}, "deltaedit-wplus": {"mapper": "wplus"},
                    "styleclip-gd-rho3": {"kind": "styleclip-gd", "alpha": 3.0}},
        "evaluation": {"images": {"faces": 6}, "metrics": ["fid", "psnr", "ids"],
                       "prompts": [{"target": "face with smile"}, {"target": "face with red hair"}]},
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def _snakemake(root: Path, *args: str) -> subprocess.CompletedProcess:
    return run_snakemake(root, *args, configfile=root / "config.yaml")


def test_real_world_data_stages_end_to_end(real_world):
    proc = _snakemake(real_world)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = real_world / "results" / "real"
    for table, rows in {"faces": 30, "faces-eval": 12, "fakes": 20}.items():
        assert read_manifest(out / "codes" / table, verify=True)["rows"] == rows
        assert read_manifest(out / "clip" / table, verify=True)["rows"] == rows
    codes = read_collection(out / "codes" / "faces")
    assert codes["wplus"].shape == (30, 8 * 64) and np.isfinite(codes["s"]).all()
    report = json.loads((out / "reports" / "fidelity.json").read_text())
    assert report["world"] == "real" and "generator" not in report
    assert report["datasets"]["faces"]["inversion"]["images"] == 8  # the 10 held-out, capped at 8
    table = pd.read_csv(real_world / "results" / "table1.csv").set_index("method")
    measured = table[table["status"] == "measured"]
    assert set(measured.index) == {"deltaedit", "deltaedit-wplus", "styleclip-gd-rho3"}
    assert (measured["world"] == "real").all() and (measured["images"] == 6).all()
    assert (measured["fid_backbone"] == "inception-v3 (clean-fid)").all()
    assert measured[["fid", "psnr", "ids"]].notna().all().all()
    truth = [c for c in ("edit_accuracy", "preservation") if c in measured]  # no ground truth for photographs
    assert measured[truth].isna().all().all()


def _dry_run_with(real_world: Path, tmp_path: Path, section: str, name: str, key: str, value: str) -> str:
    """Dry-run the real-world config with one setting changed; return Snakemake's output."""
    config = yaml.safe_load((real_world / "config.yaml").read_text())
    config[section][name][key] = value
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(tmp_path, "-n")
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def test_missing_image_folder_names_the_key(real_world, tmp_path):
    out = _dry_run_with(real_world, tmp_path, "datasets", "faces", "images", str(tmp_path / "nowhere"))
    assert "datasets.faces.images" in out and "nowhere" in out


def test_missing_checkpoint_names_the_key(real_world, tmp_path):
    out = _dry_run_with(real_world, tmp_path, "models", "encoder", "checkpoint", str(tmp_path / "e4e_missing.pt"))
    assert "models.encoder.checkpoint" in out and "e4e_missing.pt" in out
