"""Locks left by a killed run: Snakemake's own error names neither the cause nor that no run is alive."""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")  # Linux: one folder per live process


def live_snakemake_here(workdir: str | os.PathLike | None = None) -> bool | None:
    """Whether another Snakemake process on this machine works in `workdir` (default: the current
    folder); None where processes cannot be listed (no /proc)."""
    if not PROC.is_dir():
        return None
    here, ours = os.path.realpath(workdir or os.getcwd()), {os.getpid(), os.getppid()}
    for entry in PROC.glob("[0-9]*"):
        try:
            if int(entry.name) in ours or b"snakemake" not in (entry / "cmdline").read_bytes():
                continue
            if os.path.realpath(os.readlink(entry / "cwd")) == here:
                return True
        except OSError:  # the process ended meanwhile, or is not ours to read
            continue
    return False


def stale_lock_message(workdir: str | os.PathLike = ".") -> str | None:
    """What to tell the user when .snakemake/locks holds locks and no Snakemake runs here, else None.

    Removing the locks stays the user's decision: a run on another machine of a shared filesystem is
    invisible from here.
    """
    if not any(Path(workdir, ".snakemake", "locks").glob("*.lock")) or live_snakemake_here(workdir) is not False:
        return None
    return ("deltaspace: .snakemake/locks holds the locks of a run that is no longer alive on this machine "
            "(killed?). If no run on another machine uses this folder, remove them with the same command plus "
            "--unlock (e.g. `snakemake --unlock`), then rerun: finished outputs are kept, incomplete ones redone.")
