"""The interface every compared editing method implements, and how the workflow finds method kinds.

A method gets a batch of evaluation images (their inverted codes, their CLIP image embeddings and
the images themselves) and a prompt (source and target text) and returns the edited images. What
happens in between (a mapper, a global direction, an optimisation per image) is its own business.

A method kind is one module that defines ``KIND = MethodKind(...)``: its config settings (a JSON
Schema fragment, validated with the rest of the config), the workflow artefacts it reads (turned
into input files of its edit job), cross-key checks, and the builder of the method. The built-in
kinds are the modules of this package; a kind of your own is any importable module, named by its
dotted path in the config (`methods.<name>.kind: mylab.my_method`). Rules and stages never branch
on a kind.

A kind that learns something per prompt (StyleMC's direction, StyleCLIP's latent mapper) declares
`train`: the workflow then runs one training job per method and prompt (rule train_prompt_edit, in
parallel, each with its benchmark file) and hands the builder the files as spec["trained"]
{prompt target: path}. Identity losses read the artefact "identity_loss", an identity net of their
own, never the one that measures IDS.

Snakemake reads every configured kind's declaration at each start (twice per Slurm job), so a kind
module imports torch and its models inside the builder, never at module level
(tests/test_methods.py checks this).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable

from ..errors import ConfigError

if TYPE_CHECKING:  # torch is imported by the methods' builders, not here (see the module docstring)
    import torch

    from ..directions.text import Prompt


@dataclass
class EvalBatch:
    """Evaluation images and what the data stages know about them (row-aligned, B rows).

    s (B, s_dim) and s_rgb (B, s_rgb_dim): S code and toRGB styles of the inversion;
    wplus (B, n_latent, style_dim); embedding (B, clip_dim): unit CLIP embedding of the image;
    images (B, 3, H, W) in [-1, 1] at the generator's resolution.
    """

    s: torch.Tensor
    s_rgb: torch.Tensor
    wplus: torch.Tensor
    embedding: torch.Tensor
    images: torch.Tensor

    def __len__(self) -> int:
        return int(self.s.shape[0])


class EditingMethod:
    """A text-guided editing method. Subclasses implement `edit`; callers run it under torch.no_grad()."""

    #: name of the method kind; the configured method name may differ
    kind: str = ""

    def edit(self, batch: EvalBatch, prompt: Prompt) -> torch.Tensor:
        """Edited images (B, 3, H, W) in [-1, 1], row-aligned with `batch`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement edit()")

    def describe(self) -> dict:
        """Settings worth recording beside the results (backbones, thresholds, ...)."""
        return {"kind": self.kind}

    def prompt_info(self, prompt: Prompt) -> dict:
        """What the method did with a prompt, recorded beside its results: e.g. {"channels_kept": k,
        "channels": n} for methods that edit a subset of S channels (k = 0: the edit changes nothing)."""
        return {}


#: Artefacts of the workflow a method can read. "mapper:<name>" is the checkpoint of mappers.<name>.
ARTEFACTS = {
    "relevance": "R_s, the relevance matrix (S_dim x CLIP_dim)",
    "style_stats": "mean and standard deviation of every S channel over the fakes",
    "mapper": "a trained Delta Mapper checkpoint (mapper:<name of a key of mappers>)",
    "identity_loss": "the identity net of identity losses (losses.identity; mini: trained by the workflow), never the IDS net",
    "encoder": "the inversion encoder (models.encoder), as a model spec for models.loading.load_encoder_spec",
    "training_codes": "the inverted codes of the training split of every dataset with train_count > 0 (a list of "
                      "collection manifests: read with io.shards)",
}

#: The artefacts a training run makes: the seeds target (results/table1-seeds.csv) retrains them with each
#: seed. The others are deterministic given the generator (R_s, the S statistics) and are not retrained.
TRAINED_ARTEFACTS = ("mapper",)


