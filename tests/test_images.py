import numpy as np
import pytest

from deltaspace.errors import DataError
from deltaspace.io.images import list_images, load_batch, tensor_to_uint8, uint8_to_tensor, write_png


def test_png_roundtrip_and_resize(tmp_path):
    img = (np.arange(16 * 16 * 3) % 256).astype(np.uint8).reshape(16, 16, 3)
    write_png(tmp_path / "a.png", img)
    (tmp_path / "notes.txt").write_text("not an image")
    assert list_images(tmp_path, "datasets.x.images") == ["a.png"]
    x = load_batch(tmp_path, ["a.png"], 16)
    assert x.shape == (1, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    np.testing.assert_array_equal(tensor_to_uint8(x)[0], img)
    assert load_batch(tmp_path, ["a.png"], 8).shape == (1, 3, 8, 8)


def test_uint8_tensor_conversions_invert():
    arr = np.random.default_rng(0).integers(0, 256, (2, 5, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tensor_to_uint8(uint8_to_tensor(arr)), arr)


def test_corrupt_image_names_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(DataError, match="broken.png"):
        load_batch(tmp_path, ["broken.png"], 8)


def test_missing_or_empty_folder_names_the_key(tmp_path):
    with pytest.raises(DataError, match="datasets.ffhq.images: image folder .*nope does not exist"):
        list_images(tmp_path / "nope", "datasets.ffhq.images")
    with pytest.raises(DataError, match="holds no images"):
        list_images(tmp_path, "datasets.ffhq.images")
