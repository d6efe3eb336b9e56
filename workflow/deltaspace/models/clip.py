"""CLIP through open_clip: the mini world's small CLIP, the real world's open_clip checkpoints.

Mini world: open_clip model configs shipped in ``open_clip_configs/`` ("deltaspace-mini", and
"deltaspace-tiny" for tests) are added to open_clip's registry at import with the public
``open_clip.add_model_config``. The image tower is open_clip's ModifiedResNet (the CLIP RN50
design, narrow and one block per stage) at 32 px: its stem reduces 32 -> 8 and the three strided
stages 8 -> 1, so the attention pool sees a 1x1 map plus its mean token (positional embedding of
2 rows), which open_clip supports as is. A small CNN learns fine attributes (smile, eye size) at
32 px far better than a small ViT. The text tower is a small transformer with open_clip's default
BPE tokenizer (vocabulary shipped in the open_clip package).

Our checkpoint format (kind "clip") stores the full open_clip model config and the image
mean/std beside the weights, so a checkpoint reloads without the registry.

Real world: any open_clip architecture with a local checkpoint file (``load_open_clip``);
nothing is ever downloaded.

Images come in as the generator gives them: float (N, 3, H, W) in [-1, 1], any size.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from ..errors import CheckpointError, ConfigError
from ..io.checkpoints import load_checkpoint, load_state_dict_strict, save_checkpoint

log = logging.getLogger(__name__)


CONFIG_DIR = Path(__file__).with_name("open_clip_configs")
#: Architectures this package adds to open_clip's registry.
MINI_ARCHS: tuple[str, ...] = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))

#: Image statistics of the mini CLIP: mean = std = 0.5 turns [0, 1] pixels back into the
#: generator's [-1, 1], so normalised and un-normalised (official DeltaEdit) features coincide.
MINI_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
MINI_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)

#: The official DeltaEdit / StyleCLIP text templates: CLIP's 80 ImageNet templates without
#: "a photo of many {}." (79 in all).
IMAGENET_TEMPLATES: tuple[str, ...] = tuple(
    t for t in (f("{}") for f in OPENAI_IMAGENET_TEMPLATES) if t != "a photo of many {}."
)

#: Templates for the mini CLIP, in the style of its training captions (world.captions).
#: Prompts are whole noun phrases ("a face with big eyes", "face with smile"); the captions use the
#: openers "", "a photo of ", "portrait of ", "an image of " and no final period.
MINI_TEMPLATES: tuple[str, ...] = ("{}", "a photo of {}", "portrait of {}", "an image of {}")


def register_configs() -> None:
    """Add the mini configs to open_clip's registry (idempotent)."""
    if not all(name in open_clip.list_models() for name in MINI_ARCHS):
        open_clip.add_model_config(CONFIG_DIR)


register_configs()


class LoadedClip(NamedTuple):
    """What the loaders return: unpack as ``model, tokenizer = load_clip(...)``."""

    model: torch.nn.Module
    tokenizer: object


@contextlib.contextmanager
def _quiet_open_clip():
    """open_clip logs 'initialized randomly' warnings on the root logger; silence them here."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def _hf_offline():
    """Forbid Hugging Face downloads (configs with HF text towers or tokenizers) while loading."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def model_config(arch_name: str) -> dict:
    """The open_clip model config of a registered architecture (a deep copy)."""
    cfg = open_clip.get_model_config(arch_name)
    if cfg is None:
        raise ConfigError(
            f"unknown open_clip architecture {arch_name!r}; known: {', '.join(open_clip.list_models())}"
        )
    return cfg


def _tokenizer_for(model_cfg: dict):
    """open_clip's default BPE tokenizer at the config's context length."""
    return open_clip.SimpleTokenizer(context_length=model_cfg["text_cfg"].get("context_length", 77))


def _set_preprocess(model: torch.nn.Module, size: int, mean: Sequence[float], std: Sequence[float]) -> None:
    cfg = dict(open_clip.get_model_preprocess_cfg(model))
    cfg.update(size=int(size), mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std))
    open_clip.set_model_preprocess_cfg(model, cfg)


def image_size(model: torch.nn.Module) -> int:
    """Square input size of the image tower."""
    size = open_clip.get_model_preprocess_cfg(model)["size"]
    if isinstance(size, (tuple, list)):
        if size[0] != size[1]:
            raise ValueError(f"non-square CLIP input size {size} is not supported")
        size = size[0]
    return int(size)


def _build(model_cfg: dict, config_key: str) -> torch.nn.Module:
    """An open_clip CLIP from a config dict, without the registry (plain CLIP configs only)."""
    cfg = copy.deepcopy(model_cfg)
    if cfg.pop("custom_text", False) or "hf_model_name" in cfg.get("text_cfg", {}):
        raise CheckpointError(f"{config_key}: only plain open_clip CLIP configs can be stored in our format")
    with torch.random.fork_rng(devices=[]):  # the weights are overwritten; keep the caller's RNG
        return open_clip.model.CLIP(**cfg)


