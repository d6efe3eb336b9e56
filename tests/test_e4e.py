"""e4e encoder: official key layout, checkpoint formats, output structure."""

from __future__ import annotations

import pytest
import torch

from deltaspace.errors import CheckpointError
from deltaspace.models.e4e import (
    E4EEncoder,
    encode,
    load_e4e_checkpoint,
    load_encoder,
    mini_e4e_arch,
    real_e4e_arch,
    save_encoder,
)

# A very small encoder (4 W+ entries of an 8 px generator) for the format tests.
TINY_ARCH = {
    "input_size": 16,
    "stem_channels": 8,
    "blocks": [[8, 1], [8, 1], [16, 2], [16, 1]],
    "unit": "ir_se",
    "se_reduction": 4,
    "n_latent": 4,
    "style_dim": 16,
    "style_hidden": 8,
    "coarse_ind": 1,
    "middle_ind": 2,
}
# rosinality-layout generator whose W+ has 4 entries (8 px output), narrow channels.
TINY_GEN = {"size": 8, "style_dim": 16, "n_mlp": 2, "channel_multiplier": 1, "channels": {4: 16, 8: 8}}


def _tiny_encoder(seed: int = 0) -> E4EEncoder:
    torch.manual_seed(seed)
    E = E4EEncoder(**TINY_ARCH)
    # non-trivial BatchNorm statistics, so that eval mode is really exercised
    for m in E.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    E.set_latent_avg(torch.randn(TINY_ARCH["style_dim"]))
    return E.eval()


