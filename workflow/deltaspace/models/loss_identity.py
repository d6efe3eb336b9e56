"""The identity nets of the compared methods' identity losses (`losses.identity`), never the IDS net.

Two formats, told apart by the file's contents:

* a deltaspace identity_net checkpoint: the mini world's second identity net (another seed and width
  than the one that measures IDS), or any net of that class;
* ``model_ir_se50.pth``, the ArcFace IR-SE50 recogniser the StyleCLIP, e4e and pSp identity losses load
  (a plain state dict of TreB1eN's ``Backbone(112, 50, mode="ir_se")``): ``IRSE50`` has the same module
  names and shapes, so the file loads strictly, and prepares images as those losses do (resize to
  256, crop rows 35:223 and columns 32:220, average-pool to 112).

Both expose ``prepare(images)`` ([-1, 1] images to the net's input), ``features(x)`` (the conv trunk,
TediGAN's perceptual features here) and ``forward(x)`` (the embedding, not normalised).
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..io.checkpoints import load_state_dict_strict, safe_torch_load
from .e4e import BottleneckIR
from .identity_net import KIND as IDENTITY_NET, load_identity_net

#: (in channels, depth, units) of IR-SE50's four stages; the first unit of each halves the resolution
IR_SE50_STAGES = ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3))


class IRSE50(nn.Module):
    """ArcFace IR-SE50 at 112 px: 3x3 stem, 24 IR-SE units (SE reduction 16), BN-dropout-linear-BN head."""

    def __init__(self, drop_ratio: float = 0.6):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, (3, 3), 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units = []
        for in_channel, depth, count in IR_SE50_STAGES:
            units += [BottleneckIR(in_channel, depth, 2, 16)] + [BottleneckIR(depth, depth, 1, 16) for _ in range(count - 1)]
        self.body = nn.Sequential(*units)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop_ratio), nn.Flatten(),
                                          nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512))

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] float (N, 3, H, W) face images (FFHQ-aligned) -> the 112 px face crop the losses use."""
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.shape[-1] != 256 or x.shape[-2] != 256:
            x = F.adaptive_avg_pool2d(x, (256, 256))
        return F.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], (112, 112))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.input_layer(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.features(x))


def load_loss_identity_net(path: str | os.PathLike, config_key: str = "losses.identity") -> nn.Module:
    """The identity net of a file in either format (see the module docstring), in eval mode, frozen."""
    expected = f"a deltaspace {IDENTITY_NET} checkpoint or an IR-SE50 state dict (model_ir_se50.pth)"
    obj = safe_torch_load(path, config_key, expected)
    if isinstance(obj, dict) and obj.get("format") == f"deltaspace/{IDENTITY_NET}":
        return load_identity_net(path, config_key)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not any(str(k).startswith("input_layer.") for k in state):
        found = f"keys {sorted(obj)[:5]}" if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{config_key}: {path} is not {expected} (found {found})")
    net = IRSE50()
    load_state_dict_strict(net, state, config_key, path)
    return net.eval().requires_grad_(False)
