"""PyTorch's CPU thread count for the length of a block, restored afterwards."""

from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` intra-op threads (None or 0: leave the count as it is)."""
    import torch  # callers that never pass threads (table stages) never pay for torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def uses_threads(fn: Callable) -> Callable:
    """Decorator: run `fn` under torch_threads(its `threads` argument), restoring the count after."""
    signature = inspect.signature(fn)
    if "threads" not in signature.parameters:
        raise TypeError(f"{fn.__name__} has no `threads` argument")

    @functools.wraps(fn)
    def run(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        with torch_threads(bound.arguments["threads"]):
            return fn(*args, **kwargs)

    return run
