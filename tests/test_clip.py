"""CLIP wrapper: registry, create/save/load round trips, real-world open_clip loading, encoders."""

from __future__ import annotations

import copy

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from deltaspace.errors import CheckpointError, ConfigError
from deltaspace.models import clip as C

KEY = "models.clip.checkpoint"


@pytest.fixture(scope="module")
def tiny():
    return C.create_mini("deltaspace-tiny", seed=0)


def _images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def test_registry_holds_the_mini_configs():
    assert {"deltaspace-mini", "deltaspace-tiny"} <= set(open_clip.list_models())
    cfg = open_clip.get_model_config("deltaspace-mini")
    assert cfg["vision_cfg"]["image_size"] == 32
    assert isinstance(cfg["vision_cfg"]["layers"], list)  # a ModifiedResNet image tower
    assert "hf_model_name" not in cfg["text_cfg"]  # open_clip's own BPE tokenizer
    with pytest.raises(ConfigError, match="no-such-arch"):
        C.create_mini("no-such-arch")


def test_create_is_deterministic_in_seed():
    a, _ = C.create_mini("deltaspace-tiny", seed=3)
    b, _ = C.create_mini("deltaspace-tiny", seed=3)
    c, _ = C.create_mini("deltaspace-tiny", seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_mini_model_runs_at_32px(tiny):
    model, tokenizer = tiny
    assert C.image_size(model) == 32
    emb = C.encode_images(model, _images(5, 32))
    assert emb.shape == (5, 64)
    assert torch.allclose(emb.norm(dim=1), torch.ones(5), atol=1e-5)
    txt = C.encode_text(model, tokenizer, ["a face with big eyes", "a smiling face"])
    assert txt.shape == (2, 64)
    assert torch.allclose(txt.norm(dim=1), torch.ones(2), atol=1e-5)


def test_save_load_round_trip_gives_identical_embeddings(tiny, tmp_path):
    model, tokenizer = tiny
    path = tmp_path / "clip.pt"
    C.save_clip(path, model, "deltaspace-tiny", extra={"note": "test"})
    loaded, tok2 = C.load_clip(path, KEY)
    images = _images(4, 32)
    assert torch.equal(C.encode_images(model, images), C.encode_images(loaded, images))
    texts = ["a face with red hair", "someone without glasses"]
    assert torch.equal(C.encode_text(model, tokenizer, texts), C.encode_text(loaded, tok2, texts))
    assert C.model_templates(loaded) == C.MINI_TEMPLATES
    assert open_clip.get_model_preprocess_cfg(loaded)["mean"] == C.MINI_MEAN


def test_load_needs_no_registry(tmp_path):
    # A config that exists nowhere but in the checkpoint.
    cfg = copy.deepcopy(open_clip.get_model_config("deltaspace-tiny"))
    cfg["embed_dim"] = 32
    model = open_clip.model.CLIP(**cfg)
    C.save_clip(tmp_path / "c.pt", model, "unregistered-arch", model_cfg=cfg)
    assert "unregistered-arch" not in open_clip.list_models()
    loaded, _ = C.load_clip(tmp_path / "c.pt", KEY)
    assert C.encode_images(loaded, _images(2, 32)).shape == (2, 32)


def test_load_clip_rejects_other_files(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=KEY):
        C.load_clip(tmp_path / "other.pt", KEY)


def test_load_open_clip_from_a_local_state_dict(tiny, tmp_path):
    model, tokenizer = tiny
    path = tmp_path / "open_clip_model.pt"
    torch.save(model.state_dict(), path)  # the plain open_clip checkpoint format
    loaded, tok2 = C.load_open_clip("deltaspace-tiny", path, KEY, image_mean=C.MINI_MEAN, image_std=C.MINI_STD)
    images = _images(3, 32)
    assert torch.allclose(C.encode_images(model, images), C.encode_images(loaded, images), atol=1e-6)
    texts = ["a face on a blue background"]
    assert torch.allclose(C.encode_text(model, tokenizer, texts), C.encode_text(loaded, tok2, texts), atol=1e-6)
    # Real CLIPs use the official 79 ImageNet templates and open_clip's (OpenAI) image statistics.
    assert C.model_templates(loaded) == C.IMAGENET_TEMPLATES
    default, _ = C.load_open_clip("deltaspace-tiny", path, KEY)
    assert open_clip.get_model_preprocess_cfg(default)["mean"] == open_clip.OPENAI_DATASET_MEAN


def test_load_open_clip_accepts_training_checkpoints(tiny, tmp_path):
    # open_clip's training script saves {"state_dict": ...} with "module." prefixes (DDP).
    model, _ = tiny
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 1, "state_dict": sd}, tmp_path / "epoch_1.pt")
    loaded, _ = C.load_open_clip("deltaspace-tiny", tmp_path / "epoch_1.pt", KEY, image_mean=C.MINI_MEAN, image_std=C.MINI_STD)
    images = _images(2, 32)
    assert torch.allclose(C.encode_images(model, images), C.encode_images(loaded, images), atol=1e-6)


