# Checks that run before the config is read: they name files, lines and commands that Snakemake's own
# errors leave out.
import sys
from pathlib import Path

from deltaspace.config import read_yaml
from deltaspace.locks import stale_lock_message

DEFAULT_CONFIG = "config/config.yaml"

# A YAML error in the default config: file and line (Snakemake's own message names neither). A file
# given with --configfile is read by Snakemake before this runs: `deltaspace check-config --configfile F`.
if Path(DEFAULT_CONFIG).is_file():
    read_yaml(DEFAULT_CONFIG)


# A run killed with SIGKILL (or a lost machine) leaves its locks behind, and every later run stops
# with Snakemake's lock error: say why, and name the way out.
if workflow.is_main_process and (message := stale_lock_message()):
    sys.stderr.write(message + "\n")
