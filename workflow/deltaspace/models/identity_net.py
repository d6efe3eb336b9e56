"""Identity embeddings for IDS: the mini world's ArcFace-style net and the loader both worlds share.

Mini world: ``IdentityNet`` embeds a face to a vector whose direction says who it is (trained with
an additive angular margin loss on identity classes, training/metric_nets.py). It is exported to
ONNX with the input contract of insightface's ArcFace recognition models, and IDS reads it back
through the same loader as a real ArcFace file, so both worlds take one code path:

* ONNX input ``(N, 3, input_size, input_size)`` float32, RGB, normalised as ``(x - 127.5) / 127.5``
  (so in [-1, 1]); output ``(N, embedding_dim)``, not normalised (the loader normalises).
* ``input_size`` is 128 for the mini net: insightface routes a local ONNX file to its recognition
  class (``ArcFaceONNX``) by the input shape (square, at least 112, a multiple of 16), and 128 is
  4 x the 32 px renders. The net's first layer averages 4 x 4 blocks back to 32 px, so upsampling
  a 32 px image to 128 and running the net sees the 32 px image again (up to a slight blur).
* Real world: the user's ArcFace file (e.g. insightface's w600k_r50.onnx, 112 x 112). Faces are
  assumed aligned and cropped: FFHQ / CelebA-HQ crops are used as they are, resized to the
  model's input size, without insightface's landmark alignment (an approximation: those crops
  are aligned by their own landmark procedure, looser than ArcFace's 5-point template).

Loader: ``load_arcface(path, config_key)`` opens the file with ``insightface.model_zoo.get_model``
(a local path, never a download) on ONNX Runtime's CPU provider and checks it got insightface's
``ArcFaceONNX``. insightface (2.x, a pure-Python wheel on PyPI) installs without a compiler here;
its older 0.7 releases are source-only and need one for their mesh extension, hence the >= 2.0 pin.
Images are resized by us (bilinear, antialiased) and handed to ``ArcFaceONNX.forward``, which
applies the model's mean/std (127.5 / 127.5 for PyTorch-exported models like ours and w600k_r50;
0 / 1 for the old MXNet exports that normalise inside the graph: insightface tells them apart).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..io.atomic import atomic_path
from ..io.checkpoints import load_checkpoint, load_state_dict_strict, save_checkpoint
from .attribute_net import as_model_input, conv_trunk

KIND = "identity_net"
ONNX_OPSET = 17


def default_arch(size: int = 32) -> dict:
    return {"size": size, "input_size": 4 * size, "channels": [16, 32, 64], "embedding_dim": 128}


class IdentityNet(nn.Module):
    """Average-pool to ``size``, conv stages (size -> size / 8), then BN-FC-BN to the embedding (as ArcFace)."""

    def __init__(self, size: int = 32, input_size: int = 128, channels=(16, 32, 64), embedding_dim: int = 128):
        super().__init__()
        if input_size % size or input_size < 112 or input_size % 16:
            raise ValueError(
                f"input_size {input_size} must be a multiple of size {size}, of 16, and at least 112 "
                "(insightface recognises ArcFace models by such a square input)"
            )
        if size % 2 ** len(channels):
            raise ValueError(f"size {size} must be divisible by 2**{len(channels)}")
        self.arch = {"size": int(size), "input_size": int(input_size), "channels": [int(c) for c in channels],
                     "embedding_dim": int(embedding_dim)}
        self.size, self.input_size = int(size), int(input_size)
        side, cout = size // 2 ** len(channels), channels[-1]
        self.convs = nn.Sequential(nn.AvgPool2d(input_size // size), conv_trunk(channels))
        self.embed = nn.Sequential(
            nn.BatchNorm2d(cout), nn.Flatten(),
            nn.Linear(cout * side * side, embedding_dim), nn.BatchNorm1d(embedding_dim),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv trunk's maps (what the identity losses use as perceptual features)."""
        return self.convs(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, input_size, input_size) in [-1, 1] -> raw embeddings (N, embedding_dim)."""
        return self.embed(self.convs(x))

    def prepare(self, images) -> torch.Tensor:
        """uint8 (N, H, W, 3) or [-1, 1] float (N, 3, H, W) images -> the net's input (resized)."""
        return as_model_input(images, self.input_size)

    @torch.no_grad()
    def embed_images(self, images, batch_size: int = 512) -> np.ndarray:
        """Unit embeddings (N, embedding_dim) float64 through PyTorch (the ONNX file gives the same)."""
        was_training = self.training
        self.eval()
        try:
            parts = [F.normalize(self(self.prepare(images[i:i + batch_size])), dim=1).double().numpy()
                     for i in range(0, len(images), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(parts) if parts else np.zeros((0, self.arch["embedding_dim"]))


def save_identity_net(path: str | os.PathLike, net: IdentityNet, extra: dict | None = None) -> None:
    save_checkpoint(path, KIND, net.arch, net.state_dict(), extra)


def load_identity_net(path: str | os.PathLike, config_key: str) -> IdentityNet:
    obj = load_checkpoint(path, KIND, config_key)
    try:
        net = IdentityNet(**obj["arch"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_key}: {path} holds an unusable identity_net arch: {exc}") from exc
    load_state_dict_strict(net, obj["state_dict"], config_key, path)
    return net.eval().requires_grad_(False)


def export_onnx(net: IdentityNet, path: str | os.PathLike) -> None:
    """Write the net as an ArcFace-style ONNX recognition model (dynamic batch), atomically."""
    was_training = net.training
    net.eval()
    try:
        dummy = torch.zeros(2, 3, net.input_size, net.input_size)
        # The TorchScript-based exporter (deprecated, still in the pinned torch): the torch.export-based
        # one needs the onnxscript package, one more dependency for a five-layer CNN.
        with warnings.catch_warnings(), atomic_path(path) as tmp:
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net, (dummy,), str(tmp), dynamo=False, opset_version=ONNX_OPSET,
                input_names=["input"], output_names=["embedding"],
                dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
            )
    finally:
        net.train(was_training)


@dataclass
class ArcFaceEmbedder:
    """An ArcFace ONNX model loaded through insightface; ``embed`` gives unit embeddings."""

    model: object  # insightface.model_zoo.ArcFaceONNX
    input_size: int
    backbone: str

    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """uint8 RGB faces (N, H, W, 3) -> unit embeddings (N, D) float64."""
        parts = []
        for start in range(0, len(images), batch_size):
            # [0, 255] RGB at the model's input size; ArcFaceONNX.forward applies its mean/std.
            blob = (as_model_input(images[start:start + batch_size], self.input_size) + 1.0) * 127.5
            out = np.asarray(self.model.forward(blob.numpy()), dtype=np.float64)
            parts.append(out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12))
        return np.concatenate(parts) if parts else np.zeros((0, 0))


def load_arcface(path: str | os.PathLike, config_key: str, backbone: str | None = None,
                 threads: int | None = None) -> ArcFaceEmbedder:
    """Open an ArcFace-style ONNX recognition model (ours or a real one) through insightface."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{config_key}: no file at {path} (expected an ArcFace ONNX recognition model)")
    import onnxruntime
    from insightface.model_zoo import get_model
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    try:
        model = get_model(str(path), providers=["CPUExecutionProvider"], sess_options=options)
    except Exception as exc:  # not ONNX, unsupported opset, ...
        raise CheckpointError(f"{config_key}: insightface cannot open {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, ArcFaceONNX):
        raise CheckpointError(
            f"{config_key}: {path} is not an ArcFace recognition model for insightface "
            f"(got {type(model).__name__}; expected one square input of at least 112 px and one output)"
        )
    size = int(model.input_size[0])
    return ArcFaceEmbedder(model, size, backbone or f"arcface {path.name} (onnx via insightface)")
