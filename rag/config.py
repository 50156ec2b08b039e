"""Library-wide defaults. Service settings live in `service/`, not here."""

from __future__ import annotations

import os
from pathlib import Path

ENV_INDEX = "VANKIEN_INDEX"
DEFAULT_INDEX_DIR = "index"


def default_index_dir() -> Path:
    """The index directory used when none is given: `$VANKIEN_INDEX`, else `./index`."""
    return Path(os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR)


#: Files larger than this are rejected before parsing (bytes).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Extracted text larger than this is rejected (characters): a guard against decompression bombs.
MAX_TEXT_CHARS = 20_000_000
