"""Mini world: train its models, thin wrappers around deltaspace.training: the generator, the encoder and
CLIP (the world's models), and the metric nets (attribute and identity nets).

Measured settings of the metric nets (config `mini.attribute_net` / `mini.identity_net`): attribute net 800
steps, batch 64, lr 0.003 (78 s on one thread, 100% held-out accuracy); identity net 1000 steps, batch 64, lr
0.003 (112 s on one thread). `threads` is torch's intra-op thread count: on this 2-core machine, 2 threads
made a metric net's step about ten times slower than 1 whenever another job kept one core busy (small
batches of 32 px images synchronise the threads on every operation).
"""

from __future__ import annotations

from pathlib import Path

from ..cli import stage


@stage("train-generator")
def train_generator(*, out: Path, arch: dict, steps: int, batch_size: int, lr: float, seed: int = 0,
                    prior: str = "ffhq", style: str = "ffhq", threads: int = 1) -> dict:
    """Distil a StyleGAN2 generator from the renderer: G(z) ~ render(params(z))."""
    from ..training.generator import train_generator as run

    return run(out, arch=arch, prior=prior, style=style, steps=steps, batch_size=batch_size, lr=lr,
               seed=seed, threads=threads)


@stage("train-encoder")
def train_encoder(*, out: Path, generator: Path, arch: dict | None = None, steps: int, batch_size: int, lr: float,
                  seed: int = 0, prior: str = "ffhq", style: str = "ffhq", shift: dict | None = None,
                  threads: int = 1) -> dict:
    """Train the e4e-style encoder into the generator's W+ (latent + reconstruction losses)."""
    from ..training.encoder import train_encoder as run

    return run(out, generator_path=generator, arch=arch, prior=prior, style=style, steps=steps,
               batch_size=batch_size, lr=lr, seed=seed, shift=shift, threads=threads)


@stage("train-clip")
def train_clip(*, out: Path, arch: str, steps: int, batch_size: int, lr: float, size: int = 32,
               image_steps: int = 400, seed: int = 0, threads: int = 1) -> dict:
    """Train the mini CLIP contrastively on renders and captions made from their attributes."""
    from ..training.clip import train_clip as run

    return run(out, arch_name=arch, steps=steps, batch_size=batch_size, lr=lr, seed=seed, size=size,
               image_steps=image_steps, threads=threads)


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
