"""Each mini-world trainer gives bit-identical weights when run twice with the same seed (2 threads)."""

import pytest
import torch

TINY_GEN = {"size": 32, "style_dim": 64, "n_mlp": 2, "channel_multiplier": 1,
            "channels": {"4": 32, "8": 32, "16": 16, "32": 16}, "lr_mlp": 0.01}


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _assert_same(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    differing = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differing, differing[:5]


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    from deltaspace.training.generator import train_generator

    root = tmp_path_factory.mktemp("gen")
    paths = [root / f"g{i}.pt" for i in range(2)]
    for p in paths:
        train_generator(p, arch=TINY_GEN, steps=6, batch_size=4, lr=2e-3, seed=3, eval_count=8, threads=2,
                        latent_avg_count=100, warmup_steps=2)
    return paths


def test_generator_training_is_deterministic(generators):
    _assert_same(*generators)


def test_encoder_training_is_deterministic(generators, tmp_path):
    from deltaspace.training.encoder import train_encoder

    paths = [tmp_path / f"e{i}.pt" for i in range(2)]
    for p in paths:
        train_encoder(p, generator_path=generators[0], steps=4, batch_size=4, lr=1e-3, seed=3, eval_count=8,
                      threads=2, recon_batch=2)
    _assert_same(*paths)


def test_clip_training_is_deterministic(tmp_path):
    from deltaspace.training.clip import train_clip

    paths = [tmp_path / f"c{i}.pt" for i in range(2)]
    for p in paths:
        train_clip(p, steps=3, image_steps=3, batch_size=8, lr=1e-3, seed=3, eval_count=16, threads=2)
    _assert_same(*paths)
