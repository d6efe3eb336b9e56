"""Bad input gets a clear error (file, line, key or command to run) and loses nothing."""

import logging
import subprocess

import numpy as np
import pytest
from PIL import Image

from deltaspace.cli import main
from deltaspace.config import read_yaml
from deltaspace.errors import ConfigError, DataError
from deltaspace.io.images import decode_png, load_image

from conftest import REPO, TINY_CONFIG, snakemake_command


def test_16_bit_grayscale_png_is_scaled_not_clipped_to_white(tmp_path):
    ramp = (np.arange(16 * 16, dtype=np.uint32).reshape(16, 16) * 257).astype(np.uint16)  # 0 .. 65535
    path = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    image = load_image(path, 16)
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 0], np.arange(256).reshape(16, 16))  # 257 * k -> k
    np.testing.assert_array_equal(decode_png(path.read_bytes()), image)  # PNG bytes in shards: the same


def test_floating_point_image_is_refused_with_its_name(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.ones((4, 4), dtype=np.float32)).save(path)
    with pytest.raises(DataError, match="float.tif: floating-point image"):
        load_image(path, 4)


def _edit(capsys, *args):
    code = main(["edit", "--bundle", "/nonexistent/bundle.json", *args])
    return code, capsys.readouterr().err


def test_edit_never_writes_over_its_input(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((8, 8, 3), 7, dtype=np.uint8)).save(photo)
    before = photo.read_bytes()
    for out in (photo, tmp_path / "." / "photo.png"):
        code, err = _edit(capsys, "--image", str(photo), "--target", "face with smile", "--out", str(out))
        assert code == 2 and "is the input image" in err and "Traceback" not in err
    assert photo.read_bytes() == before


@pytest.mark.parametrize("prompt", ["", "   ", "\t\n"])
def test_edit_refuses_an_empty_prompt(tmp_path, capsys, prompt):
    code, err = _edit(capsys, "--image", str(tmp_path / "x.png"), "--target", prompt, "--out", str(tmp_path / "o.png"))
    assert code == 2 and "--target: the prompt is empty" in err


def test_an_empty_evaluation_prompt_is_a_config_error():
    import yaml

    from deltaspace.config import validate_config

    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["evaluation"]["prompts"][1]["target"] = "  "
    with pytest.raises(ConfigError, match=r"evaluation.prompts\[1\].target: the prompt is empty"):
        validate_config(config)


def test_a_prompt_longer_than_the_text_context_is_truncated_with_a_warning(caplog):
    import open_clip

    from deltaspace.models.clip import warn_if_truncated

    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=8)
    with caplog.at_level(logging.WARNING):
        warn_if_truncated(tokenizer, ["a face with smile"])
    assert "truncated" not in caplog.text
    with caplog.at_level(logging.WARNING):
        warn_if_truncated(tokenizer, ["a face with smile", "a face with " + "very " * 40 + "red hair"])
    assert "1 text(s) reach the text encoder's context of 8 tokens and are truncated" in caplog.text


BROKEN_YAML = "world: mini\ndatasets:\n  a: {count: 3\n  b: 4\n"


def test_yaml_syntax_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN_YAML)
    with pytest.raises(ConfigError, match=r"bad.yaml:4:4: not valid YAML"):
        read_yaml(bad)
    # a --configfile: Snakemake reads it before the workflow runs, so the command to check it names it
    assert main(["check-config", "--configfile", str(bad), "--base", str(REPO / "config" / "config.yaml")]) == 2
    assert "bad.yaml:4:4: not valid YAML" in capsys.readouterr().err
    assert main(["check-config", "--configfile", str(TINY_CONFIG), "--base", str(REPO / "config" / "config.yaml")]) == 0


def test_yaml_syntax_error_in_the_default_config_names_file_and_line(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(BROKEN_YAML)
    cmd = [c for c in snakemake_command(tmp_path, "-n") if c not in ("--configfile", str(TINY_CONFIG))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr  # Snakemake prints errors of the Snakefile to stdout
    assert proc.returncode != 0 and "config/config.yaml:4:4: not valid YAML" in output, output[-2000:]


def test_locks_of_a_killed_run_name_the_unlock_command(tmp_path):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    # what a run killed with SIGKILL leaves behind: the outputs it was making, locked
    (locks / "0.output.lock").write_text("results/mini/world/mini-ffhq\n")
    proc = subprocess.run(snakemake_command(tmp_path, "--cores", "1", "results/mini/world/mini-ffhq"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "no longer alive" in proc.stderr and "--unlock" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "results" / "mini" / "world" / "mini-ffhq").exists()
    proc = subprocess.run(snakemake_command(tmp_path, "--unlock"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and not list(locks.glob("*.lock"))
    proc = subprocess.run(snakemake_command(tmp_path, "-n"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "no longer alive" not in proc.stderr
