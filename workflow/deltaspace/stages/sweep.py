"""Edit strength, matched: a method's edits and metrics at several multiples of its strength setting,
and the trade-off figure, table and claim built from the sweeps of every method (tables/tradeoff.py)."""

from __future__ import annotations

import json
import logging
import time
from itertools import cycle
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..cli import stage
from ..io.atomic import write_text_atomic
from ..io.drawing import INK, LINE, PALETTE, TICK, Axes, bitmap_font, draw_axes, marker, padded
from ..io.images import write_png

log = logging.getLogger(__name__)

#: what the trade-off reads (edit accuracy against preservation and IDS), and the distances to the ideal edit
SWEEP_METRICS = ("edit_accuracy", "preservation", "ids", "target_distance", "psnr")


def strength_setting(method: dict) -> str:
    """The setting of a method spec (rules/common.smk method_spec) that scales its edit, as its kind
    declares it; a kind without one is a ConfigError naming sweep.methods."""
    from ..methods import method_kind

    name = method.get("name", "?")
    return method_kind(method["kind"], f"methods.{name}.kind").strength_setting(name)


def scaled_method(method: dict, scale: float) -> dict:
    """The method spec with its strength setting multiplied by `scale`."""
    setting = strength_setting(method)
    return {**method, "settings": {**method["settings"], setting: method["settings"][setting] * scale}}


def _prompt_average(lines: list[dict]) -> dict:
    """Every metric of one scale's prompt lines averaged over the prompts where it applies, with the same
    average per bootstrap resample (the resamples are shared by the prompts) and its 95% interval."""
    import pandas as pd

    from ..tables.spread import interval, prompt_average
    from ..tables.table1 import centred_replicates

    frame = pd.DataFrame({"metrics": [line["metrics"] for line in lines],
                          "replicates": [centred_replicates(line) for line in lines]})
    values, resampled, intervals = {}, {}, {}
    for metric in lines[0]["metrics"]:
        values[metric], replicates = prompt_average(frame, metric)
        if replicates is not None and np.isfinite(replicates).any():
            resampled[metric] = [float(v) if np.isfinite(v) else None for v in replicates]
            intervals[metric] = list(interval(replicates))
    bootstrap = lines[0]["bootstrap"]
    return {"metrics": values, "intervals": intervals,
            "bootstrap": {**bootstrap, "values": resampled} if bootstrap else None}


@stage("strength-sweep")
@torch.no_grad()
def strength_sweep(*, evaluation_set: Path, method: dict, scales: list, images: int, prompts: list, source: str,
                   nets: dict, world: str, dataset: str, out: Path, metrics: list = SWEEP_METRICS,
                   bootstrap: int = 0, seed: int = 0, batch_size: int = 256, threads: int = 1) -> dict:
    """Edit the first `images` evaluation images for every prompt with one method at each of `scales`
    times its strength setting (its kind's MethodKind.strength), and measure the edits as the evaluate
    stage does (stages/evaluate.PromptScorer: the same metrics, ideal edits and bootstrap resamples).

    JSON lines: per scale, one line per prompt ("row": "prompt", the evaluate stage's fields plus
    "scale", "strength_setting" and "strength") and one with the prompt-averaged metrics ("row":
    "average", "prompts", every metric's value, 95% interval and averaged resamples).
    """
    from ..methods import build_method
    from .editing import prompts_from_config
    from .evaluate import edit_and_score, scored_subset

    start = time.time()
    setting = strength_setting(method)  # refuses a kind without one before any work
    specs = {scale: scaled_method(method, scale) for scale in sorted(scales)}
    table, data, scorer = scored_subset(evaluation_set, images, "sweep.images", method, list(metrics), nets, world,
                                        bootstrap, seed)
    prompt_list = prompts_from_config(prompts, source)
    lines = []
    with tqdm(total=len(specs) * len(prompt_list), desc=f"sweep {method.get('name', '')}") as progress:
        for scale, spec in specs.items():
            editor = build_method(spec)
            head = {"world": world, "dataset": dataset, "method": method.get("name"), "kind": method["kind"],
                    "scale": scale, "strength_setting": setting, "strength": spec["settings"][setting]}
            rows = []
            for prompt in prompt_list:
                fields, _ = edit_and_score(editor, data, scorer, prompt, batch_size, f"{method.get('name')} x{scale:g}")
                rows.append({**head, "row": "prompt", **fields})
                progress.update()
            lines += rows + [{**head, "row": "average", "prompt": None, "prompts": [r["prompt"] for r in rows],
                              "images": len(table["index"]), **_prompt_average(rows),
                              "backbones": rows[0]["backbones"], "method_settings": editor.describe()}]
    write_text_atomic(out, "".join(json.dumps(line) + "\n" for line in lines))
    summary = {"method": method.get("name"), "dataset": dataset, "scales": len(specs), "prompts": len(prompt_list),
               "images": len(table["index"]), "seconds": round(time.time() - start, 1),
               "bootstrap_seconds": round(scorer.bootstrap_seconds, 1)}
    log.info("swept %s", summary)
    return summary


