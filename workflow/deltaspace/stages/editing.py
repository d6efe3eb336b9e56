"""Editing stages: the evaluation set, editing it with a method for every prompt, and one-image edits."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..cli import stage
from ..directions.text import Prompt
from ..errors import DataError
from ..io.images import decode_pngs, encode_png, load_batch, tensor_to_uint8, uint8_to_tensor, write_png
from ..io.atomic import atomic_path, write_text_atomic
from ..io.shards import iter_collection, read_manifest, read_shard, write_manifest, write_shard

log = logging.getLogger(__name__)

CODE_COLUMNS = ("s", "s_rgb", "wplus")


def prompts_from_config(prompts: list, source: str) -> list[Prompt]:
    """Prompt objects from the config's prompt entries ({target, attribute?, value?} or {target, asks})."""
    out = [Prompt(target=p["target"], source=source, asks=tuple((p.get("asks") or {}).items()),
                  attribute=p.get("attribute"), value=p.get("value")) for p in prompts]
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise DataError(f"evaluation.prompts: two prompts share a name ({names})")
    return out


@stage("evaluation-set")
def evaluation_set(*, codes: Path, clip_collection: Path, images: Path, images_key: str, count: int, generator: dict,
                   out: Path, attributes: Path | None = None, style: str | None = None) -> dict:
    """Collect the first `count` held-out images of a dataset (split == "eval", in file order).

    One Parquet file: index, file, image (PNG at the generator's resolution), the inversion's
    codes (s, s_rgb, wplus), the CLIP image embedding, and in the mini world (`attributes`, the
    dataset's attributes.parquet, and its render `style`) every factor of each image, as
    attr_<factor> columns (attribute value names, identity and pose floats), and the style: what
    evaluation_params reads back to render the ideal edits.
    """
    from ..models.loading import load_generator_spec

    start = time.time()
    size = load_generator_spec(generator)[0].size
    picked: dict[str, list] = {k: [] for k in ("index", "file", "embedding", *CODE_COLUMNS)}
    need = count
    for part, feats in zip(iter_collection(codes, ["index", "file", "split", *CODE_COLUMNS]),
                           iter_collection(clip_collection, ["index", "clip"])):
        if not np.array_equal(part["index"], feats["index"]):
            raise DataError(f"{codes} and {clip_collection} are not row-aligned (rerun their shards)")
        rows = np.flatnonzero(part["split"] == "eval")[:need]
        for k in ("index", "file", *CODE_COLUMNS):
            picked[k].append(part[k][rows])
        picked["embedding"].append(feats["clip"][rows])
        need -= len(rows)
        if need == 0:
            break
    if need > 0:
        raise DataError(f"{codes}: only {count - need} held-out rows, evaluation asks for {count}")
    columns = {k: np.concatenate(v) for k, v in picked.items()}
    pixels = tensor_to_uint8(load_batch(images, list(columns["file"]), size))
    columns["image"] = [encode_png(img) for img in pixels]
    if attributes:
        import pandas as pd

        from ..world.attributes import params_from_frame, params_to_frame

        if style is None:
            raise DataError(f"{attributes}: the evaluation set of a rendered dataset needs its render style")
        truth = pd.read_parquet(attributes).set_index("file").loc[list(columns["file"])]
        for name, values in params_to_frame(params_from_frame(truth)).items():
            columns[f"attr_{name}"] = values.to_numpy()
        columns["style"] = [style] * count
    write_shard(out, columns, metadata={"stage": "evaluation-set", "source": str(images), "size": str(size)})
    summary = {"images": count, "seconds": round(time.time() - start, 1)}
    log.info("evaluation set %s", summary)
    return summary


def evaluation_params(table: dict) -> tuple[dict, str] | None:
    """(every factor of each image as world.attributes Params, render style) of an evaluation set read by
    read_shard; None for a set without them (the real world's)."""
    if "style" not in table:
        return None
    import pandas as pd

    from ..world.attributes import params_from_frame

    frame = pd.DataFrame({k[5:]: table[k] for k in table if k.startswith("attr_")})
    return params_from_frame(frame), str(table["style"][0])


