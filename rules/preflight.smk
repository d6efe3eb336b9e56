# Checks that run before the config is read: they name files, lines and commands that Snakemake's own
# errors leave out.
import os
import sys
from pathlib import Path

from deltaspace.config import read_yaml

DEFAULT_CONFIG = "config/config.yaml"

# A YAML error in the default config: file and line (Snakemake's own message names neither). A file
# given with --configfile is read by Snakemake before this runs: `deltaspace check-config --configfile F`.
if Path(DEFAULT_CONFIG).is_file():
    read_yaml(DEFAULT_CONFIG)


def live_snakemake_here():
    """Whether another Snakemake process on this machine works in this directory (Linux /proc)."""
    here, ours = os.getcwd(), {os.getpid(), os.getppid()}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if int(entry.name) in ours or b"snakemake" not in (entry / "cmdline").read_bytes():
                continue
            if os.readlink(entry / "cwd") == here:
                return True
        except OSError:  # the process ended meanwhile, or is not ours to read
            continue
    return False


# A run killed with SIGKILL (or a lost machine) leaves its locks behind, and every later run stops
# with Snakemake's lock error. Name the way out; removing the locks stays the user's decision, since
# a run on another machine of a shared filesystem is invisible from here.
if workflow.is_main_process and any(Path(".snakemake/locks").glob("*.lock")) and Path("/proc/self").exists():
    if not live_snakemake_here():
        sys.stderr.write(
            "deltaspace: .snakemake/locks holds the locks of a run that is no longer alive on this machine "
            "(killed?). If no run on another machine uses this folder, remove them with the same command plus "
            "--unlock (e.g. `snakemake --unlock`), then rerun: finished outputs are kept, incomplete ones "
            "redone.\n"
        )
