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

# Alternative wordings per value; the caption picks one at random. The wordings target
# (config `wordings`) holds some words and structures out of this language on purpose
# (tests/test_captions.py keeps them out): do not add them here.
_SYNONYMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "hair_color": (
        ("black hair", "dark black hair", "jet black hair", "raven hair"),
        ("blond hair", "blonde hair", "golden blond hair", "yellow hair"),
        ("red hair", "ginger red hair", "ginger hair", "copper hair"),
        ("brown hair", "dark brown hair", "chestnut hair", "brunette hair"),
        ("gray hair", "grey hair", "silver gray hair", "silver hair"),
    ),
    "hair_length": (("short hair", "cropped short hair"), ("long hair", "hair down to the shoulders")),
    "bangs": (("no bangs", "no fringe"), ("bangs", "a fringe of bangs", "a fringe", "bangs across the forehead")),
    "smile": (("a neutral expression", "a closed mouth", "a serious expression", "a straight face"),
              ("a smile", "smile", "a big smile", "an open smile", "a happy smile", "a cheerful smile")),
    "eyeglasses": (("no eyeglasses", "no glasses"), ("eyeglasses", "glasses", "a pair of glasses", "round glasses")),
    "eye_size": (("normal eyes", "small eyes", "ordinary eyes"), ("big eyes", "large eyes", "huge eyes", "big round eyes")),
    "skin_tone": (("pale skin", "fair skin", "light skin"), ("medium skin", "olive skin"),
                  ("tanned skin", "tan skin", "bronzed skin", "dark skin")),
    "background": (("a white background",), ("a blue background",), ("a green background",), ("a pink background",)),
}

# Hair colour as an adjective of the subject ("a red-haired person"), one per value.
_HAIRED = ("black-haired", "blond-haired", "red-haired", "brown-haired", "gray-haired")

_SUBJECTS = ("a face", "face", "a person", "someone", "a cartoon face", "a woman or man", "a character",
             "a cartoon character", "a man or woman", "a head")
_OPENERS = ("", "", "", "a photo of ", "portrait of ", "an image of ", "a drawing of ", "a rendering of ",
            "an illustration of ", "a headshot of ", "a close-up of ", "a sketch of ")
_PERSONS = ("a person", "someone", "a woman or man", "a character", "a cartoon character", "a man or woman")
# What joins the subject to its features: "with" mostly; "who has" only after a person.
_JOINS = ("with", "with", "with", "having", "showing", "who has")
_BACKDROPS = ("on", "on", "against", "in front of")

#: At most this many attributes and words per caption.
MAX_MENTIONS = 4
MAX_WORDS = 20

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


