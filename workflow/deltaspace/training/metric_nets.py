"""Train the mini world's metric nets on fresh renders: the attribute classifier and the identity net.

Data: item i of a stream has its attributes and pose drawn from the uniform prior
(``attributes.sample_params(seed, stream, [i], "uniform")``, every value equally often, so rare
values such as eyeglasses are learnt as well as common ones) and is rendered in the mini-FFHQ
style if i is even, the mini-CelebA style if i is odd. Each item is then degraded a little, as the
generator's images are (a per-item mix with a 3 x 3 blur and a per-item amount of Gaussian noise,
all drawn from (seed, item)), and rounded to 8 bits like the PNGs the evaluation reads.
Every step renders new items, so the data depend on (seed, item index) only.

* Attribute net: cross-entropy of every attribute head, averaged.
* Identity net: identity classes are fixed draws of the renderer's identity parameters
  (``attributes.IDENTITY``, stream "identity-net/classes"); item i belongs to a class drawn from
  (seed, i) and varies everything else (attributes, pose, style), so the embedding learns who
  the face is and not its hair or glasses. Loss: ArcFace's additive angular margin softmax,
  logits s * cos(theta_y + m) for the true class and s * cos(theta_j) for the others, on unit
  embeddings and unit class weights, plus an auxiliary regression of the class's identity
  parameters from the embedding (a linear head dropped after training, ``geometry_weight``).
  Why the auxiliary term: identities differ by about a pixel of face geometry at 32 px while
  hair, glasses, background and pose change hundreds of pixels, and the margin loss alone barely
  leaves chance level within a CPU budget (measured, 500 steps of batch 64: 2,000 classes
  s=24 m=0.3 gave same- vs different-identity cosine 0.38 / 0.39; 256 classes s=16 m=0.2 gave
  0.44 / 0.27 and hair-colour edits at cosine 0.31). The regression target tells every image
  which way its identity lies, and with it (weight 5, 1,000 steps) the same measure reaches
  0.95 / 0.03 with edits of hair colour, glasses or smile at cosine >= 0.97.

Both use AdamW with a one-cycle schedule (warm-up, cosine decay) and are checked on held-out
renders: per-attribute accuracy for the classifier; for the identity net, cosines of the same
identity under other attributes and pose against different identities (TAR at FAR 1%), and the
cosine between a face and the same face with one attribute edited (hair colour, glasses, smile).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import rng
from ..io.images import tensor_to_uint8
from ..models.attribute_net import AttributeNet, default_arch as attribute_arch, save_attribute_net
from ..models.identity_net import IdentityNet, default_arch as identity_arch, export_onnx, load_arcface, save_identity_net
from ..world.attributes import ATTRIBUTES, IDENTITY, Params, replace, sample_params, select
from ..world.renderer import STYLES, render
from ..threads import uses_threads

log = logging.getLogger(__name__)

ATTRIBUTE_STREAM = "attribute-net/train"
ATTRIBUTE_EVAL_STREAM = "attribute-net/eval"
IDENTITY_STREAM = "identity-net/train"
IDENTITY_CLASS_STREAM = "identity-net/classes"
IDENTITY_EVAL_STREAM = "identity-net/eval"
#: Attributes whose edits the identity embedding should not notice (checked after training).
EDIT_CHECKS = ("hair_color", "eyeglasses", "smile")
#: Largest blur mix and noise standard deviation (in [-1, 1] units) of the training degradation.
MAX_BLUR, MAX_NOISE = 0.5, 0.04


def render_items(params: Params, indices: np.ndarray, size: int) -> torch.Tensor:
    """Renders (N, 3, size, size) in [-1, 1]: even items in the "ffhq" style, odd ones in "celeba"."""
    indices = np.asarray(indices, dtype=np.int64)
    images = torch.empty(len(indices), 3, size, size)
    for parity, style in enumerate(STYLES):
        rows = np.flatnonzero(indices % 2 == parity)
        if rows.size:
            images[torch.from_numpy(rows)] = render(select(params, rows), size, style)
    return images


def degrade(images: torch.Tensor, seed: int, stream: str, indices: np.ndarray) -> torch.Tensor:
    """Per-item blur mix and Gaussian noise drawn from (seed, item), then 8-bit rounding."""
    n, c, h, w = images.shape
    amount = torch.from_numpy(rng.uniform(seed, stream + "/degrade", indices, 2)).float()
    noise = torch.from_numpy(rng.normal(seed, stream + "/noise", indices, c * h * w)).view(n, c, h, w)
    blurred = F.avg_pool2d(images, 3, stride=1, padding=1, count_include_pad=False)
    mix = (MAX_BLUR * amount[:, 0]).view(n, 1, 1, 1)
    out = torch.lerp(images, blurred, mix) + (MAX_NOISE * amount[:, 1]).view(n, 1, 1, 1) * noise
    return torch.round((out.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def _fit(named_parameters, steps: int, lr: float, desc: str, loss_fn, weight_decay: float = 1e-4) -> list[float]:
    """AdamW + one-cycle schedule around `loss_fn(step) -> loss`; returns the losses."""
    params = [p for _, p in named_parameters]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = max(4, steps)
    # OneCycleLR divides by its warm-up length: keep it at least two steps for short (test) runs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=min(0.5, max(0.1, 2.5 / total)))
    losses: list[float] = []
    bar = tqdm(range(steps), desc=desc, unit="step", mininterval=5.0)
    for step in bar:
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    return losses


def _batch_indices(step: int, batch_size: int) -> np.ndarray:
    return np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)


# ----------------------------------------------------------------------------- attribute net


def attribute_accuracy(net: AttributeNet, seed: int, count: int, size: int) -> dict[str, dict[str, float]]:
    """Per style, per attribute accuracy on `count` held-out renders (uniform prior, no degradation)."""
    out = {}
    for style in STYLES:
        params = sample_params(seed, f"{ATTRIBUTE_EVAL_STREAM}/{style}", np.arange(count), "uniform")
        pred = net.predict(render(params, size, style))
        out[style] = {a: float(np.mean(pred[a] == params[a])) for a in ATTRIBUTES}
    return out


@uses_threads
def train_attribute_net(
    out_path: str | Path, *, steps: int, batch_size: int, lr: float, seed: int = 0, size: int = 32,
    threads: int = 2, arch: dict | None = None, eval_count: int = 2000,
) -> dict:
    """Train the attribute classifier, save it (kind "deltaspace/attribute_net"), return a summary."""
    start = time.time()
    torch.manual_seed(seed)
    net = AttributeNet(**{**attribute_arch(size), **(arch or {}), "size": size})
    net.train()

    def loss_fn(step: int) -> torch.Tensor:
        idx = _batch_indices(step, batch_size)
        params = sample_params(seed, ATTRIBUTE_STREAM, idx, "uniform")
        images = degrade(render_items(params, idx, size), seed, ATTRIBUTE_STREAM, idx)
        _, logits = net(images)
        return torch.stack([F.cross_entropy(logits[a], torch.from_numpy(params[a])) for a in ATTRIBUTES]).mean()

    losses = _fit(net.named_parameters(), steps, lr, "attribute net", loss_fn)
    train_seconds = time.time() - start
    accuracy = attribute_accuracy(net.eval(), seed, eval_count, size)
    summary = {
        "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "threads": threads,
        "final_loss": float(np.mean(losses[-20:])), "train_seconds": round(train_seconds, 1),
        "eval_images_per_style": eval_count, "accuracy": accuracy,
        "min_accuracy": min(v for style in accuracy.values() for v in style.values()),
    }
    save_attribute_net(out_path, net, {"training": summary})
    log.info("attribute net: %.0f s, min held-out accuracy %.4f", train_seconds, summary["min_accuracy"])
    return summary


# ----------------------------------------------------------------------------- identity net


def identity_items(seed: int, stream: str, indices: np.ndarray, identities: Params) -> Params:
    """Faces of items `indices` (attributes and pose from the stream) with the given identities."""
    params = sample_params(seed, stream, indices, "uniform")
    return replace(params, **{name: identities[name] for name in IDENTITY})


def class_identities(seed: int, classes: np.ndarray) -> Params:
    """The identity parameters of identity classes (fixed draws, one per class index)."""
    return sample_params(seed, IDENTITY_CLASS_STREAM, classes, "uniform")


def arcface_logits(embeddings: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                   scale: float, margin: float) -> torch.Tensor:
    """ArcFace logits: s * cos(theta_y + m) for the label, s * cos(theta_j) elsewhere (unit vectors).

    Where theta_y + m would pass pi the target logit continues as cos(theta_y) - m sin(m)
    (the usual monotone extension), so the loss keeps pushing badly placed samples.
    """
    cos = F.linear(F.normalize(embeddings, dim=1), F.normalize(weight, dim=1)).clamp(-1 + 1e-7, 1 - 1e-7)
    target = cos.gather(1, labels[:, None])
    sin = torch.sqrt(1.0 - target * target)
    with_margin = target * math.cos(margin) - sin * math.sin(margin)
    with_margin = torch.where(target > math.cos(math.pi - margin), with_margin, target - margin * math.sin(margin))
    return scale * cos.scatter(1, labels[:, None], with_margin)


def identity_report(embed, seed: int, count: int, size: int) -> dict:
    """Held-out identities: same identity (other attributes, pose, style) vs different identities,
    and the same face with one attribute edited. `embed(images [-1, 1]) -> unit embeddings`."""
    ids = np.arange(count)
    identities = sample_params(seed, f"{IDENTITY_EVAL_STREAM}/identities", ids, "uniform")
    view_a = identity_items(seed, f"{IDENTITY_EVAL_STREAM}/a", ids, identities)
    view_b = identity_items(seed, f"{IDENTITY_EVAL_STREAM}/b", ids, identities)
    ea = embed(render_items(view_a, ids, size))
    eb = embed(render_items(view_b, ids + 1, size))  # the other view in the other style
    same = np.sum(ea * eb, axis=1)
    different = np.sum(ea * np.roll(eb, 1, axis=0), axis=1)  # view b of the previous identity
    threshold = float(np.quantile(different, 0.99))
    report = {
        "identities": count,
        "same_identity_cos": float(same.mean()),
        "different_identity_cos": float(different.mean()),
        "tar_at_far_1pct": float(np.mean(same > threshold)),
        "edit_cos": {},
    }
    for name in EDIT_CHECKS:
        k = len(ATTRIBUTES[name])
        edited = replace(view_a, **{name: (view_a[name] + 1) % k})
        report["edit_cos"][name] = float(np.sum(ea * embed(render_items(edited, ids, size)), axis=1).mean())
    return report


@uses_threads
def train_identity_net(
    out_path: str | Path, onnx_path: str | Path, *, steps: int, batch_size: int, lr: float, seed: int = 0,
    size: int = 32, threads: int = 2, arch: dict | None = None, classes: int = 256, scale: float = 16.0,
    margin: float = 0.2, geometry_weight: float = 5.0, eval_count: int = 1000,
) -> dict:
    """Train the identity net with the ArcFace loss, save it and its ONNX export, return a summary.

    The summary also checks the ONNX file: it is read back through ``load_arcface`` (insightface)
    and must give the PyTorch embeddings (largest absolute difference recorded).
    """
    start = time.time()
    torch.manual_seed(seed)
    net = IdentityNet(**{**identity_arch(size), **(arch or {}), "size": size})
    weight = torch.nn.Parameter(torch.randn(classes, net.arch["embedding_dim"]) * 0.01)
    geometry_head = torch.nn.Linear(net.arch["embedding_dim"], len(IDENTITY))
    identities = class_identities(seed, np.arange(classes))
    net.train()

    def loss_fn(step: int) -> torch.Tensor:
        idx = _batch_indices(step, batch_size)
        labels = np.minimum((rng.uniform(seed, IDENTITY_STREAM + "/class", idx, 1)[:, 0] * classes).astype(np.int64),
                            classes - 1)
        params = identity_items(seed, IDENTITY_STREAM, idx, select(identities, labels))
        images = degrade(render_items(params, idx, size), seed, IDENTITY_STREAM, idx)
        embeddings = net(net.prepare(images))
        logits = arcface_logits(embeddings, weight, torch.from_numpy(labels), scale, margin)
        loss = F.cross_entropy(logits, torch.from_numpy(labels))
        if geometry_weight:
            # identity parameters are uniform on [0, 1]: standardise them to unit variance
            target = (torch.from_numpy(np.stack([params[n] for n in IDENTITY], 1)) - 0.5) * math.sqrt(12)
            loss = loss + geometry_weight * F.mse_loss(geometry_head(embeddings), target)
        return loss

    extra = [("class_weight", weight)] + [(f"geometry_head.{n}", p) for n, p in geometry_head.named_parameters()]
    losses = _fit(list(net.named_parameters()) + extra, steps, lr, "identity net", loss_fn)
    train_seconds = time.time() - start
    net.eval()
    report = identity_report(net.embed_images, seed, eval_count, size)
    summary = {
        "steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "threads": threads,
        "classes": classes, "scale": scale, "margin": margin, "geometry_weight": geometry_weight,
        "final_loss": float(np.mean(losses[-20:])), "train_seconds": round(train_seconds, 1), **report,
    }
    export_onnx(net, onnx_path)
    check = tensor_to_uint8(render_items(
        sample_params(seed, f"{IDENTITY_EVAL_STREAM}/onnx", np.arange(16), "uniform"), np.arange(16), size))
    onnx_embeddings = load_arcface(onnx_path, "identity net export", threads=threads).embed(check)
    summary["onnx_max_abs_diff"] = float(np.abs(onnx_embeddings - net.embed_images(check)).max())
    save_identity_net(out_path, net, {"training": summary})
    log.info("identity net: %.0f s, same %.3f / different %.3f cosine, TAR@FAR1%% %.3f, onnx diff %.1e",
             train_seconds, summary["same_identity_cos"], summary["different_identity_cos"],
             summary["tar_at_far_1pct"], summary["onnx_max_abs_diff"])
    return summary