def test_load_open_clip_errors_name_key_and_path(tiny, tmp_path):
    missing = tmp_path / "nope" / "ViT-B-32.pt"
    with pytest.raises(CheckpointError) as err:
        C.load_open_clip("ViT-B-32", missing, KEY)
    assert KEY in str(err.value) and str(missing) in str(err.value)
    # A pretrained *tag* is not a file: never a download.
    with pytest.raises(CheckpointError, match="no file"):
        C.load_open_clip("ViT-B-32", "openai", KEY)
    # Weights of another architecture: one short message, not a wall of keys.
    path = tmp_path / "tiny.pt"
    torch.save(tiny[0].state_dict(), path)
    with pytest.raises(CheckpointError) as err:
        C.load_open_clip("deltaspace-mini", path, KEY)
    assert KEY in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="unknown open_clip architecture"):
        C.load_open_clip("no-such-arch", path, KEY)


def test_encode_images_resizes_and_is_batch_independent(tiny):
    model, _ = tiny
    big = _images(5, 64, seed=1)
    emb = C.encode_images(model, big)
    assert emb.shape == (5, 64)
    # 64 px -> 32 px by the box filter is 2x2 average pooling.
    assert torch.allclose(emb, C.encode_images(model, F.avg_pool2d(big, 2)), atol=1e-5)
    assert torch.allclose(emb, C.encode_images(model, big, batch_size=2), atol=1e-6)
    bilinear = C.encode_images(model, big, resize="bilinear")
    assert torch.allclose(bilinear.norm(dim=1), torch.ones(5), atol=1e-5)
    assert model.training is False


def test_area_resize_matches_official_deltaedit_resampling():
    # Official DeltaEdit: 1024 px -> 224 px by nearest upsampling x7 then average pooling 32.
    # Same ratio at a small size: 64 -> 14 (x7, pool 32).
    x = _images(2, 64, seed=2)
    official = F.avg_pool2d(F.interpolate(x, scale_factor=7, mode="nearest"), 32)
    assert torch.allclose(C.resize_images(x, 14), official, atol=1e-5)


def test_normalize_option(tiny):
    model, _ = tiny
    x = _images(2, 32)
    # Mini CLIP: mean = std = 0.5, so both preprocessings feed the [-1, 1] image unchanged.
    assert torch.allclose(C.preprocess_images(model, x), x, atol=1e-6)
    assert torch.allclose(C.preprocess_images(model, x, normalize=False), x)
    # With CLIP's statistics, normalize=True standardises [0, 1] pixels; False leaves [-1, 1] as is.
    other = copy.deepcopy(model)
    C._set_preprocess(other, 32, open_clip.OPENAI_DATASET_MEAN, open_clip.OPENAI_DATASET_STD)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    assert torch.allclose(C.preprocess_images(other, x), ((x + 1) / 2 - mean) / std, atol=1e-5)
    assert torch.equal(C.preprocess_images(other, x, normalize=False), x)


