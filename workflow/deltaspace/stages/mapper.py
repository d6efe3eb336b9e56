"""Train a Delta Mapper (DeltaEdit-G and its ablations) on pairs streamed from code/CLIP shards."""

from __future__ import annotations

from pathlib import Path

from ..cli import stage


@stage("train-delta-mapper")
def train_delta_mapper(*, collections: list, generator: dict, space: str, condition: str, arch: dict | None = None, steps: int,
                       batch_size: int, lr: float, seed: int, out: Path, threads: int = 1) -> dict:
    """Train a Delta Mapper: collections = [{"codes": folder, "clip": folder, "split": "train" or null}, ...];
    generator = model spec (its layer table gives the levels); space "s" or "wplus";
    condition "delta" (DeltaEdit) or "raw" (straightforward); arch: n_layers, lr_mul, pixel_norm
    (default: the official mapper's 4, 0.01, true)."""
    from ..models.delta_mapper import levels_for_space
    from ..models.loading import load_generator_spec
    from ..training.delta_mapper import train_delta_mapper as run

    G, _ = load_generator_spec(generator)
    levels = levels_for_space(G, space)
    del G
    return run(out, collections=collections, levels=levels, space=space, condition=condition, arch=arch, steps=steps,
               batch_size=batch_size, lr=lr, seed=seed, threads=threads,
               extra={"generator": {k: str(v) for k, v in generator.items()}})
