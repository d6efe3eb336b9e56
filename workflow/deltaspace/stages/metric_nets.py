"""Mini world: train the metric nets (thin wrappers around deltaspace.training.metric_nets).

Measured settings (config `mini.attribute_net` / `mini.identity_net`): attribute net 800 steps,
batch 64, lr 0.003 (78 s on one thread, 100% held-out accuracy); identity net 1000 steps, batch
64, lr 0.003 (112 s on one thread). `threads` is torch's intra-op thread count: on this 2-core
machine, 2 threads made a step about ten times slower than 1 whenever another job kept one
core busy (small batches of 32 px images synchronise the threads on every operation).
"""

from __future__ import annotations

from pathlib import Path

from ..cli import stage


@stage("train-attribute-net")
def train_attribute_net(*, out: Path, steps: int, batch_size: int, lr: float, seed: int = 0, size: int = 32,
                        threads: int = 1, arch: dict | None = None) -> dict:
    """Train the attribute classifier (edit accuracy, preservation, and the mini world's FID features)."""
    from ..training.metric_nets import train_attribute_net as run

    return run(out, steps=steps, batch_size=batch_size, lr=lr, seed=seed, size=size, threads=threads, arch=arch)


@stage("train-identity-net")
def train_identity_net(*, out: Path, onnx: Path, steps: int, batch_size: int, lr: float, seed: int = 0,
                       size: int = 32, threads: int = 1, arch: dict | None = None) -> dict:
    """Train the identity net (ArcFace margin loss on identity classes) and export it to ONNX for IDS."""
    from ..training.metric_nets import train_identity_net as run

    return run(out, onnx, steps=steps, batch_size=batch_size, lr=lr, seed=seed, size=size, threads=threads,
               arch=arch)