def _pick(options: tuple[str, ...], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _list(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# Draws per caption: mention order/selection (8), synonym picks (8), subject, opener, form flags (6).
_NUM_DRAWS = 2 * len(ATTRIBUTES) + 8


def _describe(values: dict[str, int], chosen: list[str], u: np.ndarray) -> str:
    """One caption for a face with attribute ``values``, mentioning the ``chosen`` attributes."""
    names = list(ATTRIBUTES)
    k = len(names)
    syn = {name: u[k + j] for j, name in enumerate(names)}
    subject = _pick(_SUBJECTS, u[2 * k])
    opener = _pick(_OPENERS, u[2 * k + 1])
    if subject == "face":  # the bare form of the edit prompts ("face with smile")
        opener = ""
    person = subject in _PERSONS
    flags = u[2 * k + 2 :]
    join = _pick(_JOINS if person else _JOINS[:-1], flags[3])

    withs: list[str] = []  # noun phrases after the join ("with", "having", ...)
    withouts: list[str] = []  # noun phrases after "without" / "but no"
    adjectives: list[str] = []  # "smiling", "red-haired"
    wearing = ""  # "wearing glasses"
    background = ""
    mentioned = set(chosen)
    if "hair_color" in mentioned or "hair_length" in mentioned:
        # One hair phrase: "long blond hair", "short hair", "red hair", or an adjective "red-haired".
        length = ("short", "long")[values["hair_length"]] if "hair_length" in mentioned else ""
        if "hair_color" in mentioned and not length and flags[4] < 0.2:
            adjectives.append(_HAIRED[values["hair_color"]])
        elif "hair_color" in mentioned:
            color = _pick(_SYNONYMS["hair_color"][values["hair_color"]], syn["hair_color"])
            withs.append(f"{length} {color}".strip())
        else:
            withs.append(_pick(_SYNONYMS["hair_length"][values["hair_length"]], syn["hair_length"]))
    for name in chosen:
        if name in ("hair_color", "hair_length"):
            continue
        value = values[name]
        if name == "background":
            background = f"{_pick(_BACKDROPS, flags[5])} " + _pick(_SYNONYMS[name][value], syn[name])
        elif name == "smile" and value == 1 and flags[0] < 0.4:
            adjectives.insert(0, "smiling")
        elif name == "smile" and value == 0 and flags[0] < 0.3:
            adjectives.insert(0, "unsmiling")
        elif name == "eyeglasses" and value == 1 and person and flags[1] < 0.5:
            wearing = "wearing " + _pick(("glasses", "eyeglasses"), syn[name])
        else:
            phrase = _pick(_SYNONYMS[name][value], syn[name])
            if phrase.startswith("no "):
                withouts.append(phrase[3:])
            else:
                withs.append(phrase)

    head = subject
    article, _, noun = subject.partition(" ")
    if adjectives and article == "a" and noun and " " not in noun:
        head = f"a {' '.join(adjectives)} {noun}"
    else:  # no room for an adjective: say it with the join instead
        for adjective in adjectives:
            if adjective.endswith("-haired"):
                withs.insert(0, _SYNONYMS["hair_color"][_HAIRED.index(adjective)][0])
            else:
                withs.append("a smile" if adjective == "smiling" else "a neutral expression")
    parts = [opener + head]
    if wearing:
        parts.append(wearing)
    if withs:
        parts.append(f"{join} " + _list(withs))
    if withouts:
        if withs and join != "with":
            parts.append("but no " + " or ".join(withouts))
        else:
            parts.append(("and " if withs else "") + "without " + " or ".join(withouts))
    if background:
        parts.append(background)
    bare = withs and not (wearing or withouts or background) and head == subject
    if bare and flags[2] < 0.15:
        # Occasionally a bare noun-phrase caption: "long blond hair and big eyes", "red hair, big eyes".
        return _list(withs) if flags[2] < 0.1 else ", ".join(withs)
    return " ".join(" ".join(parts).split())


def caption(params: Params, seed: int, indices) -> list[str]:
    """One caption per face, mentioning a random non-empty subset of its attributes (all true)."""
    n = num_items(params)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.shape[0] != n:
        raise ValueError(f"got {idx.shape[0]} indices for {n} faces")
    u = rng.uniform(seed, "captions", idx, _NUM_DRAWS)
    names = list(ATTRIBUTES)
    k = len(names)
    columns = {name: np.asarray(params[name], dtype=np.int64) for name in names}
    out = []
    for i in range(n):
        row = u[i]
        values = {name: int(columns[name][i]) for name in names}
        # Each attribute is mentioned with probability 0.35, the "no" side of a binary attribute
        # (a negative such as "without glasses") with 0.15; at most MAX_MENTIONS, at least one.
        p = np.array([0.15 if len(ATTRIBUTES[nm]) == 2 and values[nm] == 0 and nm != "hair_length" else 0.35 for nm in names])
        order = np.argsort(row[:k] / p, kind="stable")
        count = int(np.clip((row[:k] < p).sum(), 1, MAX_MENTIONS))
        chosen = [names[j] for j in sorted(order[:count])]
        text = _describe(values, chosen, row)
        while len(text.split()) > MAX_WORDS and len(chosen) > 1:
            chosen = [name for name in chosen if name != names[order[len(chosen) - 1]]]
            text = _describe(values, chosen, row)
        out.append(text)
    return out
