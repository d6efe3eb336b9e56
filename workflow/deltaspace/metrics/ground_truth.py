"""Ground-truth metrics of the mini world (beyond the paper): did the edit do what was asked, and only that?

Both read the attribute net's predictions (models/attribute_net.py), a classifier trained on
renders, independent of CLIP:

* edit accuracy: fraction of edited images whose predicted value of the prompt's attribute is
  the value the prompt asks for;
* preservation: over every other attribute and every image, the fraction whose prediction on
  the edited image equals the prediction on the original.

The real world has no such ground truth: these metrics return None there (recorded as not
applicable), never a stand-in value.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..world.attributes import value_index


def edit_accuracy_from_predictions(edited: Mapping[str, np.ndarray], attribute: str, value: str | int) -> float:
    """Fraction of images whose predicted `attribute` equals `value` (a value name or class index)."""
    target = value_index(attribute, value)
    return float(np.mean(np.asarray(edited[attribute]) == target))


def preservation_from_predictions(
    original: Mapping[str, np.ndarray], edited: Mapping[str, np.ndarray], attribute: str
) -> float:
    """Fraction of (image, other attribute) pairs whose prediction is the same before and after."""
    others = [name for name in original if name != attribute]
    if not others:
        raise ValueError(f"no attribute other than {attribute!r} to check")
    same = [np.asarray(original[name]) == np.asarray(edited[name]) for name in others]
    return float(np.mean(np.stack(same)))
