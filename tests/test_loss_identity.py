"""The identity nets of the methods' identity losses: the mini world's own, and StyleCLIP's IR-SE50 file."""

import pytest
import torch

from deltaspace.errors import CheckpointError
from deltaspace.models.identity_net import IdentityNet, save_identity_net
from deltaspace.models.loss_identity import IRSE50, load_loss_identity_net


@pytest.fixture(scope="module")
def ir_se50_file(tmp_path_factory):
    """A randomly initialised IR-SE50 saved as model_ir_se50.pth is: a plain state dict."""
    torch.manual_seed(0)
    net = IRSE50().eval()
    path = tmp_path_factory.mktemp("irse") / "model_ir_se50.pth"
    torch.save(net.state_dict(), path)
    return net, path


def test_ir_se50_has_the_reference_module_names_and_shapes(ir_se50_file):
    net, _ = ir_se50_file
    state = net.state_dict()
    assert len(net.body) == 24
    assert state["input_layer.0.weight"].shape == (64, 3, 3, 3) and "input_layer.2.weight" in state  # PReLU
    assert not any(k.startswith("body.0.shortcut_layer") for k in state)  # 64 -> 64: a parameter-free max-pool
    assert state["body.3.shortcut_layer.0.weight"].shape == (128, 64, 1, 1)
    assert state["body.23.res_layer.5.fc1.weight"].shape == (32, 512, 1, 1)  # SE, reduction 16
    assert state["output_layer.3.weight"].shape == (512, 512 * 7 * 7) and "output_layer.4.running_var" in state


def test_a_state_dict_file_loads_strictly_and_embeds_as_saved(ir_se50_file):
    net, path = ir_se50_file
    loaded = load_loss_identity_net(path)
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(loaded.prepare(images)), net(net.prepare(images)))
    assert loaded.prepare(images).shape == (2, 3, 112, 112) and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.features(loaded.prepare(images)).shape == (2, 512, 7, 7)


def test_the_mini_identity_net_loads_through_the_same_door(tmp_path):
    torch.manual_seed(1)
    save_identity_net(tmp_path / "id.pt", IdentityNet(size=16, input_size=112, channels=(8, 8), embedding_dim=8))
    assert isinstance(load_loss_identity_net(tmp_path / "id.pt"), IdentityNet)


def test_other_files_name_the_config_key(tmp_path, ir_se50_file):
    with pytest.raises(CheckpointError, match="losses.identity: no file at"):
        load_loss_identity_net(tmp_path / "missing.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="losses.identity: .* is not a deltaspace identity_net checkpoint or an IR-SE50"):
        load_loss_identity_net(tmp_path / "other.pth")
    _, path = ir_se50_file
    state = torch.load(path, weights_only=True)
    del state["output_layer.3.bias"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(CheckpointError, match="losses.identity"):
        load_loss_identity_net(tmp_path / "cut.pth")
