"""Edit figures: labelled grids of the input, its reconstruction and each prompt's edit."""

import numpy as np
import pytest
import torch
from PIL import Image

from deltaspace.io.images import encode_png, tensor_to_uint8
from deltaspace.io.shards import write_manifest, write_shard
from deltaspace.models.stylegan2 import Generator, save_generator
from deltaspace.io.drawing import GAP, SCALE, labelled_grid
from deltaspace.stages.figures import edit_figures

PROMPTS = [{"target": "face with eyeglasses", "attribute": "eyeglasses", "value": "yes"},
           {"target": "face with tanned skin and long red hair"}]  # wraps over several lines


def _has_ink(region: np.ndarray) -> bool:
    return bool((region.max(-1) < 128).any())


def test_figure_cells_sit_under_their_labels(tmp_path):
    torch.manual_seed(0)
    G = Generator(32, style_dim=8, n_mlp=1, channels={4: 8, 8: 8, 16: 4, 32: 4})
    save_generator(tmp_path / "g.pt", G, torch.zeros(8))
    n, rows = 5, 3
    with torch.no_grad():
        s, s_rgb = G.styles_from_z(torch.randn(n, 8))
        reconstructions = tensor_to_uint8(G.synthesis(s, s_rgb, noise_mode="const"))
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    index = np.arange(80, 80 + n)
    write_shard(tmp_path / "evaluation.parquet", {"index": index, "image": [encode_png(x) for x in originals],
                                                  "s": s.numpy(), "s_rgb": s_rgb.numpy()})
    edits = {}
    for method in ("a", "b"):
        folder = tmp_path / "edits" / method
        edits[method] = {name: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
                         for name in ("face-with-eyeglasses", "face-with-tanned-skin-and-long-red-hair")}
        shards = [write_shard(folder / f"{name}.parquet", {"index": index, "image": [encode_png(x) for x in images]})
                  for name, images in edits[method].items()]
        write_manifest(folder, shards)
    out = {m: tmp_path / "figures" / f"{m}.png" for m in edits}
    summary = edit_figures(evaluation_set=tmp_path / "evaluation.parquet", edits={m: tmp_path / "edits" / m for m in edits},
                           out=out, prompts=PROMPTS, source="face", rows=rows, world="mini", dataset="ds",
                           generator={"format": "deltaspace", "checkpoint": str(tmp_path / "g.pt")})
    assert summary == {"figures": 2, "images": rows, "prompts": 2}

    pitch = 32 * SCALE + GAP
    for method, images in edits.items():
        grid = np.asarray(Image.open(out[method]).convert("RGB"))
        columns = [originals, reconstructions, *images.values()]
        # rows x columns of cells (each followed by a gap) plus the label margins above and left of them
        top, left = grid.shape[0] - rows * pitch, grid.shape[1] - len(columns) * pitch
        assert top > 3 * 11 and left > GAP  # title, a column label wrapped over two lines or more; row labels
        for i in range(rows):
            for j, column in enumerate(columns):
                y, x = top + i * pitch, left + j * pitch
                cell = grid[y:y + 32 * SCALE, x:x + 32 * SCALE]
                np.testing.assert_array_equal(cell, column[i].repeat(SCALE, 0).repeat(SCALE, 1))
            assert _has_ink(grid[top + i * pitch:top + (i + 1) * pitch, :left])  # the image id
        for j in range(len(columns)):
            assert _has_ink(grid[:top, left + j * pitch:left + (j + 1) * pitch])  # the column label


def test_labelled_grid_checks_its_labels():
    cells = np.zeros((2, 3, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="2 x 3 cells"):
        labelled_grid(cells, ["a", "b"], ["1", "2"])


def test_the_fidelity_grid_labels_each_row_and_column():
    from deltaspace.stages.fidelity import fidelity_grid

    rng = np.random.default_rng(0)
    rows = {"renderer (the ideal)": rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8),
            "generator G(z)": rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8)}
    grid = fidelity_grid(rows, "title")
    expected = labelled_grid(np.stack([rows["renderer (the ideal)"][:2], rows["generator G(z)"]]),
                             ["sample 1", "sample 2"], list(rows), "title")
    np.testing.assert_array_equal(grid, expected)  # two columns: the shorter row's images
    unlabelled = labelled_grid(np.stack([rows["renderer (the ideal)"][:2], rows["generator G(z)"]]),
                               ["", ""], ["", ""], "title")
    assert grid.shape[1] > unlabelled.shape[1]  # the row labels take room left of the cells
    h = 8 * SCALE
    top = grid.shape[0] - 2 * (h + GAP)
    assert (grid[top:, : grid.shape[1] - 2 * (8 * SCALE + GAP)] < 128).any()  # ink of the row labels


def test_a_method_evaluated_on_fewer_images_has_fewer_rows(tmp_path):
    torch.manual_seed(0)
    G = Generator(32, style_dim=8, n_mlp=1, channels={4: 8, 8: 8, 16: 4, 32: 4})
    save_generator(tmp_path / "g.pt", G, torch.zeros(8))
    n = 5
    with torch.no_grad():
        s, s_rgb = G.styles_from_z(torch.randn(n, 8))
    rng = np.random.default_rng(0)
    index = np.arange(n)
    write_shard(tmp_path / "evaluation.parquet", {"index": index, "image": [encode_png(x) for x in
                                                  rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)],
                                                  "s": s.numpy(), "s_rgb": s_rgb.numpy()})
    for method, count in (("all", n), ("slow", 2)):  # "slow": methods.<name>.images = 2
        folder = tmp_path / "edits" / method
        shards = [write_shard(folder / f"{name}.parquet", {"index": index[:count], "image": [
            encode_png(x) for x in rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)]})
            for name in ("face-with-eyeglasses", "face-with-tanned-skin-and-long-red-hair")]
        write_manifest(folder, shards)
    out = {m: tmp_path / f"{m}.png" for m in ("all", "slow")}
    edit_figures(evaluation_set=tmp_path / "evaluation.parquet", edits={m: tmp_path / "edits" / m for m in out},
                 out=out, prompts=PROMPTS, source="face", rows=4, world="mini", dataset="ds",
                 generator={"format": "deltaspace", "checkpoint": str(tmp_path / "g.pt")})
    heights = {m: Image.open(path).size[1] for m, path in out.items()}
    assert heights["all"] - heights["slow"] == 2 * (32 * SCALE + GAP)  # 4 rows against 2
