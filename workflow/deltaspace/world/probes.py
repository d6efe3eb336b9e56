"""Probes of a CLIP on the mini world, for the fidelity report and the CLIP trainer.

* ``zero_shot_accuracy``: does the CLIP tell each attribute's values apart from text prompts alone?
* ``delta_alignment``: the DeltaSpace premise. For image pairs that differ in one attribute only,
  is the image difference Δi = i2 - i1 (unit embeddings) aligned with the text difference
  Δt = t(prompt) - t("face") of the prompt that asks for that change, more than with the other
  prompts' Δt? Beside it, the same comparison in the raw space, cos(i2, t(prompt)).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from deltaspace.models.clip import encode_images, text_embedding, text_embeddings
from deltaspace.world.attributes import ATTRIBUTES, Params, num_items, replace, sample_params
from deltaspace.world.captions import EDIT_PROMPTS, SOURCE_PROMPT, zero_shot_prompts
from deltaspace.world.renderer import render


def zero_shot_accuracy(
    model: torch.nn.Module,
    tokenizer,
    images: torch.Tensor,
    params: Params,
    *,
    attributes: Iterable[str] | None = None,
    templates: Sequence[str] | None = None,
    normalize: bool = True,
    balanced: bool = False,
    image_embeddings: torch.Tensor | None = None,
) -> dict[str, float]:
    """Per attribute, the fraction of images whose nearest value prompt is the true value.

    `images` (N, 3, H, W) in [-1, 1] with attribute `params`; prompts from
    ``captions.zero_shot_prompts``, each averaged over `templates` (default: the model's).
    ``balanced=True`` gives the mean per-value recall over the values present instead, so a skewed
    prior (few eyeglasses) cannot flatter a classifier that always says "no".
    Pass ``image_embeddings`` to reuse embeddings already computed for these images.
    """
    n = num_items(params)
    emb = image_embeddings if image_embeddings is not None else encode_images(model, images, normalize=normalize)
    if emb.shape[0] != n:
        raise ValueError(f"{emb.shape[0]} images for {n} parameter rows")
    out: dict[str, float] = {}
    for attribute in attributes or ATTRIBUTES:
        text = text_embeddings(model, tokenizer, zero_shot_prompts(attribute), templates)
        pred = (emb @ text.T).argmax(dim=1).numpy()
        truth = np.asarray(params[attribute], dtype=np.int64)
        if balanced:
            recalls = [float(np.mean(pred[truth == v] == v)) for v in np.unique(truth)]
            out[attribute] = float(np.mean(recalls))
        else:
            out[attribute] = float(np.mean(pred == truth))
    return out


def edit_pairs(seed: int, n_pairs: int, attribute: str, value: int, prior: str = "ffhq") -> tuple[Params, Params]:
    """(base, edited) faces that differ in `attribute` only: edited has `value`, base another value.

    Bases come from the prior; a base that already has `value` is moved to the next value, so every
    pair shows a change.
    """
    base = sample_params(seed, "probe-delta", np.arange(n_pairs), prior)
    k = len(ATTRIBUTES[attribute])
    current = np.asarray(base[attribute], dtype=np.int64)
    base = replace(base, **{attribute: np.where(current == value, (value + 1) % k, current)})
    return base, replace(base, **{attribute: value})


def alignment_scores(
    delta_i: Mapping[str, torch.Tensor],
    image_after: Mapping[str, torch.Tensor],
    delta_t: Mapping[str, torch.Tensor],
    text_target: Mapping[str, torch.Tensor],
) -> dict:
    """Score matching against mismatched prompts (all dicts keyed by prompt).

    delta_i[p]: (P, D) per-pair image differences for the edit that prompt p asks for;
    image_after[p]: (P, D) unit embeddings of the edited images; delta_t[p], text_target[p]: (D,).
    For each prompt: mean per-pair cosine with its own Δt ("delta_match") and with the other prompts'
    Δt ("delta_mismatch"), the fraction of pairs whose best Δt is its own ("delta_top1"), and the
    same for cos(i2, t(prompt)) ("raw_*").
    """
    prompts = list(delta_t)
    dt = F.normalize(torch.stack([delta_t[p] for p in prompts]), dim=-1)
    tt = F.normalize(torch.stack([text_target[p] for p in prompts]), dim=-1)
    per_prompt = {}
    for a, p in enumerate(prompts):
        rows = {}
        for name, vectors, table in (("delta", F.normalize(delta_i[p], dim=-1), dt), ("raw", image_after[p], tt)):
            cos = vectors @ table.T  # (P, prompts)
            others = [b for b in range(len(prompts)) if b != a]
            rows[f"{name}_match"] = float(cos[:, a].mean())
            rows[f"{name}_mismatch"] = float(cos[:, others].mean()) if others else float("nan")
            rows[f"{name}_top1"] = float((cos.argmax(dim=1) == a).float().mean())
        per_prompt[p] = rows
    keys = next(iter(per_prompt.values())).keys() if per_prompt else []
    mean = {k: float(np.mean([r[k] for r in per_prompt.values()])) for k in keys}
    return {"prompts": per_prompt, "mean": mean}


def delta_alignment(
    model: torch.nn.Module,
    tokenizer,
    seed: int,
    n_pairs: int,
    size: int = 32,
    style: str = "ffhq",
    *,
    prompts: Mapping[str, tuple[str, int]] | None = None,
    source_prompt: str = SOURCE_PROMPT,
    templates: Sequence[str] | None = None,
    normalize: bool = True,
) -> dict:
    """The DeltaSpace check on rendered pairs; a JSON-able dict.

    For each edit prompt (default ``captions.EDIT_PROMPTS``, prompt -> (attribute, value)):
    `n_pairs` renders that differ only in that attribute, Δi = i2 - i1 per pair (unit embeddings),
    Δt = t(prompt) - t(source_prompt). Matching should score clearly above mismatched for Δ, and
    the Δ gap should be wider than the raw-space gap cos(i2, t(prompt)).
    """
    prompts = dict(EDIT_PROMPTS if prompts is None else prompts)
    t_source = text_embedding(model, tokenizer, source_prompt, templates)
    t_all = text_embeddings(model, tokenizer, list(prompts), templates)
    delta_i, after, delta_t, target = {}, {}, {}, {}
    for k, (prompt, (attribute, value)) in enumerate(prompts.items()):
        base, edited = edit_pairs(seed, n_pairs, attribute, value)
        i1 = encode_images(model, render(base, size, style), normalize=normalize)
        i2 = encode_images(model, render(edited, size, style), normalize=normalize)
        delta_i[prompt], after[prompt] = i2 - i1, i2
        delta_t[prompt], target[prompt] = t_all[k] - t_source, t_all[k]
    scores = alignment_scores(delta_i, after, delta_t, target)
    for prompt, (attribute, value) in prompts.items():
        scores["prompts"][prompt].update(attribute=attribute, value=ATTRIBUTES[attribute][value])
    scores.update(style=style, size=int(size), n_pairs=int(n_pairs), seed=int(seed), source_prompt=source_prompt)
    return scores
