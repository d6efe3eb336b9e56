"""Mini world: train the generator, the encoder and CLIP (thin wrappers around deltaspace.training)."""

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
