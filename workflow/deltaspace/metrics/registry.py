"""Evaluation metrics by name, the nets they need, and one call that computes a list of them.

``compute_metrics(names, originals, edited, nets, prompt)`` takes the same N images before and
after an edit (uint8 arrays (N, H, W, 3)) and returns ({name: value}, {name: backbone}), the
backbone saying which network measured each metric. A metric that does not apply (the
ground-truth metrics in the real world, or without the prompt's attribute) gives None, never a
stand-in number. Unknown names are a ConfigError listing the known ones.

Each metric computes a *statistic* of the images (metrics/bootstrap.py): a function of image
weights, so that the evaluation gets the value on all N images and on bootstrap resamples of them
from one pass of the networks: ``metric_statistics`` (same arguments) returns
({name: statistic or None}, {name: backbone}). A metric that is a mean over images returns
``per_image_mean(values)`` of its per-image values (N,); FID and KID recompute from the weighted
feature sets.

The nets come from ``load_metric_nets(spec)``, spec being
    {"world": "mini" | "real", "attribute_net": path or None, "identity": ONNX path or None,
     "fid_features": path or None}
mini: attribute_net and fid_features are the workflow's attribute net checkpoint (FID uses its
trunk), identity its identity net's ONNX export; real: fid_features is clean-fid's Inception
TorchScript file (config key metrics.inception), identity the user's ArcFace ONNX file
(metrics.identity), attribute_net unused. A net a requested metric needs but the spec lacks is
a ConfigError naming the config key; a path with no file behind it a CheckpointError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable

import numpy as np

from ..errors import ConfigError, DataError
from ..io.images import uint8_to_tensor
from ..models.attribute_net import AttributeNet, load_attribute_net
from ..models.identity_net import ArcFaceEmbedder, load_arcface
from ..world.attributes import value_index
from .bootstrap import Statistic, per_image_mean, point_value
from .edit_targets import perceptual_distances
from .fid import AttributeNetFeatures, CleanFidInception, frechet_distances, load_inception
from .ground_truth import edit_hits, preserved_fractions
from .ids import cosines
from .kid import kernel_distances
from .psnr import psnr_db

WORLDS = ("mini", "real")
#: Config keys that name each net, per world (for error messages).
CONFIG_KEYS = {
    "mini": {"attribute_net": "mini.attribute_net", "identity": "mini.identity_net", "fid_features": "mini.attribute_net"},
    "real": {"identity": "metrics.identity", "fid_features": "metrics.inception"},
}


@dataclass
class MetricNets:
    world: str
    attribute_net: AttributeNet | None = None
    identity: ArcFaceEmbedder | None = None
    fid_features: AttributeNetFeatures | CleanFidInception | None = None


@dataclass
class MetricContext:
    """One compute_metrics call: the nets, the prompt's ground truth (mini world), and the network
    outputs of its image arrays, each computed once for every metric that reads it.

    `memo` maps (kind, id(array)) to (array, output); holding the array keeps its id from being
    reused. A caller evaluating many edits of the same originals passes the same dict to every
    call: the originals' outputs are then computed once for all of them (see compute_metrics).
    """

    nets: MetricNets
    asks: tuple = ()  # the prompt's ground truth: ((attribute, value), ...) it asks for (directions.text.Prompt)
    memo: dict = field(default_factory=dict, repr=False)
    targets: np.ndarray | None = None  # mini world: the ideal edits (metrics/edit_targets.py), like the images

    def _once(self, kind: str, images: np.ndarray, compute: Callable[[], object]):
        key = (kind, id(images))
        if key not in self.memo:
            self.memo[key] = (images, compute())
        return self.memo[key][1]

    def attribute_outputs(self, images: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(trunk features, predictions) of the attribute net, from one pass."""
        return self._once("attribute_net", images, lambda: self.nets.attribute_net.features_and_predictions(images))

    def predictions(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return self.attribute_outputs(images)[1]

    def fid_features(self, images: np.ndarray) -> np.ndarray:
        extractor = self.nets.fid_features
        if isinstance(extractor, AttributeNetFeatures) and extractor.net is self.nets.attribute_net:
            return self.attribute_outputs(images)[0]  # mini world: the trunk of the same pass
        return self._once("fid_features", images, lambda: extractor.features(images))

    def identity(self, images: np.ndarray) -> np.ndarray:
        return self._once("identity", images, lambda: self.nets.identity.embed(images))

    @property
    def has_ground_truth(self) -> bool:
        return self.nets.world == "mini" and self.nets.attribute_net is not None and bool(self.asks)

    @property
    def asked(self) -> list[str]:
        return [attribute for attribute, _ in self.asks]


@dataclass(frozen=True)
class Metric:
    name: str
    needs: str | None  # the MetricNets field it reads (None: pixels only)
    compute: Callable[[np.ndarray, np.ndarray, MetricContext], Statistic | None]  # see the module docstring
    backbone: Callable[[MetricContext], str]
    ground_truth: bool = False  # mini world: needs the attribute net; real world: not applicable (None)


def _psnr_statistic(a: np.ndarray, b: np.ndarray) -> Statistic:
    return per_image_mean(psnr_db(uint8_to_tensor(a), uint8_to_tensor(b)).double().numpy())


def _psnr(originals, edited, context) -> Statistic:
    return _psnr_statistic(originals, edited)


def _fid(originals, edited, context) -> Statistic:
    return partial(frechet_distances, context.fid_features(edited), context.fid_features(originals))


def _kid(originals, edited, context) -> Statistic:
    return partial(kernel_distances, context.fid_features(edited), context.fid_features(originals))


def _ids(originals, edited, context) -> Statistic:
    return per_image_mean(cosines(context.identity(originals), context.identity(edited)))


def _edit_accuracy(originals, edited, context) -> Statistic | None:
    """The share of edits showing every value the prompt asks for."""
    if not context.has_ground_truth or any(value is None for _, value in context.asks):
        return None
    predictions = context.predictions(edited)
    hits = np.prod([edit_hits(predictions, attribute, value) for attribute, value in context.asks], axis=0)
    return per_image_mean(hits)


def _preservation(originals, edited, context) -> Statistic | None:
    """The share of the attributes the prompt does not ask about that the edit leaves as they were."""
    if not context.has_ground_truth:
        return None
    return per_image_mean(preserved_fractions(context.predictions(originals), context.predictions(edited),
                                              context.asked))


def _ground_truth_backbone(context: MetricContext) -> str:
    return "mini-attribute-net" if context.has_ground_truth else "not applicable (no ground truth)"


def _pooled_psnr_statistic(a: np.ndarray, b: np.ndarray) -> Statistic:
    """PSNR of the mean squared error over the (weighted) images. Unlike the mean of per-image PSNRs,
    images already equal to their target (infinite PSNR, capped at 100 dB) do not swamp the mean."""
    mse = 10.0 ** (-psnr_db(uint8_to_tensor(a), uint8_to_tensor(b)).double().numpy() / 10)
    mean_mse = per_image_mean(mse)
    return lambda weights: -10.0 * np.log10(np.maximum(mean_mse(weights), 1e-10))


def _target_psnr(originals, edited, context) -> Statistic | None:
    return None if context.targets is None else _pooled_psnr_statistic(edited, context.targets)


def _target_distance(originals, edited, context) -> Statistic | None:
    if context.targets is None or not context.has_ground_truth:
        return None
    return per_image_mean(perceptual_distances(context.nets.attribute_net, edited, context.targets))


def _noedit(compute):
    """The no-edit reference of a target metric: the originals scored as if they were the edit."""
    return lambda originals, edited, context: compute(originals, originals, context)


def _target_backbone(backbone: str):
    return lambda c: backbone if c.targets is not None else "not applicable (no ideal render)"


TARGET_DISTANCE_BACKBONE = "mini-attribute-net conv blocks (LPIPS recipe, unit weights)"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("fid", "fid_features", _fid, lambda c: c.nets.fid_features.backbone),
        Metric("kid", "fid_features", _kid, lambda c: c.nets.fid_features.backbone),
        Metric("psnr", None, _psnr, lambda c: "pixels"),
        Metric("ids", "identity", _ids, lambda c: c.nets.identity.backbone),
        Metric("edit_accuracy", None, _edit_accuracy, _ground_truth_backbone, ground_truth=True),
        Metric("preservation", None, _preservation, _ground_truth_backbone, ground_truth=True),
        Metric("target_psnr", None, _target_psnr, _target_backbone("pixels vs ideal render")),
        Metric("target_psnr_noedit", None, _noedit(_target_psnr), _target_backbone("pixels vs ideal render")),
        Metric("target_distance", None, _target_distance, _target_backbone(TARGET_DISTANCE_BACKBONE),
               ground_truth=True),
        Metric("target_distance_noedit", None, _noedit(_target_distance), _target_backbone(TARGET_DISTANCE_BACKBONE),
               ground_truth=True),
    )
}


