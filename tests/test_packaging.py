"""A regular (non-editable) install carries everything the workflow reads from the package."""

import os
import subprocess
import venv

from conftest import REPO, TINY_CONFIG


def test_non_editable_install_runs_the_workflow_dry_run(tmp_path):
    env_dir = tmp_path / "venv"
    # the dependencies come from this environment; only the package itself is installed, as a wheel
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a source tree on it would shadow the wheel
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(REPO)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, env=clean)
    assert proc.returncode == 0, proc.stderr[-3000:]
    where = subprocess.run([str(python), "-c", "import deltaspace; print(deltaspace.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=clean).stdout
    assert str(env_dir) in where, where  # the installed copy, not the source tree
    run = tmp_path / "run"
    proc = subprocess.run([str(python), "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(run), "--configfile", str(TINY_CONFIG), "-n", "--cores", "1"],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "rule table1:" in proc.stdout