# ---- the trade-off figure -------------------------------------------------------------------------

PLOT = 300  # side of a panel's plotting box, pixels
MARGIN = 8
LEFT = 40  # room for the y tick labels
RING = 6  # radius of the ring around the scale-1 point (the configured strength)


def figure_size(methods: int) -> tuple[int, int]:
    """(width, height) of the trade-off figure: two title lines, two panels side by side (each with its
    y label above and its ticks and x label below), then a legend line per method and one for the ring."""
    return (MARGIN + 2 * (LEFT + PLOT + 2 * MARGIN),
            MARGIN + 2 * LINE + MARGIN + LINE + PLOT + TICK + 2 * LINE + MARGIN + (methods + 1) * LINE + MARGIN)


def tradeoff_figure(title: list[str], curves: dict, panels: list[tuple[str, str]]) -> np.ndarray:
    """The picture, uint8 (H, W, 3). `curves`: {method: {"scales", "label", metric: values}} (values in
    scale order, NaN where missing); `panels`: (x metric, x label) of the left and right panel, each
    plotting edit accuracy against it: a line per method through its scales, each point labelled with its
    scale, a ring around the scale-1 point."""
    from PIL import Image, ImageDraw

    font = bitmap_font()
    canvas = Image.new("RGB", figure_size(len(curves)), "white")
    draw = ImageDraw.Draw(canvas)
    for k, text in enumerate(title[:2]):
        draw.text((MARGIN, MARGIN + k * LINE), text, fill=INK, font=font)
    top = MARGIN + 2 * LINE + MARGIN + LINE
    accuracy = [v for c in curves.values() for v in c["edit_accuracy"]]
    for p, (metric, label) in enumerate(panels):
        x0 = MARGIN + p * (LEFT + PLOT + 2 * MARGIN) + LEFT
        axes = Axes((x0, top, x0 + PLOT, top + PLOT), padded([v for c in curves.values() for v in c[metric]]),
                    padded(accuracy))
        draw_axes(draw, axes, label, "edit accuracy", font)
        for colour, curve in zip(cycle(PALETTE), curves.values()):
            points = [(s, axes.pixel(x, y)) for s, x, y in zip(curve["scales"], curve[metric], curve["edit_accuracy"])
                      if np.isfinite(x) and np.isfinite(y)]
            if len(points) > 1:
                draw.line([xy for _, xy in points], fill=colour, width=2)
            for scale, (x, y) in points:
                marker(draw, "disc", x, y, colour)
                if scale == 1:
                    marker(draw, "ring", x, y, colour, RING)
                draw.text((x + 4, y - LINE), f"{scale:g}", fill=colour, font=font)
    y = top + PLOT + TICK + 2 * LINE + MARGIN
    for colour, curve in zip(cycle(PALETTE), curves.values()):
        draw.line((MARGIN, y + LINE // 2, MARGIN + 20, y + LINE // 2), fill=colour, width=2)
        marker(draw, "disc", MARGIN + 10, y + LINE // 2, colour)
        draw.text((MARGIN + 28, y), curve["label"], fill=INK, font=font)
        y += LINE
    marker(draw, "ring", MARGIN + 10, y + LINE // 2, INK, RING)
    draw.text((MARGIN + 28, y), "scale 1: the configured strength; numbers: scale of the strength setting",
              fill=INK, font=font)
    return np.asarray(canvas)


def _figure_curves(curves) -> dict:
    """tradeoff_figure's curves from tables/tradeoff.read_curves's points."""
    from ..tables.tradeoff import ACCURACY, AXES

    out = {}
    for method, rows in curves.groupby("method", sort=False):
        first = rows.iloc[0]
        base = first["strength"] / first["scale"]
        out[method] = {"scales": list(rows["scale"]), "label": f"{method}: {first['strength_setting']} {base:g} x scale",
                       **{m: np.array([v.get(m) for v in rows["metrics"]], dtype=np.float64)
                          for m in (ACCURACY, *AXES)}}
    return out


@stage("tradeoff")
def tradeoff(*, sweeps: list, dataset: str, world: str, figure: Path, table: Path, claims: Path) -> dict:
    """From the strength sweeps of a dataset (one JSON lines file per method): the figure of edit accuracy
    against preservation and against IDS along each method's scales, the table of each method's accuracy
    at equal preservation and at equal IDS, and the claim "DeltaEdit-G is more accurate than the
    straightforward solution at equal preservation (IDS)" judged on the curves (tables/tradeoff.py)."""
    from ..tables.claims import claims_markdown
    from ..tables.tradeoff import ACCURACY, AXES, LEVELS, equal_level_table, read_curves, tradeoff_claims
    from .tables import write_csv

    curves = read_curves([Path(p) for p in sweeps], dataset)
    levels = equal_level_table(curves, world, dataset)
    if levels.empty:
        log.warning("the swept methods' curves share no range of preservation or IDS: the table is empty")
    write_csv(levels, table)
    judged = tradeoff_claims(curves)
    first = curves.iloc[0]
    text = (f"# Edit strength, matched ({world} world, {dataset})\n\n"
            "The paper's claim that DeltaEdit-G is more accurate and more disentangled than the straightforward "
            "solution, judged at equal disentanglement: each method's edit accuracy where its strength-sweep curve "
            f"reaches the same preservation (or IDS), at {LEVELS} levels evenly inside the range both curves span. "
            "The interval is the paired 95% bootstrap interval of the difference (the same resamples of the "
            f"{first['images']} images for both methods; a resample whose curves do not both reach the level is "
            "left out). "
            "*held*: the interval lies above 0; *not held*: below; *within noise*: it contains 0.\n\n")
    if judged.empty:
        text += "DeltaEdit-G (`deltaedit`) or the straightforward solution (`straightforward`) was not swept " \
                "(sweep.methods), or their curves share no range.\n"
    else:
        text += claims_markdown(judged, dataset, "Strength-matched claim")
    write_text_atomic(claims, text)
    backbones = {m: first.get(f"{m}_backbone") for m in (ACCURACY, *AXES)}
    title = [f"Strength sweep on {dataset} ({world} world): {first['images']} images x {len(first['prompts'])} prompts",
             f"accuracy, preservation: {backbones[ACCURACY]}; IDS: {backbones['ids']}"]
    write_png(figure, tradeoff_figure(title, _figure_curves(curves), list(AXES.items())))
    verdicts = judged["verdict"].value_counts().to_dict() if not judged.empty else {}
    summary = {"methods": curves["method"].nunique(), "rows": len(levels), "verdicts": verdicts}
    log.info("trade-off %s", summary)
    return summary