def first_rows(table: dict, images: int | None) -> dict:
    """The first `images` rows of a table read with read_shard (all of them for None)."""
    return table if images is None else {column: values[:images] for column, values in table.items()}


def _tensor(column: np.ndarray) -> torch.Tensor:
    """A column as a tensor of its own (columns read from Parquet are read-only views on Arrow's buffers)."""
    return torch.from_numpy(np.array(column, copy=True, order="C"))


def evaluation_tensors(table: dict, G, where: str) -> dict:
    """An evaluation set read with read_shard (or its first rows) as tensors: codes, embeddings, the images
    decoded, the index and the attribute columns."""
    return {
        "s": _tensor(table["s"]),
        "s_rgb": _tensor(table["s_rgb"]),
        "wplus": _tensor(table["wplus"]).view(-1, G.n_latent, G.style_dim),
        "embedding": _tensor(table["clip" if "clip" in table else "embedding"]),
        "pixels": decode_pngs(table["image"], f"{where}:image"),
        "index": table["index"],
        "attributes": {k[5:]: table[k] for k in table if k.startswith("attr_")},
    }


def eval_batches(data: dict, batch_size: int):
    from ..methods import EvalBatch

    n = len(data["index"])
    for lo in range(0, n, batch_size):
        sl = slice(lo, min(n, lo + batch_size))
        yield EvalBatch(s=data["s"][sl], s_rgb=data["s_rgb"][sl], wplus=data["wplus"][sl],
                        embedding=data["embedding"][sl], images=uint8_to_tensor(data["pixels"][sl]))


def edit_all(editor, data: dict, prompt: Prompt, batch_size: int) -> np.ndarray:
    """Every image of `data` (evaluation_tensors) edited for one prompt, uint8 (N, H, W, 3)."""
    return np.concatenate([tensor_to_uint8(editor.edit(batch, prompt)) for batch in eval_batches(data, batch_size)])


@stage("edit-images")
@torch.no_grad()
def edit_images(*, evaluation_set: Path, method: dict, prompts: list, source: str, out: Path,
                batch_size: int = 256, images: int | None = None, threads: int = 1) -> dict:
    """Edit every evaluation image (the first `images` only, for a slow method) with one method for every prompt.

    Writes out/<prompt>.parquet (index, image PNG) and out/manifest.json with the seconds per
    prompt; the folder is built under a temporary name and renamed, so it is whole or absent.
    """
    from ..methods import build_method
    from ..models.loading import load_generator_spec

    start = time.time()
    out = Path(out)
    G, _ = load_generator_spec(method["generator"])
    data = evaluation_tensors(first_rows(read_shard(evaluation_set), images), G, str(evaluation_set))
    editor = build_method(method)
    seconds, shards, prompt_info = {}, [], {}
    with atomic_path(out) as tmp:  # the folder is whole (manifest last) or absent
        tmp.mkdir()
        for prompt in tqdm(prompts_from_config(prompts, source), desc=f"edit {method.get('name', '')}"):
            t0 = time.perf_counter()
            pixels = edit_all(editor, data, prompt, batch_size)
            seconds[prompt.name] = round(time.perf_counter() - t0, 3)
            prompt_info[prompt.name] = editor.prompt_info(prompt)
            warn_if_no_channels(method.get("name"), prompt, prompt_info[prompt.name])
            shards.append(write_shard(tmp / f"{prompt.name}.parquet",
                                      {"index": data["index"], "image": [encode_png(x) for x in pixels]},
                                      metadata={"prompt": prompt.target, "source": prompt.source}))
        info = {"method": method.get("name"), "settings": editor.describe(), "images": len(data["index"]),
                "seconds_per_prompt": seconds, "prompt_info": prompt_info}
        write_manifest(tmp, shards, info=info)
    summary = {"method": method.get("name"), "prompts": len(shards), "images": len(data["index"]),
               "seconds": round(time.time() - start, 1)}
    log.info("edited %s", summary)
    return summary


