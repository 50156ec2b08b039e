"""`python -m vankien`, the same as `vankien` and `python -m rag`."""

import sys

from vankien.cli import main

sys.exit(main())
