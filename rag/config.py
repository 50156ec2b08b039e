"""Library-wide defaults. Service settings live in `service/`, not here."""

from __future__ import annotations

import os
from pathlib import Path

ENV_INDEX = "VANKIEN_INDEX"
DEFAULT_INDEX_DIR = "index"


#: Where documents are stored: unset (or empty) for the catalog inside the index directory (SQLite, the default);
#: a PostgreSQL URI (postgresql://user@host/db) for the scale-out store, shared by API replicas (docs/scale.md).
ENV_STORE = "VANKIEN_STORE"
#: A streaming replica of that database for the reads of an API replica (unset: the primary).
ENV_STORE_READ = "VANKIEN_STORE_READ"
#: "off" when a new PostgreSQL store is created: no BM25 postings in the database (no search in SQL; smaller and
#: faster to write; the replicas search their own indexes either way). `rag.index.pg_catalog.postings_enabled`.
ENV_POSTINGS = "VANKIEN_PG_POSTINGS"


def default_index_dir() -> Path:
    """The index directory used when none is given: `$VANKIEN_INDEX`, else `./index`."""
    return Path(os.environ.get(ENV_INDEX) or DEFAULT_INDEX_DIR)


def default_store() -> tuple[str | None, str | None]:
    """(store, read replica) when none is given: `$VANKIEN_STORE` and `$VANKIEN_STORE_READ` (None: unset)."""
    return os.environ.get(ENV_STORE) or None, os.environ.get(ENV_STORE_READ) or None


#: Files larger than this are rejected before parsing (bytes).
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Extracted text larger than this is rejected (characters): a guard against decompression bombs.
MAX_TEXT_CHARS = 20_000_000

# -- isolated parsing (`rag.ingest.isolate`): limits of the child process that reads one file --------------

#: Wall-clock limit for parsing one file (seconds); the child is killed when it runs over.
PARSE_TIME_LIMIT_S = 300.0
#: Wall-clock limit for one PDF (seconds): above the PDF reader's own budgets (text 120 s, OCR of scanned
#: pages 1800 s, see `rag.ingest.pdf`), which stop it gracefully with the pages read so far; this is the backstop.
PARSE_PDF_TIME_LIMIT_S = 2000.0
#: Address space of the parsing child (bytes, RLIMIT_AS): enough for a 200 MB file and its text.
PARSE_MEMORY_BYTES = 3 * 1024 * 1024 * 1024
#: Most blocks (lines, paragraphs, table rows) one parsed document may have: a 5,000-page PDF of 40 lines a page.
#: It bounds what the parent process does with one document after parsing (line merging, structure, indexing).
PARSE_MAX_BLOCKS = 200_000
#: An idle parsing child exits after this many seconds (a new one starts on the next file).
PARSE_WORKER_IDLE_S = 120.0
#: A parsing child is replaced after this many files, bounding what a long-running service accumulates.
PARSE_WORKER_MAX_TASKS = 500