def create_mini(arch_name: str = "deltaspace-mini", seed: int = 0) -> LoadedClip:
    """A freshly initialised CLIP of a registered architecture (normally one of MINI_ARCHS) with the
    mini world's preprocessing and templates, and its tokenizer; deterministic in `seed`, eval mode."""
    cfg = model_config(arch_name)
    with torch.random.fork_rng(devices=[]), _quiet_open_clip():
        torch.manual_seed(seed)
        model = open_clip.create_model(
            arch_name, pretrained=None, force_preprocess_cfg={"mean": MINI_MEAN, "std": MINI_STD}
        )
    model.deltaspace_templates = MINI_TEMPLATES
    return LoadedClip(model.eval(), _tokenizer_for(cfg))


def save_clip(
    path: str | os.PathLike,
    model: torch.nn.Module,
    arch_name: str,
    model_cfg: dict | None = None,
    extra: dict | None = None,
) -> None:
    """Save in our format: kind "clip", arch = {name, model_cfg, image_size, image_mean, image_std,
    templates}; `model_cfg` defaults to the registered config of `arch_name`."""
    # A model built without open_clip's factory carries no statistics: open_clip's defaults apply.
    pre = {**asdict(open_clip.transform.PreprocessCfg()), **open_clip.get_model_preprocess_cfg(model)}
    arch = {
        "name": arch_name,
        "model_cfg": copy.deepcopy(model_cfg if model_cfg is not None else model_config(arch_name)),
        "image_size": image_size(model),
        "image_mean": [float(v) for v in pre["mean"]],
        "image_std": [float(v) for v in pre["std"]],
        "templates": list(model_templates(model)),
    }
    save_checkpoint(path, "clip", arch, model.state_dict(), extra)


def load_clip(path: str | os.PathLike, config_key: str) -> LoadedClip:
    """Load one of our CLIP checkpoints (eval mode) with its tokenizer; no registry needed."""
    obj = load_checkpoint(path, "clip", config_key)
    arch = obj["arch"]
    model = _build(arch["model_cfg"], config_key)
    load_state_dict_strict(model, obj["state_dict"], config_key, path)
    _set_preprocess(model, arch["image_size"], arch["image_mean"], arch["image_std"])
    model.deltaspace_templates = tuple(arch.get("templates", MINI_TEMPLATES))
    return LoadedClip(model.eval(), _tokenizer_for(arch["model_cfg"]))


def load_open_clip(
    arch_name: str,
    checkpoint_path: str | os.PathLike,
    config_key: str,
    *,
    image_mean: Sequence[float] | None = None,
    image_std: Sequence[float] | None = None,
) -> LoadedClip:
    """Any open_clip architecture with weights from a LOCAL file (state dict, .bin or .safetensors).

    Never downloads: a missing file is a CheckpointError naming `config_key` and the path; the
    path is passed to open_clip as an absolute path, so it cannot be mistaken for a pretrained tag.
    Image mean/std default to open_clip's (OpenAI's) unless given.
    """
    path = Path(checkpoint_path).expanduser().resolve()
    expected = f"an open_clip checkpoint (state dict) for architecture {arch_name}"
    if not path.is_file():
        raise CheckpointError(f"{config_key}: no file at {path} (expected {expected})")
    if arch_name not in open_clip.list_models():
        raise CheckpointError(
            f"{config_key}: unknown open_clip architecture {arch_name!r} for {path}; "
            f"known: {', '.join(open_clip.list_models())}"
        )
    try:
        with _hf_offline(), _quiet_open_clip():
            model = open_clip.create_model(arch_name, pretrained=str(path), pretrained_text=False)
            tokenizer = open_clip.get_tokenizer(arch_name)
    except Exception as exc:  # wrong architecture, corrupt file, pickled code, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"{config_key}: cannot load {path} as {expected}: {type(exc).__name__}: {first[:400]}"
        ) from exc
    if image_mean is not None or image_std is not None:
        pre = open_clip.get_model_preprocess_cfg(model)
        _set_preprocess(model, image_size(model), image_mean or pre["mean"], image_std or pre["std"])
    model.deltaspace_templates = IMAGENET_TEMPLATES
    return LoadedClip(model.eval(), tokenizer)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _area_matrix(src: int, dst: int) -> torch.Tensor:
    """(dst, src) box-filter resampling weights: output pixel i averages input span [i*r, (i+1)*r).

    For 1024 -> 224 this equals official DeltaEdit's nearest upsampling x7 then average pooling
    by 32; for integer factors it is plain average pooling (down) or nearest (up).
    """
    r = src / dst
    lo = torch.arange(dst, dtype=torch.float64) * r
    hi = lo + r
    j = torch.arange(src, dtype=torch.float64)
    overlap = (torch.minimum(hi[:, None], j[None, :] + 1) - torch.maximum(lo[:, None], j[None, :])).clamp(min=0)
    return (overlap / r).to(torch.float32)