def _lookup(names: Iterable[str], nets: MetricNets) -> list[Metric]:
    names = list(names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"evaluation.metrics: unknown metric(s) {unknown}; known metrics: {sorted(METRICS)}")
    metrics = [METRICS[n] for n in names]
    for m in metrics:
        needs = m.needs or ("attribute_net" if m.ground_truth and nets.world == "mini" else None)
        if needs and getattr(nets, needs) is None:
            key = CONFIG_KEYS[nets.world][needs]
            raise ConfigError(f"{key}: metric {m.name!r} needs this network, but the metric spec gives none")
    return metrics


def _check_images(originals, edited) -> None:
    for what, images in (("originals", originals), ("edited", edited)):
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise DataError(f"{what}: expected a uint8 array (N, H, W, 3), got "
                            f"{getattr(images, 'dtype', type(images).__name__)} {getattr(images, 'shape', '')}")
    if originals.shape != edited.shape:
        raise DataError(f"originals {originals.shape} and edited {edited.shape} images differ in shape")


def metric_statistics(names: Iterable[str], originals: np.ndarray, edited: np.ndarray, nets: MetricNets,
                      prompt=None, memo: dict | None = None,
                      targets: np.ndarray | None = None) -> tuple[dict[str, Statistic | None], dict[str, str]]:
    """({name: statistic}, {name: backbone}) for the same N images before and after an edit.

    `prompt` (a directions.text.Prompt, or anything with ``attribute`` and ``value``) carries the
    ground truth of the mini world; without it, or in the real world, the ground-truth metrics
    are None. `memo`: a dict shared by calls with the same `originals` array (one per prompt),
    which then go through each network once; what it holds for other arrays (an earlier call's
    edited images) is dropped first, so it does not grow with the number of calls. `targets`: the
    ideal edits of the originals for this prompt (mini world, metrics/edit_targets.ideal_edits);
    without them the target metrics are None.
    """
    metrics = _lookup(names, nets)
    _check_images(originals, edited)
    memo = {} if memo is None else memo
    for key in [key for key, (images, _) in memo.items() if images is not originals]:
        del memo[key]
    context = MetricContext(nets, getattr(prompt, "asks", ()), memo, targets)
    if context.has_ground_truth and any(m.ground_truth for m in metrics):
        for attribute, value in context.asks:
            try:  # a prompt naming an attribute or value the mini world does not have
                value_index(attribute, value if value is not None else 0)
            except ValueError as exc:
                raise ConfigError(f"evaluation.prompts: {exc}") from exc
    statistics = {m.name: m.compute(originals, edited, context) for m in metrics}
    return statistics, {m.name: m.backbone(context) for m in metrics}