def read_edits(folder: Path, prompt_name: str, index: np.ndarray, prefix: bool = False) -> np.ndarray:
    """Edited images (N, H, W, 3) uint8 of one prompt, checked against the evaluation set's rows `index`.
    prefix=True: the first rows only, as many as both have (an edits folder may cover more rows than
    asked for, or fewer: a method evaluated on the first N images, methods.<name>.images)."""
    read_manifest(folder)  # an unfinished folder has no manifest
    table = read_shard(Path(folder) / f"{prompt_name}.parquet")
    rows, index = np.asarray(table["index"]), np.asarray(index)
    n = min(len(rows), len(index)) if prefix else len(rows)
    if not np.array_equal(rows[:n], index[:n] if prefix else index):
        raise DataError(f"{folder}/{prompt_name}.parquet does not match the evaluation set's rows")
    return decode_pngs(table["image"][:n], f"{folder}/{prompt_name}.parquet:image")


def warn_if_no_channels(method: str | None, prompt: Prompt, info: dict) -> None:
    """Log a warning when a method keeps no channel for a prompt: its edit then changes nothing."""
    if info.get("channels_kept") == 0:
        log.warning("%s keeps 0 of %d S channels for %r: the edit changes nothing (R_s threshold too high "
                    "for this prompt, or the prompt's direction is not in R_s)", method or "the method",
                    info["channels"], prompt.target)


def _absolute_paths(spec: dict) -> dict:
    """A copy of the bundle spec with every file it names (checkpoints, method inputs) made absolute."""
    spec = json.loads(json.dumps(spec))
    method = spec["method"]
    for model in (spec["encoder"], method["generator"], method["clip"]):
        if model.get("checkpoint"):
            model["checkpoint"] = str(Path(model["checkpoint"]).resolve())
    method["inputs"] = {role: str(Path(path).resolve()) for role, path in method["inputs"].items()}
    return spec


@stage("editor-bundle")
def editor_bundle(*, method: dict, encoder: dict, out: Path) -> dict:
    """Write the JSON that `deltaspace edit` reads: a method spec plus the encoder to invert with.

    File paths are made absolute, so the command works from any directory.
    """
    bundle = _absolute_paths({"method": method, "encoder": encoder})
    write_text_atomic(out, json.dumps(bundle, indent=2))
    return {"bundle": str(out), "method": method.get("name")}


def default_bundle(results: Path = Path("results")) -> Path:
    """The editor bundle of the one world run in `results/` (an error names the choices otherwise)."""
    found = sorted(results.glob("*/models/deltaedit.json"))
    if len(found) > 1:
        raise DataError(f"--bundle: several worlds have a bundle ({', '.join(map(str, found))}); name one")
    return found[0] if found else results / "mini" / "models" / "deltaedit.json"


