"""Text-guided editing methods behind one interface (methods.base.EditingMethod).

Each method kind registers a builder with `register_method`; the workflow's edit stage builds a
method from its config spec with `build_method` and never needs to know which kind it is.
Importing this package registers the built-in kinds.
"""

from .base import EditingMethod, EvalBatch, build_method, method_kinds, register_method
from . import deltaedit, styleclip_gd  # noqa: F401  (register their kinds)

__all__ = ["EditingMethod", "EvalBatch", "build_method", "method_kinds", "register_method"]
