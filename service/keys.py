"""API keys: random secrets stored only as SHA-256 digests, with a name, a role and a clearance.

The key file (JSON, mode 0600) lives in the index directory. The service re-reads it when it changes, so a key
created or revoked with `vankien keys` takes effect without a restart. This module uses only the standard
library (and `rag.errors`), so the CLI can manage keys where the web stack is not installed.

A key is 32 random bytes (256 bits), so a plain SHA-256 digest is enough: there is nothing to brute-force that a
slow password hash would protect. Digests are compared with `hmac.compare_digest` against every stored key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rag import CLASSIFICATIONS, InvalidRequest, NotFound, StoreError

#: Roles, from least to most powerful: readers ask and search, editors also upload, admins also delete.
ROLES: tuple[str, ...] = ("reader", "editor", "admin")
KEY_PREFIX = "vk_"
FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


#: Environment variable overriding where the key file lives (the service's `keys_file` setting reads it too).
ENV_KEYS_FILE = "VANKIEN_KEYS_FILE"


def default_keys_path(index_dir: Path) -> Path:
    """The key file of an index directory: `$VANKIEN_KEYS_FILE`, else `<index_dir>/keys.json`."""
    override = os.environ.get(ENV_KEYS_FILE)
    return Path(override) if override else index_dir / "keys.json"


def role_rank(role: str) -> int:
    """Position of a role in `ROLES` (0 = reader)."""
    return ROLES.index(role)


def key_id(key: ApiKey) -> str:
    """A key's permanent identity: a prefix of its digest. Unlike the name, it is never given to another key (a
    new key has a new random secret), so what a revoked key owned stays out of reach of a key given its name."""
    return key.sha256[:16]


def digest(secret: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the secret itself).

    Attributes:
        name: unique among active keys; appears in the audit log.
        role: one of `ROLES`.
        clearance: one of `rag.types.CLASSIFICATIONS`.
        sha256: hex digest of the secret.
        prefix: the first characters of the secret, to recognise a key in a list.
        created: ISO timestamp (UTC).
        revoked: ISO timestamp of revocation, or None while active.
    """

    name: str
    role: str
    clearance: str
    sha256: str
    prefix: str
    created: str
    revoked: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class KeyStore:
    """The key file of one index directory.

    Args:
        path: the JSON file (created on the first `create`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[ApiKey] = []

    # -- reading -------------------------------------------------------------------------------------

    def _current(self) -> list[ApiKey]:
        """The keys, re-read when the file changed since the last read."""
        try:
            st = self.path.stat()
            stamp: tuple[int, int, int] | None = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._keys = self._read() if stamp is not None else []
                self._stamp = stamp
            return self._keys

    def _read(self) -> list[ApiKey]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            keys = [ApiKey(**entry) for entry in data["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"unreadable key file {self.path}: {exc}", "Tệp khóa API bị hỏng hoặc không đọc được."
            ) from exc
        for key in keys:
            if key.role not in ROLES or key.clearance not in CLASSIFICATIONS:
                raise StoreError(f"bad key entry {key.name!r} in {self.path}", "Tệp khóa API có mục không hợp lệ.")
        return keys

    def active(self) -> list[ApiKey]:
        """Keys that are not revoked."""
        return [k for k in self._current() if k.revoked is None]

    def all(self) -> list[ApiKey]:
        """Every key, revoked ones included (oldest first)."""
        return list(self._current())

    def is_empty(self) -> bool:
        """True when no active key is configured (the local demo mode)."""
        return not self.active()

    def verify(self, secret: str) -> ApiKey | None:
        """The active key whose secret this is, or None. Compares against every key in constant time each."""
        presented = digest(secret)
        found: ApiKey | None = None
        for key in self.active():
            if hmac.compare_digest(presented, key.sha256):
                found = key
        return found

    def find(self, ident: str) -> ApiKey | None:
        """The active key with this permanent id (`key_id`), or None (unknown or revoked, or not an id at all)."""
        if not ident.isascii():  # compare_digest takes only ASCII strings
            return None
        for key in self.active():
            if hmac.compare_digest(key_id(key), ident):
                return key
        return None

    # -- writing -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[list[ApiKey]]:
        """Hold the cross-process writer lock, give the current keys, write them back atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                keys = self._read() if self.path.exists() else []
                yield keys
                self._write(keys)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self, keys: list[ApiKey]) -> None:
        payload = json.dumps(
            {"version": FORMAT_VERSION, "keys": [asdict(k) for k in keys]}, ensure_ascii=False, indent=2
        )
        fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def create(self, role: str, clearance: str, name: str | None = None) -> tuple[ApiKey, str]:
        """Make a new key; returns the stored record and the secret (shown once, never stored).

        Raises:
            InvalidRequest: unknown role or clearance, bad or duplicate name.
        """
        if role not in ROLES:
            raise InvalidRequest(f"unknown role {role!r}", f"Vai trò '{role}' không hợp lệ; chọn: {', '.join(ROLES)}.")
        if clearance not in CLASSIFICATIONS:
            raise InvalidRequest(
                f"unknown clearance {clearance!r}",
                f"Mức được phép xem '{clearance}' không hợp lệ; chọn: {', '.join(CLASSIFICATIONS)}.",
            )
        if name is not None and not _NAME_RE.match(name):
            raise InvalidRequest(
                f"bad key name {name!r}",
                "Tên khóa chỉ gồm chữ Latinh không dấu, số và các ký tự . _ @ - (tối đa 64 ký tự).",
            )
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._writing() as keys:
            taken = {k.name for k in keys if k.revoked is None}
            if name is None:
                name = f"{role}-{secrets.token_hex(3)}"
                while name in taken:
                    name = f"{role}-{secrets.token_hex(3)}"
            elif name in taken:
                raise InvalidRequest(f"duplicate key name {name!r}", f"Đã có khóa tên '{name}'; hãy chọn tên khác.")
            key = ApiKey(name, role, clearance, digest(secret), secret[: len(KEY_PREFIX) + 4], _now())
            keys.append(key)
        return key, secret

    def revoke(self, name: str) -> ApiKey:
        """Revoke the active key called `name`.

        Raises:
            NotFound: no active key has that name.
        """
        with self._writing() as keys:
            for i, key in enumerate(keys):
                if key.name == name and key.revoked is None:
                    keys[i] = revoked = ApiKey(
                        key.name, key.role, key.clearance, key.sha256, key.prefix, key.created, _now()
                    )
                    return revoked
            raise NotFound(f"no active key {name!r}", f"Không có khóa đang hoạt động tên '{name}'.")
