"""Sign-in for the chat page: server-side sessions behind an HttpOnly, SameSite=Strict cookie.

A cadre signs in once with the key the unit issued (`vankien keys create`); afterwards the page holds nothing
secret (the cookie is HttpOnly: no script can read it). A session row keeps only the SHA-256 of its random
token, the permanent id of the key it was opened with and its expiry. The caller is derived from that key on
every request, so revoking the key (or lowering its clearance) ends or narrows its sessions at once. Rows live
in SQLite beside the key file (or in the PostgreSQL database API replicas share, `service.state_db`), so a
signed-in cadre stays signed in across a restart of the service.

Cross-site requests: the cookie is SameSite=Strict, and a request authenticated by it that changes anything must
also carry the `X-Vankien-Csrf` header, which a page of another origin cannot add without a CORS preflight this
service refuses (`service.deps.get_principal`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from pathlib import Path

from service.state_db import StateDb

#: The session cookie's name.
COOKIE = "vankien_session"
#: Header a cookie-authenticated request must send with any method but GET/HEAD/OPTIONS.
CSRF_HEADER = "X-Vankien-Csrf"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
)
"""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """Sign-in sessions in a SQLite file (mode 0600), thread-safe.

    Args:
        path: the database file (created with its table on first use).
        lifetime_s: how long a session lasts after sign-in.
        store: the PostgreSQL database shared by API replicas (`service.state_db`): a session opened through one
            replica is valid on every other; None: `path`.
    """

    def __init__(self, path: Path, lifetime_s: float, store: str | None = None) -> None:
        if lifetime_s <= 0:
            raise ValueError("a session must last a positive time")
        self.path = Path(path)
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._db = StateDb(self.path, _SCHEMA, "kho phiên đăng nhập", store)

    def create(self, key_id: str) -> tuple[str, float]:
        """Open a session for the key with this id. Returns (token for the cookie, expiry as a Unix time)."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires = now + self.lifetime_s
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (_digest(token), key_id, now, expires))
        return token, expires

    def lookup(self, token: str) -> tuple[str, float] | None:
        """(key id, expiry) of a live session, or None (unknown, expired or signed out)."""
        if not token or len(token) > 256:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, expires FROM sessions WHERE digest = ? AND expires > ?", (_digest(token), time.time())
            ).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def delete(self, token: str) -> bool:
        """End a session (sign-out). Returns whether one was open."""
        with self._lock:
            cursor = self._db.execute("DELETE FROM sessions WHERE digest = ?", (_digest(token),))
        return bool(cursor.rowcount > 0)

    def count(self) -> int:
        """Live sessions."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM sessions WHERE expires > ?", (time.time(),)).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
