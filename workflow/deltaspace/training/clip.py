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


def training_params(seed: int, indices: np.ndarray) -> Params:
    """Attributes of training items `indices`: minimal pairs drawn from the uniform prior.

    Items 2g and 2g+1 share face g of the stream (identity, pose and all attributes) except one
    attribute, picked uniformly, to which item 2g+1 gets another value. Every value stays equally
    likely, and each batch holds hard negatives that differ in a single attribute: without them the
    contrastive loss is solved by the coarse attributes (colours) and fine ones (smile, eye size,
    eyeglasses, bangs) stay at chance for far longer than the training budget.
    """
    indices = np.asarray(indices, dtype=np.int64)
    groups = indices // 2
    params = sample_params(seed, TRAIN_STREAM, groups, "uniform")
    u = rng.uniform(seed, TRAIN_STREAM + "/partner", groups, 2)
    names = list(ATTRIBUTES)
    which = np.minimum((u[:, 0] * len(names)).astype(np.int64), len(names) - 1)
    partner = indices % 2 == 1
    for k, name in enumerate(names):
        rows = partner & (which == k)
        n_values = len(ATTRIBUTES[name])
        shift = 1 + np.minimum((u[:, 1] * (n_values - 1)).astype(np.int64), n_values - 2)
        params[name] = np.where(rows, (params[name] + shift) % n_values, params[name])
    return params


def training_batch(seed: int, indices: np.ndarray, size: int = 32) -> tuple[torch.Tensor, list[str], np.ndarray]:
    """Renders (N, 3, size, size) in [-1, 1], captions, and which captions also hold for the partner.

    Pair g is rendered in the mini-FFHQ style if g is even, the mini-CelebA style if g is odd.
    `indices` must hold whole pairs in order (2g, 2g+1, ...). ``shared[i]`` is True when caption i
    is just as true of item i's partner (it does not mention the attribute the two differ in):
    caption i is then redrawn for the partner's attributes with item i's random draws, and the
    same text means the same statement holds. Such a partner is no negative for that caption.
    """
    indices = np.asarray(indices, dtype=np.int64)
    if len(indices) % 2 or np.any(indices[0::2] % 2) or np.any(indices[1::2] != indices[0::2] + 1):
        raise ValueError("training batches must hold whole pairs (2g, 2g+1) in order")
    params = training_params(seed, indices)
    images = torch.empty(len(indices), 3, size, size)
    for parity, style in ((0, "ffhq"), (1, "celeba")):
        rows = np.flatnonzero((indices // 2) % 2 == parity)
        if rows.size:
            images[torch.from_numpy(rows)] = render(select(params, rows), size, style)
    texts = caption(params, seed, indices)
    partner = np.arange(len(indices)) ^ 1
    texts_for_partner = caption(select(params, partner), seed, indices)
    shared = np.array([a == b for a, b in zip(texts, texts_for_partner)])
    return images, texts, shared


def paired_clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor, shared: np.ndarray
) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP loss) over the batch, where a partner image that caption i also
    describes (``shared[i]``) is left out of the negatives in both directions."""
    n = image_features.shape[0]
    logits = logit_scale * image_features @ text_features.T  # (images, texts)
    texts = torch.from_numpy(np.flatnonzero(shared))
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[texts ^ 1, texts] = True  # image partner(i) vs text i
    logits = logits.masked_fill(mask, float("-inf"))
    labels = torch.arange(n)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    """Linear warmup over `warmup` steps, then cosine decay to zero at `steps`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on gains, biases, norms and the logit scale (the usual CLIP recipe)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


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
) -> dict:
    """Train a mini CLIP, save it with ``save_clip`` to `out_path`, return summary metrics."""
    if batch_size % 2:
        raise ValueError(f"batch_size must be even (pairs), got {batch_size}")
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
            group["lr"] = lr_at(step, steps, lr, warmup)
        indices = np.arange(step * batch_size, (step + 1) * batch_size)
        images, texts, shared = training_batch(seed, indices, size)
        image_features, text_features, logit_scale = model(images, tokenizer(texts))
        loss = paired_clip_loss(image_features, text_features, logit_scale, shared)
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