def compute_metrics(names: Iterable[str], originals: np.ndarray, edited: np.ndarray, nets: MetricNets,
                    prompt=None, memo: dict | None = None,
                    targets: np.ndarray | None = None) -> tuple[dict[str, float | None], dict[str, str]]:
    """({name: value}, {name: backbone}) for the same N images before and after an edit (arguments:
    metric_statistics), every image counted once."""
    statistics, backbones = metric_statistics(names, originals, edited, nets, prompt, memo, targets)
    return {name: point_value(s, len(originals)) for name, s in statistics.items()}, backbones


def load_metric_nets(spec: dict, threads: int | None = None) -> MetricNets:
    """Load the nets a metric spec names (see the module docstring); entries that are None stay None."""
    world = spec.get("world")
    if world not in WORLDS:
        raise ConfigError(f"world: expected one of {WORLDS}, got {world!r}")
    keys = CONFIG_KEYS[world]
    nets = MetricNets(world)
    if world == "mini":
        if spec.get("attribute_net"):
            nets.attribute_net = load_attribute_net(spec["attribute_net"], keys["attribute_net"])
        if spec.get("fid_features"):
            same = spec["fid_features"] == spec.get("attribute_net")
            net = nets.attribute_net if same else load_attribute_net(spec["fid_features"], keys["fid_features"])
            nets.fid_features = AttributeNetFeatures(net, f"mini-attribute-net trunk ({net.arch['feature_dim']}-d)")
        backbone = "mini-arcface (onnx via insightface)"
    else:
        # no ground truth for photographs: an attribute net is not loaded in the real world
        if spec.get("fid_features"):
            nets.fid_features = load_inception(spec["fid_features"], keys["fid_features"])
        backbone = None
    if spec.get("identity"):
        nets.identity = load_arcface(spec["identity"], keys["identity"], backbone, threads)
    return nets
