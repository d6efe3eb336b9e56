"""Probes of a CLIP on the mini world, for the fidelity report and the CLIP trainer.

* ``zero_shot_accuracy``: does the CLIP tell each attribute's values apart from text prompts alone?
* ``delta_alignment``: the DeltaSpace premise. For image pairs that differ in one attribute only,
  is the image difference Δi = i2 - i1 (unit embeddings) aligned with the text difference
  Δt = t(prompt) - t("face") of the prompt that asks for that change, more than with the other
  prompts' Δt? Beside it, the same comparison in the raw space, cos(i2, t(prompt)).
* ``retrieval_scores``, ``paired_alignment``, ``random_pairs``, ``pair_deltas``: the same matching-vs-mismatched
  comparison for one caption per image (and Δ of random image pairs), as the DeltaSpace stage
  (stages/alignment.py) measures it.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .. import rng
from ..models.clip import encode_images, text_embedding, text_embeddings
from ..world.attributes import ATTRIBUTES, Params, num_items, replace, sample_params
from ..world.captions import EDIT_PROMPTS, SOURCE_PROMPT, zero_shot_prompts
from ..world.renderer import render


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


def retrieval_per_query(queries: torch.Tensor, keys: torch.Tensor, targets) -> dict[str, torch.Tensor]:
    """Cosine retrieval, query by query: query q (row of `queries`) should find keys[targets[q]].

    Per query (Q,): "match", its cosine with its own key; "mismatch", its mean cosine with every other
    key (NaN with a single key); "top1", 1 when its most similar key is its own, ties broken at random
    in expectation (a query tied between its own key and k - 1 others, as when two images share a
    caption, scores 1/k; a zero query, tied with all keys, scores chance). Vectors are normalised here,
    so their scale does not matter.
    """
    cos = F.normalize(queries, dim=-1) @ F.normalize(keys, dim=-1).T
    targets = torch.as_tensor(targets, dtype=torch.long)
    own = F.one_hot(targets, cos.shape[1]).bool()
    best = cos.max(dim=1, keepdim=True).values
    others = max(cos.shape[1] - 1, 0)
    mismatch = cos.masked_fill(own, 0).sum(1) / others if others else torch.full((cos.shape[0],), float("nan"))
    return {"match": cos[own], "mismatch": mismatch,
            "top1": (cos[own] >= best[:, 0]).float() / (cos == best).sum(dim=1)}


def retrieval_scores(queries: torch.Tensor, keys: torch.Tensor, targets) -> dict[str, float]:
    """The means over queries of retrieval_per_query: "match", "mismatch", "top1"."""
    return {k: float(v.mean()) for k, v in retrieval_per_query(queries, keys, targets).items()}


def alignment_per_item(images: torch.Tensor, texts: torch.Tensor) -> dict[str, np.ndarray]:
    """paired_alignment's scores item by item (N,), so that their means can be bootstrapped: top-1 hits
    image -> text and text -> image, and the item's matched-minus-mismatched cosine (image as query)."""
    ids = torch.arange(images.shape[0])
    i2t, t2i = retrieval_per_query(images, texts, ids), retrieval_per_query(texts, images, ids)
    return {"image_to_text_top1": i2t["top1"].double().numpy(), "text_to_image_top1": t2i["top1"].double().numpy(),
            "gap": (i2t["match"] - i2t["mismatch"]).double().numpy()}


def paired_alignment(images: torch.Tensor, texts: torch.Tensor) -> dict[str, float]:
    """Alignment of row-paired image and text vectors (N, D) (row k of each describes item k).

    Retrieval top-1 image -> text and text -> image among the N candidates (chance 1/N), mean cosine
    of matching and of mismatched pairs, and their gap.
    """
    ids = torch.arange(images.shape[0])
    i2t, t2i = retrieval_scores(images, texts, ids), retrieval_scores(texts, images, ids)
    return {"image_to_text_top1": i2t["top1"], "text_to_image_top1": t2i["top1"],
            "chance_top1": 1.0 / images.shape[0], "match_cos": i2t["match"], "mismatch_cos": i2t["mismatch"],
            "gap": i2t["match"] - i2t["mismatch"]}


def random_pairs(seed: int, n: int, m: int) -> np.ndarray:
    """(m, 2) int64: m pairs (a, b) of distinct items among n; pair k is a pure function of (seed, k)."""
    if n < 2:
        raise ValueError(f"pairs need at least two items, got {n}")
    u = rng.uniform(seed, "deltaspace-pairs", np.arange(m), 2)
    a = np.floor(u[:, 0] * n).astype(np.int64)
    b = (a + 1 + np.floor(u[:, 1] * (n - 1)).astype(np.int64)) % n
    return np.stack([a, b], axis=1)


def pair_deltas(images: torch.Tensor, texts: torch.Tensor, pairs) -> tuple[torch.Tensor, torch.Tensor]:
    """(Δi, Δt) per pair (a, b) of `pairs` (M, 2): normalize(i_b) - normalize(i_a) and t_b - t_a."""
    a, b = torch.as_tensor(pairs, dtype=torch.long).T
    unit = F.normalize(images, dim=-1)
    return unit[b] - unit[a], texts[b] - texts[a]


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
    dt = torch.stack([delta_t[p] for p in prompts])
    tt = torch.stack([text_target[p] for p in prompts])
    per_prompt = {}
    for a, p in enumerate(prompts):
        rows = {}
        for name, vectors, table in (("delta", delta_i[p], dt), ("raw", image_after[p], tt)):
            scores = retrieval_scores(vectors, table, torch.full((vectors.shape[0],), a))
            rows.update({f"{name}_{k}": v for k, v in scores.items()})
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