@dataclass(frozen=True)
class MethodKind:
    """A method kind's declaration (the `KIND` of its module).

    settings: JSON Schema properties of a method's config entry besides `kind` (give defaults);
        unknown keys are errors. `required` lists the keys without a default that must be given.
    inputs: settings -> {role: artefact or None}; each artefact (see ARTEFACTS) becomes an input
        file of the method's edit job, and its path reaches the builder as spec["inputs"][role].
    check: (method name, settings, whole config) -> None, raising ConfigError; cross-key checks.
    strength: the setting that scales the edit (a strength sweep multiplies it), or None.
    build: spec -> EditingMethod, spec = {"name", "kind", "settings", "inputs", "generator", "clip"}
        (the last two are model specs for models.loading), and "trained" for kinds with `train`.
    train: (spec, prompt, seed) -> (state: {name: tensor}, summary: dict), for kinds that learn per
        prompt; spec as for build, without "trained". The workflow saves the state
        (stages/prompt_training.py); the builder reads it back with `load_prompt_training`.
    space: the latent space the method edits ("S", "W+"), or (settings, whole config) -> it; for Table 5.
    image_conditioned: whether the edit depends on the input image beyond adding one direction per prompt
        (Table 5's "conditioned on input image").
    """

    name: str
    build: Callable[[dict], EditingMethod]
    settings: dict
    required: tuple[str, ...] = ()
    inputs: Callable[[dict], dict] | None = None
    check: Callable[[str, dict, dict], None] | None = None
    strength: str | None = None
    description: str = ""
    train: Callable[[dict, Prompt, int], tuple[dict, dict]] | None = None
    space: str | Callable[[dict, dict], str] = "-"
    image_conditioned: bool | None = None

    def artefacts(self, settings: dict) -> dict[str, str]:
        """{role: artefact} this method reads, without the roles that are off (None)."""
        wanted = self.inputs(settings) if self.inputs else {}
        return {role: ref for role, ref in wanted.items() if ref}

    def trained_artefacts(self, settings: dict) -> dict[str, str]:
        """The artefacts among `artefacts(settings)` that a training run makes (TRAINED_ARTEFACTS)."""
        return {role: ref for role, ref in self.artefacts(settings).items()
                if ref.partition(":")[0] in TRAINED_ARTEFACTS}

    @property
    def trains_per_prompt(self) -> bool:
        return self.train is not None

    def profile(self, settings: dict, config: dict) -> dict:
        """What Table 5 says of a method besides its times: latent space and image conditioning."""
        space = self.space(settings, config) if callable(self.space) else self.space
        conditioned = {True: "yes", False: "no", None: "-"}[self.image_conditioned]
        return {"space": space, "image_conditioned": conditioned}

    def strength_setting(self, method: str, key: str = "sweep.methods") -> str:
        """The setting a strength sweep multiplies; a kind without one is a ConfigError naming `key`."""
        if self.strength is None:
            raise ConfigError(f"{key}: method {method!r} (kind {self.name!r}) has no strength setting to sweep "
                              f"(its kind declares no MethodKind.strength): leave it out of {key}")
        return self.strength

    def settings_schema(self) -> dict:
        return {"type": "object", "additionalProperties": False, "properties": self.settings,
                "required": list(self.required)}


def _kind_of(module) -> MethodKind | None:
    kind = getattr(module, "KIND", None)
    return kind if isinstance(kind, MethodKind) else None


@lru_cache(maxsize=1)
def builtin_kinds() -> dict[str, MethodKind]:
    """The kinds declared by the modules of this package, by name."""
    package = importlib.import_module(__package__)
    kinds: dict[str, MethodKind] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        kind = _kind_of(importlib.import_module(f"{__package__}.{info.name}"))
        if kind is None:
            continue
        if kind.name in kinds:
            raise ValueError(f"method kind {kind.name!r} is declared twice ({info.name})")
        kinds[kind.name] = kind
    return kinds


def method_kind(name: str, key: str = "methods.<name>.kind") -> MethodKind:
    """The declaration of a built-in kind, or of the kind a dotted module path names."""
    kinds = builtin_kinds()
    if name in kinds:
        return kinds[name]
    hint = f"built-in kinds: {', '.join(sorted(kinds))}; or the dotted path of a module defining KIND"
    if "." not in str(name):
        raise ConfigError(f"{key}: unknown method kind {name!r} ({hint})")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(f"{key}: cannot import method module {name!r}: {exc} ({hint})") from exc
    kind = _kind_of(module)
    if kind is None:
        raise ConfigError(f"{key}: module {name!r} defines no KIND = MethodKind(...)")
    return kind


def method_kinds() -> list[str]:
    return sorted(builtin_kinds())


PROMPT_TRAINING = "prompt_training"  # checkpoint kind of what `train` learns for one prompt


def save_prompt_training(path, spec: dict, prompt: Prompt, state: dict, summary: dict) -> None:
    """Save what a kind's `train` learned for `prompt` (atomically), labelled with kind and prompt."""
    from ..io.checkpoints import save_checkpoint

    save_checkpoint(path, PROMPT_TRAINING, {"kind": spec["kind"], "method": spec["name"], "source": prompt.source,
                                            "target": prompt.target, "settings": spec["settings"]},
                    state, summary)


def load_prompt_training(path, spec: dict, target: str) -> dict:
    """The state a kind's `train` saved for the prompt `target`; a file of another kind or prompt is an error."""
    from ..errors import CheckpointError
    from ..io.checkpoints import load_checkpoint

    key = f"methods.{spec['name']} (trained for {target!r})"
    obj = load_checkpoint(path, PROMPT_TRAINING, key)
    arch = obj["arch"]
    if arch.get("kind") != spec["kind"] or arch.get("target") != target:
        raise CheckpointError(f"{key}: {path} was trained by kind {arch.get('kind')!r} for prompt "
                              f"{arch.get('target')!r}, not by {spec['kind']!r} for {target!r}")
    return obj["state_dict"]


def trained_file(spec: dict, target: str) -> str:
    """The file `train` made for prompt `target`; a prompt the workflow did not train for is a clear error."""
    trained = spec.get("trained") or {}
    if target not in trained:
        raise ConfigError(f"methods.{spec['name']}: kind {spec['kind']!r} learns per prompt and was not trained "
                          f"for {target!r} (trained for: {sorted(trained) or 'nothing'}); the workflow trains "
                          "it for the prompts of evaluation.prompts and wordings.prompts")
    return trained[target]


def build_method(spec: dict) -> EditingMethod:
    """Build a method from its spec (see MethodKind.build)."""
    kind = method_kind(spec.get("kind"), f"methods.{spec.get('name', '?')}.kind")
    return kind.build(spec)
