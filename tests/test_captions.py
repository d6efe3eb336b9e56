"""Tests of the mini world's captions, zero-shot prompts and edit prompts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from deltaspace.world import attributes as A
from deltaspace.world import captions as C

N = 3000


@pytest.fixture(scope="module")
def corpus():
    params = A.sample_params(11, "test-captions", range(N), "uniform")
    return params, C.caption(params, 5, np.arange(N))


def claims(text: str) -> dict[str, set[int]]:
    """What a caption says about each attribute: the set of value indices it asserts.

    The caption grammar puts positives before "without ..." / "but no ..." and the background last
    ("on a ... background"), so negatives are the part after "without" or "but no".
    """
    backdrop = r"(?:on|against|in front of) a (\w+) background"
    background = re.search(backdrop, text)
    body = re.sub(backdrop, "", text)
    positive, _, negative = re.sub(r"\bbut no\b", "without", body).partition("without")
    out: dict[str, set[int]] = {name: set() for name in A.ATTRIBUTES}
    hair_words = {0: r"\bblack\b|\braven\b", 1: r"\bblonde?\b|\byellow\b", 2: r"\bred\b|\bginger\b|\bcopper\b",
                  3: r"\bbrown\b|\bchestnut\b|\bbrunette\b", 4: r"\bgr[ae]y\b|\bsilver\b"}
    for value, pattern in hair_words.items():
        if re.search(pattern, body):
            out["hair_color"].add(value)
    if re.search(r"\bshort\b", body):
        out["hair_length"].add(0)
    if re.search(r"\blong\b|down to the shoulders", body):
        out["hair_length"].add(1)
    for name, word in (("bangs", r"\bbangs\b|\bfringe\b"), ("eyeglasses", r"glasses")):
        if re.search(word, positive):
            out[name].add(1)
        if re.search(word, negative):
            out[name].add(0)
    if re.search(r"\bsmil(e|ing)\b", positive) and "unsmiling" not in positive:
        out["smile"].add(1)
    if re.search(r"neutral expression|closed mouth|unsmiling|serious expression|straight face", body):
        out["smile"].add(0)
    if re.search(r"\b(big|large|huge|big round) eyes", body):
        out["eye_size"].add(1)
    if re.search(r"\b(normal|small|ordinary) eyes", body):
        out["eye_size"].add(0)
    for value, pattern in {0: r"pale skin|fair skin|light skin", 1: r"medium skin|olive skin",
                           2: r"tanned skin|tan skin|bronzed skin|dark skin"}.items():
        if re.search(pattern, body):
            out["skin_tone"].add(value)
    if background:
        out["background"].add(A.ATTRIBUTES["background"].index(background.group(1)))
    return out


def test_captions_are_true(corpus):
    params, captions = corpus
    assert len(captions) == N
    for i, text in enumerate(captions):
        said = claims(text)
        assert any(said.values()), f"caption mentions nothing: {text!r}"
        for name, values in said.items():
            assert values <= {int(params[name][i])}, f"{text!r} is wrong about {name}: face has {params[name][i]}"


def test_captions_are_short_lowercase_ascii(corpus):
    _, captions = corpus
    for text in captions:
        assert text == text.lower() and text.isascii() and text == text.strip()
        assert "  " not in text
        assert 1 <= len(text.split()) <= 20, text


def test_captions_vary(corpus):
    params, captions = corpus
    assert len(set(captions)) > 0.6 * N
    mentioned = {name: 0 for name in A.ATTRIBUTES}
    count_per_caption = []
    for text in captions:
        said = claims(text)
        count_per_caption.append(sum(bool(v) for v in said.values()))
        for name, values in said.items():
            mentioned[name] += bool(values)
    for name, count in mentioned.items():
        assert count > 0.15 * N, (name, count)  # every attribute is described often
    assert 1 in count_per_caption and max(count_per_caption) >= 3  # subsets of different sizes
    negatives = sum(" without " in f" {t} " for t in captions)
    assert 0.03 * N < negatives < 0.5 * N
    starts = {" ".join(t.split()[:2]) for t in captions}
    assert len(starts) >= 8  # several sentence shapes
    assert any(t.startswith("a smiling ") for t in captions)
    assert any("wearing" in t for t in captions)


def test_captions_do_not_depend_on_batch():
    params = A.sample_params(2, "batch", range(40), "ffhq")
    all_ = C.caption(params, 3, range(40))
    some = C.caption(A.select(params, [5, 17, 39]), 3, [5, 17, 39])
    assert some == [all_[5], all_[17], all_[39]]
    assert C.caption(params, 3, range(40)) == all_  # deterministic
    assert C.caption(params, 4, range(40)) != all_  # the seed matters
    with pytest.raises(ValueError):
        C.caption(params, 3, range(39))


def test_value_phrases():
    assert C.value_phrase("hair_color", "red") == "red hair"
    assert C.value_phrase("hair_color", 1) == "blond hair"
    assert C.value_phrase("eyeglasses", "yes") == "eyeglasses"
    assert C.value_phrase("eyeglasses", "no") == "no eyeglasses"
    assert C.value_phrase("smile", "yes") == "smile"
    assert C.value_phrase("eye_size", "big") == "big eyes"
    assert C.value_phrase("skin_tone", "pale") == "pale skin"
    assert C.value_phrase("hair_length", "long") == "long hair"
    assert C.value_phrase("bangs", "yes") == "bangs"
    assert C.value_phrase("background", "blue") == "a blue background"
    for name, values in A.ATTRIBUTES.items():
        phrases = [C.value_phrase(name, v) for v in values]
        assert len(set(phrases)) == len(values)
    with pytest.raises(ValueError):
        C.value_phrase("hair_color", "purple")


def test_zero_shot_prompts():
    for name, values in A.ATTRIBUTES.items():
        prompts = C.zero_shot_prompts(name)
        assert len(prompts) == len(values) and len(set(prompts)) == len(values)
        assert all(p == p.lower() and p.isascii() for p in prompts)
    assert C.zero_shot_prompts("eyeglasses") == ["a face without eyeglasses", "a face with eyeglasses"]
    assert C.zero_shot_prompts("hair_color")[2] == "a face with red hair"
    with pytest.raises(ValueError):
        C.zero_shot_prompts("nose")


def test_zero_shot_prompts_are_true_of_their_value():
    for name, values in A.ATTRIBUTES.items():
        for v, prompt in enumerate(C.zero_shot_prompts(name)):
            said = claims(prompt)
            assert said[name] == {v}, (prompt, said)


def test_edit_prompts():
    assert len(C.EDIT_PROMPTS) == 10
    assert C.SOURCE_PROMPT == "face"
    for prompt, (name, value) in C.EDIT_PROMPTS.items():
        assert prompt.startswith("face with ")
        assert 0 <= value < len(A.ATTRIBUTES[name])
        assert claims(prompt)[name] == {value}, prompt
    assert C.EDIT_PROMPTS["face with gray hair"] == ("hair_color", 4)
    assert C.EDIT_PROMPTS["face with tanned skin"] == ("skin_tone", 2)


# What the wordings target (config `wordings`) holds out of the caption language: the structures of its
# paraphrase prompts and the words of its synonym prompts. A new held-out prompt must add its marker here.
HELD_OUT = ("that has", "whose", "this face", "a picture of", "tanned face",
            "spectacles", "grin", "auburn", "platinum", "porcelain", "wide")


def _says(text: str, marker: str) -> bool:
    return re.search(rf"\b{re.escape(marker)}\b", text) is not None


def test_held_out_wordings_never_appear_in_captions(repo_root):
    import yaml
    prompts = yaml.safe_load((repo_root / "config" / "config.yaml").read_text())["wordings"]["prompts"]
    held_out = [p["target"] for p in prompts if p["group"] in ("paraphrase", "synonym")]
    assert len(held_out) >= 10
    for target in held_out:  # every held-out prompt is held out by a marker the captions never use
        assert any(_says(target, marker) for marker in HELD_OUT), target
    # Every phrase the generator can choose from, and a large sample of whole captions.
    tables = [w for per_value in C._SYNONYMS.values() for options in per_value for w in options]
    tables += [*C._HAIRED, *C._SUBJECTS, *C._OPENERS, *C._JOINS, *C._BACKDROPS]
    params = A.sample_params(3, "held-out", range(20000), "uniform")
    sample = C.caption(params, 9, np.arange(20000))
    for text in tables + sample:
        assert not any(_says(text, marker) for marker in HELD_OUT), text
    assert not set(held_out) & set(sample)


def test_captions_say_each_edit_value_in_several_ways(corpus):
    # The mini CLIP learns a language, not the ten edit prompts: each asked value comes in several
    # wordings, the features are joined to the subject in several ways, and captions list several values.
    params, captions = corpus
    for prompt, (name, value) in C.EDIT_PROMPTS.items():
        seen = {w for w in C._SYNONYMS[name][value] if any(w in t for t in captions)}
        assert len(seen) >= 3, (prompt, seen)
    for join in ("with", "having", "showing", "who has", "wearing"):
        assert sum(_says(t, join) for t in captions) > 0.03 * N, join
    assert any("-haired " in t for t in captions) and any(", " in t and " with " not in t for t in captions)
    assert sum(sum(bool(v) for v in claims(t).values()) >= 2 for t in captions) > 0.3 * N  # multi-attribute