@stage("edit")
@torch.no_grad()
def edit(*, image: Path, target: str, out: Path, source: str = "face",
         bundle: Path | None = None, strength: float | None = None,
         threads: int = 2) -> dict:
    """Edit one image file with a trained DeltaEdit: invert it, predict the edit for the prompt, write a PNG.

    `bundle` is the JSON the workflow writes beside the models (rule editor_bundle,
    results/<world>/models/deltaedit.json; by default the one under results/ if there is exactly one);
    run the workflow first (`snakemake --cores 8 results/table1.csv` or the bundle's path as target).
    """
    from ..io.images import load_image
    from ..methods import EvalBatch, build_method
    from ..models.clip import encode_images, image_size
    from ..models.e4e import encode
    from ..models.loading import load_clip_spec, load_encoder_spec, load_generator_spec

    if not target.strip():
        raise DataError("--target: the prompt is empty")
    image, out, bundle = Path(image), Path(out), Path(bundle) if bundle else default_bundle()
    if not image.is_file():
        raise DataError(f"--image: no file at {image}")
    if out.exists() and out.resolve() == image.resolve():
        raise DataError(f"--out {out} is the input image: choose another path (an input is never overwritten)")
    if not bundle.is_file():
        raise DataError(f"--bundle: no editor bundle at {bundle} (the workflow writes it: "
                        f"snakemake --cores 8 {bundle})")
    spec = json.loads(bundle.read_text())
    method = dict(spec["method"])
    if strength is not None:
        if "strength" not in method["settings"]:
            raise DataError(f"--strength: method {method['name']!r} ({method['kind']}) has no strength setting")
        method["settings"] = {**method["settings"], "strength": strength}
    G, _ = load_generator_spec(method["generator"])
    E = load_encoder_spec(spec["encoder"], method["generator"])
    clip = load_clip_spec(method["clip"])
    # the same inputs the data stages use: the encoder's and CLIP's own resolutions (PIL Lanczos)
    wplus = encode(E, uint8_to_tensor(load_image(image, E.input_size)[None]))
    s, s_rgb = G.styles_from_wplus(wplus)
    clip_input = uint8_to_tensor(load_image(image, image_size(clip.model))[None])
    batch = EvalBatch(s=s, s_rgb=s_rgb, wplus=wplus, images=uint8_to_tensor(load_image(image, G.size)[None]),
                      embedding=encode_images(clip.model, clip_input, normalize=clip.normalize))
    editor, prompt = build_method(method), Prompt(target=target, source=source)
    edited = editor.edit(batch, prompt)
    info = editor.prompt_info(prompt)
    warn_if_no_channels(method.get("name"), prompt, info)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"--out: cannot create the folder of {out}: {exc}") from exc
    write_png(out, tensor_to_uint8(edited)[0])
    summary = {"image": str(image), "target": target, "out": str(out), **info}
    log.info("edited %s", summary)
    return summary


def processor_name() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what the platform module knows."""
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@stage("time-inference")
def time_inference(*, evaluation_set: Path, method: dict, prompts: list, source: str, out: Path, images: int = 8,
                   batch_size: int = 64, repeats: int = 3, threads: int = 1) -> dict:
    """Time one method's edits (Table 5's inference time): after a warm-up edit (models loaded, the prompt's
    text direction computed), the first prompt's edit of `images` images one at a time (median seconds per
    image) and of one batch of `batch_size` images (median of `repeats`, seconds per image)."""
    import os
    import platform

    from ..methods import build_method
    from ..models.loading import load_generator_spec

    G, _ = load_generator_spec(method["generator"])
    table = first_rows(read_shard(evaluation_set), max(images, batch_size))
    data = evaluation_tensors(table, G, str(evaluation_set))
    t0 = time.perf_counter()
    editor = build_method(method)
    load_seconds = time.perf_counter() - t0
    [prompt] = prompts_from_config(prompts[:1], source)
    singles = list(eval_batches(data, 1))[:images]
    batch = next(eval_batches(data, batch_size))

    def timed(b) -> float:
        start = time.perf_counter()
        editor.edit(b, prompt)
        return time.perf_counter() - start

    with torch.no_grad():
        warm_up = timed(singles[0])
        one = [timed(b) for b in singles]
        batched = [timed(batch) / len(batch) for _ in range(repeats)]
    result = {"method": method["name"], "kind": method["kind"], "prompt": prompt.target,
              "load_seconds": round(load_seconds, 3), "warm_up_seconds": round(warm_up, 4),
              "batch1_seconds": float(np.median(one)), "batch1_all": [round(x, 5) for x in one],
              "batched_seconds_per_image": float(np.median(batched)), "batch": len(batch),
              "threads": torch.get_num_threads(), "device": next(G.parameters()).device.type, "machine": platform.machine(),
              "processor": processor_name(), "cpus": os.cpu_count(),
              "torch": torch.__version__}
    write_text_atomic(out, json.dumps(result, indent=1) + "\n")
    log.info("timed %s", result)
    return result