def resize_images(images: torch.Tensor, size: int, mode: str = "area") -> torch.Tensor:
    """Resize (N, C, H, W) to (N, C, size, size): "area" (exact box filter) or "bilinear" (antialiased)."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    if mode == "area":
        ah = _area_matrix(h, size).to(images.device, images.dtype)
        aw = ah if w == h else _area_matrix(w, size).to(images.device, images.dtype)
        return ah @ images @ aw.T  # rows, then columns: (size, H) x (H, W) x (W, size)
    if mode == "bilinear":
        return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    raise ValueError(f"unknown resize mode {mode!r}; expected 'area' or 'bilinear'")


def preprocess_images(
    model: torch.nn.Module, images: torch.Tensor, *, normalize: bool = True, resize: str = "area"
) -> torch.Tensor:
    """Generator images in [-1, 1] -> CLIP input.

    normalize=True: map to [0, 1], resize to the model's size, subtract mean / divide by std
    (standard CLIP preprocessing). normalize=False: resize the [-1, 1] image and feed it as is,
    as official DeltaEdit does for its training features.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
    x = resize_images(images.to(torch.float32), image_size(model), resize)
    if normalize:
        pre = open_clip.get_model_preprocess_cfg(model)
        mean = torch.tensor(pre["mean"], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(pre["std"], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = ((x + 1.0) * 0.5 - mean) / std
    return x


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def encode_images(
    model: torch.nn.Module,
    images: torch.Tensor | np.ndarray,
    *,
    normalize: bool = True,
    resize: str = "area",
    batch_size: int | None = None,
) -> torch.Tensor:
    """Unit-norm CLIP image embeddings (N, D) float32 on the CPU, in eval mode without grad.

    `batch_size` defaults to 256 images, fewer for large images (about 256 MB of input per batch).
    Batches go in channels-last layout: the same numbers, about 1.5x faster convolutions on CPU.
    """
    images = torch.as_tensor(images)
    device = _device(model)
    if batch_size is None:
        batch_size = int(min(256, max(1, (64 << 20) // max(1, images[0].numel() if len(images) else 1))))
    out = []
    with _eval_mode(model):
        for lo in range(0, images.shape[0], batch_size):
            x = preprocess_images(model, images[lo : lo + batch_size].to(device), normalize=normalize, resize=resize)
            x = x.contiguous(memory_format=torch.channels_last)
            out.append(F.normalize(model.encode_image(x).float(), dim=-1).cpu())
    if not out:
        return torch.zeros(0, _embed_dim(model))
    return torch.cat(out)


def _embed_dim(model: torch.nn.Module) -> int:
    proj = getattr(model, "text_projection", None)
    if isinstance(proj, torch.Tensor):
        return int(proj.shape[1])
    return int(model.visual.output_dim)


def encode_text(model: torch.nn.Module, tokenizer, texts: Sequence[str], *, batch_size: int = 512) -> torch.Tensor:
    """Unit-norm CLIP text embeddings (N, D) float32 on the CPU."""
    texts = list(texts)
    device = _device(model)
    out = []
    with _eval_mode(model):
        for lo in range(0, len(texts), batch_size):
            tokens = tokenizer(texts[lo : lo + batch_size]).to(device)
            out.append(F.normalize(model.encode_text(tokens).float(), dim=-1).cpu())
    if not out:
        return torch.zeros(0, _embed_dim(model))
    return torch.cat(out)


def warn_if_truncated(tokenizer, texts: Sequence[str]) -> None:
    """Log a warning for texts that fill the text encoder's whole context: the tokenizer cuts them there."""
    tokens = tokenizer(list(texts))
    full = [text for text, row in zip(texts, tokens) if int(row[-1]) != 0]
    if full:
        log.warning("%d text(s) reach the text encoder's context of %d tokens and are truncated there, e.g. %r",
                    len(full), tokens.shape[1], full[0][:120])


def model_templates(model: torch.nn.Module) -> tuple[str, ...]:
    """Prompt templates that go with a model: set by the loaders (mini: MINI_TEMPLATES, matching the
    training captions; real CLIP: the 79 ImageNet templates of official DeltaEdit); ImageNet otherwise."""
    return tuple(getattr(model, "deltaspace_templates", IMAGENET_TEMPLATES))


def text_embeddings(
    model: torch.nn.Module, tokenizer, prompts: Sequence[str], templates: Iterable[str] | None = None
) -> torch.Tensor:
    """(P, D) unit vectors: per prompt, the mean of normalised embeddings over templates, renormalised.

    `templates` defaults to the model's own (see `model_templates`)."""
    templates = list(model_templates(model) if templates is None else templates)
    if not templates:
        raise ValueError("need at least one template")
    prompts = list(prompts)
    texts = [t.format(p) for p in prompts for t in templates]
    warn_if_truncated(tokenizer, texts)
    emb = encode_text(model, tokenizer, texts).view(len(prompts), len(templates), -1)
    return F.normalize(emb.mean(dim=1), dim=-1)


def text_embedding(
    model: torch.nn.Module, tokenizer, prompt: str, templates: Iterable[str] | None = None
) -> torch.Tensor:
    """(D,) unit vector for one prompt (see text_embeddings)."""
    return text_embeddings(model, tokenizer, [prompt], templates)[0]
