"""Build the TCVN3 sample of the corpus from its Unicode source.

The sample shows (and lets the tests check) that a document typed with the old ABC fonts is read back
as proper Unicode. Its source is kept in Unicode so it can be read and edited; this script writes the
bytes such a file would have had: TCVN3 (VN3) codes and Windows line ends.

Usage:
    python -m tools.build_legacy_sample          # (re)write corpus/chi-thi-12-ct-tu-tcvn3.txt
    python -m tools.build_legacy_sample --check  # exit 1 when the corpus file is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.text.legacy import to_tcvn3

ROOT = Path(__file__).resolve().parent.parent

SOURCE = ROOT / "tools" / "samples" / "chi-thi-12-ct-tu-tcvn3.source.md"
TARGET = ROOT / "corpus" / "chi-thi-12-ct-tu-tcvn3.txt"


def build(source: Path = SOURCE) -> bytes:
    """Return the TCVN3 bytes of the sample: the source's text, CRLF line ends, no byte-order mark.

    Raises:
        UnicodeEncodeError: if the source holds a character TCVN3 cannot write.
    """
    text = source.read_text(encoding="utf-8").replace("\r\n", "\n")
    # Files of that era were written on Windows.
    return to_tcvn3(text.replace("\n", "\r\n"))


def main(argv: list[str] | None = None) -> int:
    """Write the sample, or with --check say whether the committed one is current."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the existing file")
    args = parser.parse_args(argv)
    data = build()
    if args.check:
        current = TARGET.read_bytes() if TARGET.exists() else b""
        if current != data:
            print(f"{TARGET} is out of date; run python -m tools.build_legacy_sample", file=sys.stderr)
            return 1
        return 0
    TARGET.write_bytes(data)
    print(f"wrote {TARGET} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
