"""Train the mini world's CLIP: contrastive (InfoNCE) learning on fresh renders and their captions.

Every step renders a new batch: item i of the stream "clip-train" has its attributes drawn from the
uniform prior (every value equally often, so rare values such as eyeglasses are learnt as well as
common ones), is rendered in the mini-FFHQ style if i is even and the mini-CelebA style if i is
odd, and is captioned by ``world.captions.caption``. Data therefore depend on (seed, item index)
only. Loss: open_clip's ClipLoss with the model's learnable logit scale; AdamW with linear warmup
and cosine decay. The result is checked by zero-shot accuracy on held-out renders of both datasets.
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

from deltaspace.models.clip import create_mini, encode_images, save_clip
from deltaspace import rng
from deltaspace.world.attributes import ATTRIBUTES, Params, sample_params, select
from deltaspace.world.captions import caption
from deltaspace.world.probes import zero_shot_accuracy
from deltaspace.world.renderer import render

log = logging.getLogger(__name__)

TRAIN_STREAM = "clip-train"
EVAL_STREAM = "clip-eval"
#: Held-out evaluation sets: (dataset name, attribute prior, render style).
EVAL_SETS: tuple[tuple[str, str, str], ...] = (("mini-ffhq", "ffhq", "ffhq"), ("mini-celeba", "celeba", "celeba"))


def training_params(seed: int, indices: np.ndarray, group_size: int = 2) -> Params:
    """Attributes of training items `indices`, drawn from the uniform prior in groups of variants.

    Item i belongs to group g = i // group_size, which draws one face of the stream (identity,
    pose and all attributes). Member 0 shows that face; every other member changes one attribute,
    picked uniformly, to another value. Every value stays equally likely, and each batch holds
    hard negatives that differ in a single attribute: without them the contrastive loss is solved
    by the coarse attributes (colours) and fine ones (smile, eye size, eyeglasses, bangs) lag far
    behind. group_size=1 gives independent faces.
    """
    indices = np.asarray(indices, dtype=np.int64)
    params = sample_params(seed, TRAIN_STREAM, indices // group_size, "uniform")
    u = rng.uniform(seed, TRAIN_STREAM + "/variant", indices, 2)
    names = list(ATTRIBUTES)
    which = np.minimum((u[:, 0] * len(names)).astype(np.int64), len(names) - 1)
    variant = indices % group_size != 0
    for k, name in enumerate(names):
        rows = variant & (which == k)
        n_values = len(ATTRIBUTES[name])
        shift = 1 + np.minimum((u[:, 1] * (n_values - 1)).astype(np.int64), n_values - 2)
        params[name] = np.where(rows, (params[name] + shift) % n_values, params[name])
    return params


def training_batch(
    seed: int, indices: np.ndarray, size: int = 32, group_size: int = 2
) -> tuple[torch.Tensor, list[str], np.ndarray]:
    """Renders (N, 3, size, size) in [-1, 1], captions, and the (image, text) pairs to leave out.

    Group g is rendered in the mini-FFHQ style if g is even, the mini-CelebA style if g is odd.
    `indices` must hold whole groups. Caption i may be just as true of another member j of its
    group (it does not mention the attribute they differ in): caption i is redrawn for j's
    attributes with item i's random draws, and the same text means the same statement holds.
    Such (j, i) are returned as rows of `exclude` (batch positions): j is no negative for i.
    """
    indices = np.asarray(indices, dtype=np.int64)
    n = len(indices)
    if n % group_size or np.any(indices.reshape(-1, group_size) - indices[::group_size, None] != np.arange(group_size)) \
            or np.any(indices[::group_size] % group_size):
        raise ValueError(f"training batches must hold whole groups of {group_size} items in order")
    params = training_params(seed, indices, group_size)
    images = torch.empty(n, 3, size, size)
    for parity, style in ((0, "ffhq"), (1, "celeba")):
        rows = np.flatnonzero((indices // group_size) % 2 == parity)
        if rows.size:
            images[torch.from_numpy(rows)] = render(select(params, rows), size, style)
    texts = caption(params, seed, indices)
    exclude = []
    pos = np.arange(n)
    for offset in range(1, group_size):
        other = (pos // group_size) * group_size + (pos + offset) % group_size
        redrawn = caption(select(params, other), seed, indices)
        same = np.flatnonzero([a == b for a, b in zip(texts, redrawn)])
        exclude.append(np.stack([other[same], same], axis=1))
    exclude = np.concatenate(exclude) if exclude else np.zeros((0, 2), dtype=np.int64)
    return images, texts, exclude


def clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, exclude: np.ndarray
) -> torch.Tensor:
    """Symmetric InfoNCE (the CLIP loss) over the batch, with the (image, text) pairs in `exclude`
    (images a caption describes just as well) left out of the negatives in both directions."""
    n = image_features.shape[0]
    logits = logit_scale * image_features @ text_features.T  # (images, texts)
    if len(exclude):
        mask = torch.zeros(n, n, dtype=torch.bool)
        mask[torch.from_numpy(exclude[:, 0]), torch.from_numpy(exclude[:, 1])] = True
        logits = logits.masked_fill(mask, float("-inf"))
    labels = torch.arange(n)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to zero at `steps`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _is_text(name: str) -> bool:
    return not name.startswith("visual.") and name != "logit_scale"


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Image / text tower groups; no weight decay on gains, biases, norms and the logit scale."""
    groups = {}
    for name, p in model.named_parameters():
        decay = p.ndim >= 2 and "logit_scale" not in name
        key = ("text" if _is_text(name) else "image", decay)
        groups.setdefault(key, []).append(p)
    return [
        {"params": ps, "weight_decay": weight_decay if decay else 0.0, "tower": tower}
        for (tower, decay), ps in groups.items()
    ]


