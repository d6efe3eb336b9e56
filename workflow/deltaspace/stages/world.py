"""Mini world: render a dataset as a folder of PNG files plus its attribute table."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..cli import stage
from ..io.atomic import atomic_path
from ..io.images import write_png

log = logging.getLogger(__name__)

CHUNK = 2000


@stage("render-dataset")
def render_dataset(*, out: Path, name: str, count: int, prior: str, style: str, size: int = 32,
                   seed: int = 0, threads: int = 1) -> dict:
    """Render `count` mini-world faces as out/images/NNNNNN.png and out/attributes.parquet.

    Image i is render(params_from_normal(z_i)) with z_i drawn from (seed, name, i), the same
    function the generator is distilled from, so the generator can represent the dataset.
    """
    from ..world.attributes import params_to_frame, sample_params
    from ..world.renderer import render_uint8

    start = time.time()
    out = Path(out)
    width = max(6, len(str(count - 1)))
    frames = []
    with atomic_path(out) as tmp:  # a killed run leaves no folder that looks done
        images = tmp / "images"
        images.mkdir(parents=True)
        for lo in tqdm(range(0, count, CHUNK), desc=f"render {name}", unit="chunk"):
            idx = np.arange(lo, min(count, lo + CHUNK))
            params = sample_params(seed, name, idx, prior)
            pixels = render_uint8(params, size, style)
            for i, img in zip(idx, pixels):
                write_png(images / f"{i:0{width}d}.png", img)
            frame = params_to_frame(params)
            frame.insert(0, "file", [f"{i:0{width}d}.png" for i in idx])
            frame.insert(0, "index", idx)
            frames.append(frame)
        import pandas as pd

        pd.concat(frames, ignore_index=True).to_parquet(tmp / "attributes.parquet", index=False)
    summary = {"dataset": name, "images": count, "size": size, "seconds": round(time.time() - start, 1)}
    log.info("rendered %s", summary)
    return summary
