"""Captions of mini-world faces (CLIP training text) and the prompts used to probe and edit.

``caption`` describes each face with a random non-empty subset of its attributes in one of several
sentence shapes; random draws come from ``deltaspace.rng`` keyed by (seed, item index), so a
face's caption does not depend on the batch it is captioned in. Every phrase is true of the face.
"""

from __future__ import annotations

import numpy as np

from deltaspace import rng
from deltaspace.world.attributes import ATTRIBUTES, Params, num_items, value_index

#: The ten evaluation prompts: prompt -> (attribute, value index) it asks for.
EDIT_PROMPTS: dict[str, tuple[str, int]] = {
    "face with eyeglasses": ("eyeglasses", 1),
    "face with smile": ("smile", 1),
    "face with bangs": ("bangs", 1),
    "face with red hair": ("hair_color", 2),
    "face with black hair": ("hair_color", 0),
    "face with blond hair": ("hair_color", 1),
    "face with gray hair": ("hair_color", 4),
    "face with big eyes": ("eye_size", 1),
    "face with pale skin": ("skin_tone", 0),
    "face with tanned skin": ("skin_tone", 2),
}

#: The neutral source prompt edits start from.
SOURCE_PROMPT = "face"

# Canonical noun phrases, "with ..." phrases (negatives as "without ..."), one per value.
_PHRASES: dict[str, tuple[str, ...]] = {
    "hair_color": ("black hair", "blond hair", "red hair", "brown hair", "gray hair"),
    "hair_length": ("short hair", "long hair"),
    "bangs": ("no bangs", "bangs"),
    "smile": ("no smile", "smile"),
    "eyeglasses": ("no eyeglasses", "eyeglasses"),
    "eye_size": ("normal eyes", "big eyes"),
    "skin_tone": ("pale skin", "medium skin", "tanned skin"),
    "background": ("a white background", "a blue background", "a green background", "a pink background"),
}

# Alternative wordings per value; the caption picks one at random.
_SYNONYMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "hair_color": (
        ("black hair", "dark black hair"),
        ("blond hair", "blonde hair", "golden blond hair"),
        ("red hair", "ginger red hair"),
        ("brown hair", "dark brown hair"),
        ("gray hair", "grey hair", "silver gray hair"),
    ),
    "hair_length": (("short hair",), ("long hair", "hair down to the shoulders")),
    "bangs": (("no bangs", "no fringe"), ("bangs", "a fringe of bangs")),
    "smile": (("a neutral expression", "a closed mouth"), ("a smile", "a big smile", "an open smile")),
    "eyeglasses": (("no eyeglasses", "no glasses"), ("eyeglasses", "glasses")),
    "eye_size": (("normal eyes", "small eyes"), ("big eyes", "large eyes")),
    "skin_tone": (("pale skin", "fair skin"), ("medium skin",), ("tanned skin", "tan skin")),
    "background": (("a white background",), ("a blue background",), ("a green background",), ("a pink background",)),
}

_SUBJECTS = ("a face", "a person", "someone", "a cartoon face", "a portrait of a person", "a photo of a face")
_OPENERS = ("", "", "a photo of ", "portrait of ", "an image of ")


def value_phrase(attribute: str, value: str | int) -> str:
    """Canonical phrase for one attribute value ("red hair", "eyeglasses", "no eyeglasses", ...)."""
    return _PHRASES[attribute][value_index(attribute, value)]


def zero_shot_prompts(attribute: str) -> list[str]:
    """One prompt per value of ``attribute``, in value order, for zero-shot classification."""
    if attribute not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {attribute!r}; expected one of {list(ATTRIBUTES)}")
    if attribute == "smile":
        return ["a face with a neutral expression", "a smiling face"]
    if attribute in ("bangs", "eyeglasses"):
        noun = _PHRASES[attribute][1]
        return [f"a face without {noun}", f"a face with {noun}"]
    if attribute == "background":
        return [f"a face on {p}" for p in _PHRASES[attribute]]
    return [f"a face with {p}" for p in _PHRASES[attribute]]


def _with_clause(attribute: str, value: int, pick: float) -> str:
    """A "with ..." / "without ..." clause for one attribute value."""
    options = _SYNONYMS[attribute][value]
    phrase = options[min(int(pick * len(options)), len(options) - 1)]
    if phrase.startswith("no "):
        return "without " + phrase[3:]
    if attribute == "background":
        return "on " + phrase
    if attribute == "smile" and value == 0:
        return "with " + phrase
    return "with " + phrase


def _join(clauses: list[str]) -> str:
    """Join "with a", "with b", "on c" into "with a and b on c"."""
    withs = [c[5:] for c in clauses if c.startswith("with ")]
    withouts = [c[8:] for c in clauses if c.startswith("without ")]
    ons = [c for c in clauses if c.startswith("on ")]
    parts = []
    if withs:
        parts.append("with " + (" and ".join(withs) if len(withs) <= 2 else ", ".join(withs[:-1]) + " and " + withs[-1]))
    if withouts:
        parts.append("without " + " or ".join(withouts))
    parts.extend(ons)
    return " ".join(parts)


# Draws per caption: subset mask (8), synonym picks (8), subject, opener, adjective-form flags (2).
_NUM_DRAWS = 2 * len(ATTRIBUTES) + 4


def caption(params: Params, seed: int, indices) -> list[str]:
    """One caption per face, mentioning a random non-empty subset of its attributes."""
    n = num_items(params)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.shape[0] != n:
        raise ValueError(f"got {idx.shape[0]} indices for {n} faces")
    u = rng.uniform(seed, "captions", idx, _NUM_DRAWS)
    names = list(ATTRIBUTES)
    k = len(names)
    out = []
    for i in range(n):
        row = u[i]
        # Mention each attribute with probability 0.35; negatives of binary attributes less often.
        chosen = []
        for j, name in enumerate(names):
            value = int(params[name][i])
            p = 0.35
            if len(ATTRIBUTES[name]) == 2 and value == 0 and name != "hair_length":
                p = 0.15
            if row[j] < p:
                chosen.append(j)
        if not chosen:  # fall back to the attribute with the smallest draw
            chosen = [int(np.argmin(row[:k]))]
        subject = _SUBJECTS[min(int(row[2 * k] * len(_SUBJECTS)), len(_SUBJECTS) - 1)]
        opener = _OPENERS[min(int(row[2 * k + 1] * len(_OPENERS)), len(_OPENERS) - 1)]
        if subject.startswith(("a portrait", "a photo")):
            opener = ""
        adjectives = []
        clauses = []
        for j in chosen:
            name = names[j]
            value = int(params[name][i])
            # Sometimes say "a smiling person" / "a person wearing glasses" instead of "with ...".
            if name == "smile" and value == 1 and row[2 * k + 2] < 0.5:
                adjectives.append("smiling")
                continue
            clauses.append(_with_clause(name, value, row[k + j]))
        head = subject
        if adjectives:
            article_noun = subject.split(" ", 1)
            if article_noun[0] in ("a", "an") and len(article_noun) == 2 and " " not in article_noun[1]:
                head = "a smiling " + article_noun[1]
            else:
                clauses.insert(0, "with a smile")
        text = (opener + head + (" " + _join(clauses) if clauses else "")).strip()
        out.append(" ".join(text.split()))
    return out