def evaluate_clip(
    model: torch.nn.Module, tokenizer, seed: int, count: int = 2000, size: int = 32
) -> dict[str, dict[str, dict[str, float]]]:
    """Zero-shot accuracy (plain and class-balanced) per attribute on held-out renders of each dataset."""
    out = {}
    for name, prior, style in EVAL_SETS:
        idx = np.arange(count)
        params = sample_params(seed, f"{EVAL_STREAM}/{name}", idx, prior)
        emb = encode_images(model, render(params, size, style))
        out[name] = {
            "accuracy": zero_shot_accuracy(model, tokenizer, None, params, image_embeddings=emb),
            "balanced_accuracy": zero_shot_accuracy(model, tokenizer, None, params, image_embeddings=emb, balanced=True),
        }
    return out


def _log_progress(model: torch.nn.Module, tokenizer, seed: int, size: int, step: int, loss: float) -> None:
    """A quick zero-shot check (500 held-out renders per dataset) during training."""
    model.eval()
    scores = evaluate_clip(model, tokenizer, seed, 500, size)
    model.train()
    per_attr = {a: min(scores[d]["balanced_accuracy"][a] for d in scores) for a in scores[EVAL_SETS[0][0]]["accuracy"]}
    log.info("step %d loss %.3f balanced zero-shot %s", step, loss, {a: round(v, 2) for a, v in per_attr.items()})


def train_clip(
    out_path: str | Path,
    *,
    arch_name: str = "deltaspace-mini",
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    size: int = 32,
    threads: int = 2,
    weight_decay: float = 0.05,
    warmup: int | None = None,
    eval_count: int = 2000,
    eval_every: int = 0,
    text_lr_scale: float = 1.0,
    text_frozen_steps: int = 0,
    group_size: int = 2,
) -> dict:
    """Train a mini CLIP, save it with ``save_clip`` to `out_path`, return summary metrics."""
    if batch_size % group_size:
        raise ValueError(f"batch_size {batch_size} must be a multiple of group_size {group_size}")
    torch.set_num_threads(threads)
    start = time.time()
    model, tokenizer = create_mini(arch_name, seed)
    model.train()
    opt = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98), eps=1e-6)
    warmup = max(1, steps // 20) if warmup is None else max(1, warmup)
    torch.manual_seed(seed)  # nothing below draws from torch today; keeps any future draw seeded
    losses: list[float] = []
    bar = tqdm(range(steps), desc="train clip", unit="step", mininterval=5.0)
    for step in bar:
        for group in opt.param_groups:
            scale = 1.0 if group["tower"] == "image" else (0.0 if step < text_frozen_steps else text_lr_scale)
            group["lr"] = lr_at(step, steps, lr, warmup) * scale
        indices = np.arange(step * batch_size, (step + 1) * batch_size)
        images, texts, exclude = training_batch(seed, indices, size, group_size)
        image_features, text_features, logit_scale = model(images, tokenizer(texts))
        loss = clip_loss(image_features, text_features, logit_scale, exclude)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():  # CLIP's cap on the temperature: logit scale at most 100
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", scale=f"{float(logit_scale):.1f}")
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            _log_progress(model, tokenizer, seed, size, step + 1, float(np.mean(losses[-50:])))
    train_seconds = time.time() - start
    model.eval()
    zero_shot = evaluate_clip(model, tokenizer, seed, eval_count, size)
    worst = min(v for d in zero_shot.values() for v in d["accuracy"].values())
    worst_balanced = min(v for d in zero_shot.values() for v in d["balanced_accuracy"].values())
    summary = {
        "arch": arch_name,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup": warmup,
        "seed": seed,
        "size": size,
        "threads": threads,
        "final_loss": float(np.mean(losses[-50:])) if losses else float("nan"),
        "logit_scale": float(model.logit_scale.exp()),
        "train_seconds": round(train_seconds, 1),
        "zero_shot": zero_shot,
        "min_accuracy": worst,
        "min_balanced_accuracy": worst_balanced,
    }
    save_clip(out_path, model, arch_name, extra={"training": summary})
    summary["seconds"] = round(time.time() - start, 1)
    log.info(
        "trained CLIP %s: %d steps x %d in %.0f s, loss %.3f, worst zero-shot accuracy %.3f (balanced %.3f)",
        arch_name, steps, batch_size, train_seconds, summary["final_loss"], worst, worst_balanced,
    )
    return summary
