"""`python -m rag`: the `vankien` command line (DESIGN.md's contract). An entry point, not part of the library:
nothing imports this module, so the command line above the library is reached only from here."""

import sys

from vankien.cli import main

sys.exit(main())