def test_text_embedding_averages_templates(tiny):
    model, tokenizer = tiny
    templates = ["{}", "a photo of {}"]
    t = C.text_embedding(model, tokenizer, "face with smile", templates)
    each = C.encode_text(model, tokenizer, ["face with smile", "a photo of face with smile"])
    assert torch.allclose(t, F.normalize(each.mean(0), dim=0), atol=1e-6)
    assert t.shape == (64,) and abs(float(t.norm()) - 1) < 1e-5
    both = C.text_embeddings(model, tokenizer, ["face", "face with smile"])
    assert torch.allclose(both[1], C.text_embedding(model, tokenizer, "face with smile"), atol=1e-6)


def test_imagenet_templates_are_the_official_79():
    assert len(C.IMAGENET_TEMPLATES) == 79
    assert "a photo of many {}." not in C.IMAGENET_TEMPLATES
    assert "a bad photo of a {}." in C.IMAGENET_TEMPLATES and all("{}" in t for t in C.IMAGENET_TEMPLATES)


# --- training -------------------------------------------------------------------------------

def test_training_batch_depends_on_item_indices_only():
    from deltaspace.training.clip import training_batch

    images, texts, params = training_batch(0, np.arange(10, 16))
    part_images, part_texts, _ = training_batch(0, np.arange(12, 14))
    assert images.shape == (6, 3, 32, 32) and len(texts) == 6
    assert torch.equal(images[2:4], part_images) and texts[2:4] == part_texts
    assert float(images.min()) >= -1.0 and float(images.max()) <= 1.0
    # Even items in the mini-FFHQ style, odd ones in the mini-CelebA style.
    from deltaspace.world.attributes import select
    from deltaspace.world.renderer import render

    assert torch.equal(images[0:1], render(select(params, [0]), 32, "ffhq"))
    assert torch.equal(images[1:2], render(select(params, [1]), 32, "celeba"))


@pytest.mark.parametrize("lock_image", [True, False])
def test_train_clip_smoke(tmp_path, lock_image):
    from deltaspace.training.clip import train_clip

    path = tmp_path / "clip.pt"
    summary = train_clip(
        path, arch_name="deltaspace-tiny", steps=2, image_steps=2, batch_size=8, lr=1e-3, seed=0, threads=1,
        eval_count=16, lock_image=lock_image,
    )
    assert set(summary["zero_shot"]) == {"mini-ffhq", "mini-celeba"}
    assert 0.0 <= summary["min_accuracy"] <= 1.0 and summary["steps"] == 2
    model, tokenizer = C.load_clip(path, KEY)
    assert C.encode_images(model, _images(2, 32)).shape == (2, 64)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["extra"]["training"]["lock_image"] is lock_image
    # Deterministic given the seed.
    train_clip(
        tmp_path / "again.pt", arch_name="deltaspace-tiny", steps=2, image_steps=2, batch_size=8, lr=1e-3, seed=0,
        threads=1, eval_count=16, lock_image=lock_image,
    )
    again = torch.load(tmp_path / "again.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(v, again[k]) for k, v in ckpt["state_dict"].items())


def test_locked_image_tower_is_unchanged_by_contrastive_stage(tmp_path):
    import deltaspace.training.clip as T

    seen = {}
    real = T.warm_up_image_tower

    def spy(model, *args, **kwargs):
        losses = real(model, *args, **kwargs)
        seen["visual"] = {k: v.clone() for k, v in model.visual.state_dict().items()}
        return losses

    T.warm_up_image_tower = spy
    try:
        T.train_clip(tmp_path / "c.pt", arch_name="deltaspace-tiny", steps=2, image_steps=1, batch_size=8,
                     lr=1e-2, seed=0, threads=1, eval_count=8)
    finally:
        T.warm_up_image_tower = real
    model, _ = C.load_clip(tmp_path / "c.pt", KEY)
    after = model.visual.state_dict()
    assert all(torch.equal(seen["visual"][k], after[k]) for k in after)
