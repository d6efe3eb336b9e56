"""Ground-truth metrics of the mini world (beyond the paper): did the edit do what was asked, and only that?

Both read the attribute net's predictions (models/attribute_net.py), a classifier trained on
renders, independent of CLIP:

* edit accuracy: fraction of edited images whose predicted value of the prompt's attribute is
  the value the prompt asks for;
* preservation: over every other attribute and every image, the fraction whose prediction on
  the edited image equals the prediction on the original.

Both are means over images of per-image values (the functions below), so that the evaluation can
average them over bootstrap resamples of the images.

The real world has no such ground truth: these metrics return None there (recorded as not
applicable), never a stand-in value.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..world.attributes import value_index


def edit_hits(edited: Mapping[str, np.ndarray], attribute: str, value: str | int) -> np.ndarray:
    """Per image (N,): 1 where the predicted `attribute` equals `value` (a value name or class index), else 0."""
    target = value_index(attribute, value)
    return (np.asarray(edited[attribute]) == target).astype(np.float64)


def preserved_fractions(original: Mapping[str, np.ndarray], edited: Mapping[str, np.ndarray],
                        attributes: str | Sequence[str]) -> np.ndarray:
    """Per image (N,): the fraction of the attributes other than `attributes` (the edited ones) predicted the
    same before and after."""
    edited_ones = {attributes} if isinstance(attributes, str) else set(attributes)
    others = [name for name in original if name not in edited_ones]
    if not others:
        raise ValueError(f"no attribute other than {sorted(edited_ones)} to check")
    same = [np.asarray(original[name]) == np.asarray(edited[name]) for name in others]
    return np.mean(np.stack(same), axis=0)
