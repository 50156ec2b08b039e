"""Saved conversations of the chat page, per user, in SQLite beside the key file (or in the PostgreSQL database
API replicas share, `service.state_db`).

The owner is the caller's key (its permanent id; "anonymous" in the local demo), so a conversation follows its
cadre across browsers, reloads and restarts, and nobody else can list, read, rename or delete it (another owner's
conversation answers exactly like a missing one). A turn is recorded by the server itself when a question is asked
with `conversation_id` (`POST /api/v1/ask`, `/ask/stream`): what is stored is the answer the service gave, never
text a client sends. Each turn keeps the highest classification rank among the paragraphs it shows; a turn above
the owner's clearance *when read* (a key's clearance lowered since) is withheld and counted as hidden.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import CLASSIFICATIONS, InvalidRequest, NotFound
from service.state_db import StateDb

#: Bounds per owner and per conversation (a user cannot fill the disk through the history).
MAX_CONVERSATIONS = 500
MAX_TURNS = 200
TITLE_CHARS = 120

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    asked REAL NOT NULL,
    level INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    PRIMARY KEY (conversation, seq)
);
"""

_MISSING = "Không tìm thấy cuộc hội thoại này (có thể đã bị xóa)."


@dataclass(frozen=True, slots=True)
class Conversation:
    """One saved conversation's summary; `turns` counts the turns the reader may see."""

    id: str
    title: str
    created: float
    updated: float
    turns: int


def title_from(question: str) -> str:
    """A conversation's default title: its first question, on one line, cut at a word."""
    text = " ".join(question.split())
    if len(text) <= TITLE_CHARS:
        return text
    cut = text[: TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut + "…"


class ConversationStore:
    """Conversations and their turns (thread-safe; one connection behind a lock).

    Args:
        path: the private SQLite file on one machine.
        store: the PostgreSQL database shared by API replicas (`service.state_db`); None: `path`.
    """

    def __init__(self, path: Path, store: str | None = None) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = StateDb(self.path, _SCHEMA, "kho lưu cuộc hội thoại", store)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- conversations -----------------------------------------------------------------------------------

    def create(self, owner: str, title: str = "") -> Conversation:
        """A new, empty conversation.

        Raises:
            ConversationLimit: the owner already has `MAX_CONVERSATIONS`.
        """
        now = time.time()
        ident = secrets.token_hex(8)
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM conversations WHERE owner = ?", (owner,)).fetchone()
            if count >= MAX_CONVERSATIONS:
                raise ConversationLimit(
                    f"owner has {count} conversations",
                    f"Đã lưu tối đa {MAX_CONVERSATIONS} cuộc hội thoại; hãy xóa bớt cuộc cũ rồi thử lại.",
                )
            self._db.execute(
                "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)", (ident, owner, title[:TITLE_CHARS], now, now)
            )
        return Conversation(ident, title[:TITLE_CHARS], now, now, 0)

    def listing(self, owner: str, max_level: int, limit: int = 200) -> list[Conversation]:
        """The owner's conversations, most recently used first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, "
                "(SELECT COUNT(*) FROM turns t WHERE t.conversation = c.id AND t.level <= ?) "
                "FROM conversations c WHERE c.owner = ? ORDER BY c.updated DESC, c.id LIMIT ?",
                (max_level, owner, limit),
            ).fetchall()
        return [Conversation(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def _owned(self, owner: str, ident: str) -> tuple[Any, ...]:
        row = self._db.execute(
            "SELECT id, title, created, updated FROM conversations WHERE id = ? AND owner = ?", (ident, owner)
        ).fetchone()
        if row is None:
            raise NotFound(f"conversation {ident!r} not found for this owner", _MISSING)
        return tuple(row)

    def get(self, owner: str, ident: str, max_level: int) -> tuple[Conversation, list[dict[str, Any]], int]:
        """(summary, visible turns oldest first, number of turns withheld above `max_level`).

        Raises:
            NotFound: no such conversation of this owner.
        """
        with self._lock:
            ident_, title, created, updated = self._owned(owner, ident)
            rows = self._db.execute(
                "SELECT seq, asked, level, question, answer FROM turns WHERE conversation = ? ORDER BY seq", (ident,)
            ).fetchall()
        turns = [
            {"question": q, "answer": json.loads(a), "asked_at": asked, "classification": CLASSIFICATIONS[level]}
            for _, asked, level, q, a in rows
            if level <= max_level
        ]
        hidden = len(rows) - len(turns)
        return Conversation(ident_, title, created, updated, len(turns)), turns, hidden

    def history(self, owner: str, ident: str, max_level: int, limit: int) -> list[dict[str, Any]]:
        """The last `limit` visible turns as pipeline history (question, answer text, citations)."""
        _, turns, _ = self.get(owner, ident, max_level)
        out = []
        for turn in turns[-limit:] if limit else []:
            answer = turn["answer"]
            citations = [{k: v for k, v in c.items() if k != "text"} for c in answer.get("citations", [])]
            out.append({"question": turn["question"], "answer": answer.get("answer", ""), "citations": citations})
        return out

    def rename(self, owner: str, ident: str, title: str) -> None:
        """Give a conversation a new title.

        Raises:
            NotFound: no such conversation of this owner.
        """
        with self._lock:
            self._owned(owner, ident)
            self._db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title[:TITLE_CHARS], ident))

    def delete(self, owner: str, ident: str) -> None:
        with self._lock:
            self._owned(owner, ident)
            self._db.execute("DELETE FROM conversations WHERE id = ?", (ident,))

    def check(self, owner: str, ident: str) -> None:
        """Raise NotFound unless the owner has this conversation (before answering into it)."""
        with self._lock:
            self._owned(owner, ident)

    def append(self, owner: str, ident: str, question: str, answer: dict[str, Any], level: int) -> None:
        """Record a turn the service answered; the oldest turn goes beyond `MAX_TURNS`. The first question
        names an untitled conversation. A conversation deleted meanwhile is not brought back."""
        now = time.time()
        with self._lock:
            try:
                _, title, _, _ = self._owned(owner, ident)
            except NotFound:
                return
            (last,) = self._db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM turns WHERE conversation = ?", (ident,)
            ).fetchone()
            with self._db.transaction() as db:
                db.execute(
                    "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?)",
                    (ident, last + 1, now, level, question, json.dumps(answer, ensure_ascii=False)),
                )
                db.execute("DELETE FROM turns WHERE conversation = ? AND seq <= ?", (ident, last + 1 - MAX_TURNS))
                db.execute(
                    "UPDATE conversations SET updated = ?, title = ? WHERE id = ?",
                    (now, title or title_from(question), ident),
                )


class ConversationLimit(InvalidRequest):
    """Too many saved conversations for one owner (HTTP 400 with the reason)."""
