"""Text-guided editing methods behind one interface (methods.base.EditingMethod).

Each method kind is one module declaring `KIND = MethodKind(...)` (see methods.base); the edit
stage builds a method from its config spec with `build_method` and never needs to know its kind.
"""

from .base import ARTEFACTS, EditingMethod, EvalBatch, MethodKind, build_method, method_kind, method_kinds

__all__ = ["ARTEFACTS", "EditingMethod", "EvalBatch", "MethodKind", "build_method", "method_kind", "method_kinds"]
