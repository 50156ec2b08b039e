"""Saving an uploaded file safely: the service picks the name, the client's name is only displayed.

The saved name is the SHA-256 of the content plus the classification and the (checked) extension, inside the
uploads folder: no client-supplied path component ever reaches the file system, and uploading the same file
twice at the same classification finds the document already there ("unchanged").
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from service.errors import ApiError
from service.limits import too_large_message

CHUNK = 1 << 20
MAX_NAME = 200
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def display_name(filename: str | None) -> str:
    """The client's file name reduced to a harmless label: last path component, no control characters."""
    name = unicodedata.normalize("NFC", filename or "")
    name = PurePosixPath(name.replace("\\", "/")).name
    name = _CONTROL_RE.sub("", name).strip().lstrip(".")
    if len(name) > MAX_NAME:
        suffix = PurePosixPath(name).suffix[:16]
        name = name[: MAX_NAME - len(suffix)] + suffix
    return name or "tai-lieu"


def extension(name: str, supported: tuple[str, ...]) -> str:
    """The lower-case extension of a display name, if a parser supports it.

    Raises:
        ApiError: 400 for a missing or unsupported extension.
    """
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in supported:
        raise ApiError(
            400,
            "unsupported_format",
            f"Định dạng tệp không được hỗ trợ; chỉ nhận: {', '.join(supported)}.",
        )
    return suffix


def save_upload(source: BinaryIO, folder: Path, suffix: str, classification: str, limit: int, tmp_name: str) -> Path:
    """Copy an upload into `folder` under a content-derived name; returns the path.

    Raises:
        ApiError: 413 over `limit` bytes, 400 for an empty file.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = folder / f".part-{tmp_name}"
    digest = hashlib.sha256()
    size = 0
    try:
        # Private to the service's user, like the keys and the audit log: an upload may be a restricted document.
        with os.fdopen(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "payload_too_large", too_large_message(limit))
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ApiError(400, "empty_file", "Tệp tải lên đang rỗng.")
        final = folder / f"{digest.hexdigest()[:32]}-{classification}{suffix}"
        os.replace(part, final)
        # the rename too must survive a crash: the job row committed next points at this name
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()