def _images(n: int, size: int = 16, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_real_config_has_the_official_e4e_keys():
    with torch.device("meta"):  # shapes only: the real encoder has 267 M parameters
        E = E4EEncoder(**real_e4e_arch())
        out = E(torch.zeros(1, 3, 256, 256))
    sd = E.state_dict()
    assert out.shape == (1, 18, 512)
    assert len(sd) == 621
    assert len(E.body) == 24
    assert not any("latent_avg" in k for k in sd)
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    expected = {
        "input_layer.0.weight": (64, 3, 3, 3),
        "input_layer.1.num_batches_tracked": (),
        "input_layer.2.weight": (64,),
        "body.0.res_layer.1.weight": (64, 64, 3, 3),
        "body.3.shortcut_layer.0.weight": (128, 64, 1, 1),
        "body.7.shortcut_layer.1.running_var": (256,),
        "body.21.shortcut_layer.0.weight": (512, 256, 1, 1),
        "body.23.res_layer.5.fc1.weight": (32, 512, 1, 1),
        "body.23.res_layer.5.fc2.weight": (512, 32, 1, 1),
        "styles.0.convs.6.weight": (512, 512, 3, 3),  # coarse: 4 convs (16 -> 1)
        "styles.3.convs.8.bias": (512,),  # medium: 5 convs (32 -> 1)
        "styles.17.convs.10.weight": (512, 512, 3, 3),  # fine: 6 convs (64 -> 1)
        "styles.17.linear.weight": (512, 512),
        "styles.17.linear.bias": (512,),
        "latlayer1.weight": (512, 256, 1, 1),
        "latlayer2.weight": (512, 128, 1, 1),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    for absent in ("styles.0.convs.8.weight", "styles.3.convs.10.weight", "body.0.shortcut_layer.0.weight"):
        assert absent not in shapes


def test_output_is_latent_avg_when_offsets_are_zero():
    E = _tiny_encoder()
    x = _images(3)
    out = E(x)
    assert out.shape == (3, 4, 16)
    assert not torch.allclose(out, E.latent_avg.expand_as(out))
    with torch.no_grad():
        for block in E.styles:
            block.linear.weight.zero_()
            block.linear.bias.zero_()
    torch.testing.assert_close(E(x), E.latent_avg.expand(3, 4, 16))


def test_offsets_are_w0_plus_per_entry_deltas():
    E = _tiny_encoder()
    with torch.no_grad():
        for block in E.styles[1:]:  # entries >= 1 predict nothing but their delta
            block.linear.weight.zero_()
            block.linear.bias.zero_()
        w = E.offsets(_images(2))
    # every entry equals w0 (broadcast) when the deltas are zero
    torch.testing.assert_close(w, w[:, :1].expand_as(w))
    assert w.abs().sum() > 0


def test_batch_independence_in_eval_mode():
    E = _tiny_encoder()
    x = _images(5)
    with torch.no_grad():
        full = E(x)
        single = torch.cat([E(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(full, single, rtol=1e-5, atol=1e-5)


def test_encode_resizes_and_does_not_depend_on_batch_size():
    E = _tiny_encoder()
    x = _images(5, size=32)
    a = encode(E, x, batch_size=2)
    b = encode(E, x, batch_size=100)
    assert a.shape == (5, 4, 16)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # a 16 px input is passed through unchanged
    y = _images(2)
    torch.testing.assert_close(encode(E, y), E(y), rtol=1e-5, atol=1e-5)


def test_our_format_round_trip(tmp_path):
    E = _tiny_encoder()
    path = tmp_path / "enc.pt"
    save_encoder(path, E, {"psnr_db": 1.0})
    E2 = load_encoder(path, "models.encoder.checkpoint")
    assert E2.arch == E.arch
    assert not E2.training
    torch.testing.assert_close(E2.latent_avg, E.latent_avg)
    x = _images(2)
    torch.testing.assert_close(E2(x), E(x))


def test_our_format_rejects_other_kinds(tmp_path):
    from deltaspace.io.checkpoints import save_checkpoint

    path = tmp_path / "other.pt"
    save_checkpoint(path, "generator", {"size": 8}, {"w": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="models.encoder.checkpoint"):
        load_encoder(path, "models.encoder.checkpoint")


def test_mini_arch_builds_for_a_32px_generator():
    E = E4EEncoder(**mini_e4e_arch(n_latent=8, style_dim=64)).eval()
    assert E(torch.zeros(2, 3, 32, 32)).shape == (2, 8, 64)


# ------------------------------------------------------------------ official e4e checkpoint format


def _write_e4e_checkpoint(path, opts: dict | None = None, latent_avg: bool = True):
    from deltaspace.models.stylegan2 import Generator

    E = _tiny_encoder()
    torch.manual_seed(3)
    G = Generator(**TINY_GEN)
    sd = {f"encoder.{k}": v for k, v in E.state_dict().items()}
    sd.update({f"decoder.{k}": v for k, v in G.state_dict().items()})
    obj = {
        "state_dict": sd,
        # official files store latent_avg repeated per entry: (n_latent, style_dim)
        "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": 8, "start_from_latent_avg": True}
        if opts is None
        else opts,
    }
    if latent_avg:
        obj["latent_avg"] = E.latent_avg.clone()
    torch.save(obj, path)
    return E, G


def test_e4e_checkpoint_round_trip(tmp_path):
    path = tmp_path / "e4e_ffhq_encode.pt"
    E, G = _write_e4e_checkpoint(path)
    E2, G2, latent_avg = load_e4e_checkpoint(path, "models.encoder.checkpoint", TINY_GEN, TINY_ARCH)
    assert latent_avg.shape == (4, 16)
    torch.testing.assert_close(latent_avg, E.latent_avg)
    x = _images(2)
    torch.testing.assert_close(E2(x), E(x))
    for k, v in G.state_dict().items():
        torch.testing.assert_close(G2.state_dict()[k], v)
    assert not any(p.requires_grad for p in G2.parameters())


def test_e4e_checkpoint_of_another_size_is_one_clear_error(tmp_path):
    path = tmp_path / "e4e.pt"
    _write_e4e_checkpoint(path)
    wrong = dict(TINY_GEN, size=16, channels={4: 16, 8: 8, 16: 8})
    with pytest.raises(CheckpointError, match="8 px generator.*16 px"):
        load_e4e_checkpoint(path, "models.encoder.checkpoint", wrong, dict(TINY_ARCH, n_latent=6))
    # without the size in opts the key/shape check catches it
    _write_e4e_checkpoint(path, opts={"encoder_type": "Encoder4Editing"})
    with pytest.raises(CheckpointError, match="models.encoder.checkpoint.*does not fit"):
        load_e4e_checkpoint(path, "models.encoder.checkpoint", wrong, dict(TINY_ARCH, n_latent=6))


def test_e4e_loader_rejects_psp_encoders_and_missing_files(tmp_path):
    path = tmp_path / "psp.pt"
    _write_e4e_checkpoint(path, opts={"encoder_type": "GradualStyleEncoder", "stylegan_size": 8})
    with pytest.raises(CheckpointError, match="GradualStyleEncoder"):
        load_e4e_checkpoint(path, "models.encoder.checkpoint", TINY_GEN, TINY_ARCH)
    with pytest.raises(CheckpointError, match="no file"):
        load_e4e_checkpoint(tmp_path / "absent.pt", "models.encoder.checkpoint", TINY_GEN, TINY_ARCH)


# ------------------------------------------------------------------ trainer (plumbing only)


def tiny_trainer_settings(tmp_path):
    """(generator, train_encoder keyword arguments) for a 3-step training against a saved 16 px generator."""
    from deltaspace.models.stylegan2 import Generator, save_generator

    torch.manual_seed(0)
    G = Generator(size=16, style_dim=16, n_mlp=1, channel_multiplier=1, channels={4: 8, 8: 8, 16: 8})
    save_generator(tmp_path / "g.pt", G, G.mean_latent(64))
    arch = {"input_size": 16, "stem_channels": 4, "blocks": [[4, 1], [8, 1], [8, 1]],
            "style_hidden": 8, "stem_stride": 1}
    return G, dict(generator_path=tmp_path / "g.pt", arch=arch, steps=3, batch_size=4, lr=1e-3,
                   seed=0, eval_count=6, threads=1)


def test_train_encoder_runs_saves_and_is_deterministic(tmp_path):
    from deltaspace.training.encoder import train_encoder

    G, kwargs = tiny_trainer_settings(tmp_path)
    kwargs["recon_fraction"] = 0.5
    summary = train_encoder(tmp_path / "e1.pt", **kwargs)
    assert summary["steps"] == 3
    assert 0 < summary["psnr_db"] < 60 and summary["seconds"] > 0
    train_encoder(tmp_path / "e2.pt", **kwargs)
    E1 = load_encoder(tmp_path / "e1.pt", "e1")
    E2 = load_encoder(tmp_path / "e2.pt", "e2")
    assert E1.arch["n_latent"] == G.n_latent and E1.arch["style_dim"] == 16
    for (k, a), b in zip(E1.state_dict().items(), E2.state_dict().values()):
        assert torch.equal(a, b), k
    # the encoder starts from the generator's average latent
    torch.testing.assert_close(E1.latent_avg[0], G.mean_latent(64))


def test_train_encoder_shift_adds_reconstruction_on_the_other_style(tmp_path):
    from deltaspace.errors import ConfigError
    from deltaspace.training.encoder import train_encoder

    _, kwargs = tiny_trainer_settings(tmp_path)
    plain = train_encoder(tmp_path / "plain.pt", **kwargs)
    shifted = train_encoder(tmp_path / "shift.pt", shift={"prior": "celeba", "style": "celeba", "batch": 2}, **kwargs)
    assert "shift_psnr_db" not in plain
    assert 0 < shifted["shift_psnr_db"] < 60 and 0 < shifted["shift_generator_psnr_db"] < 60
    # the shifted renders enter the loss: the trained weights differ from the plain run's
    E1, E2 = load_encoder(tmp_path / "plain.pt", "plain"), load_encoder(tmp_path / "shift.pt", "shift")
    assert any(not torch.equal(a, b) for a, b in zip(E1.state_dict().values(), E2.state_dict().values()))
    for bad in ({"prior": "celeba", "style": "celeba"}, {"prior": "celeba", "style": "oil", "batch": 2},
                {"prior": "celeba", "style": "celeba", "batch": 0}):
        with pytest.raises(ConfigError, match="shift"):
            train_encoder(tmp_path / "bad.pt", shift=bad, **kwargs)
    assert not (tmp_path / "bad.pt").exists()
