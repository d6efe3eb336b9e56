"""`python -m deltaspace` is the `deltaspace` command."""

import sys

from deltaspace.cli import main

sys.exit(main())
