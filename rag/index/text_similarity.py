"""Cosine similarity of a query to short texts embedded on demand (the sentences an answer may quote), with the
embeddings of recent queries and texts kept so one question's several scorings embed each sentence once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from rag.index.embedders import Embedder

#: Embeddings kept per kind: a question scores a few dozen sentences, several times (the list section, then the
#: answer); the service answers many questions, so older entries go first.
QUERIES_KEPT = 256
TEXTS_KEPT = 8192


class _Recent:
    """A bounded mapping that forgets the least recently used entry first (callers hold the lock)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, str], npt.NDArray[np.float32]] = OrderedDict()

    def get(self, key: tuple[str, str]) -> npt.NDArray[np.float32] | None:
        vector = self.items.get(key)
        if vector is not None:
            self.items.move_to_end(key)
        return vector

    def put(self, key: tuple[str, str], vector: npt.NDArray[np.float32]) -> None:
        self.items[key] = vector
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class TextSimilarity:
    """Query-to-text cosines from an embedder, with recent embeddings kept (thread-safe).

    Entries are keyed by the embedder's name too, so an index that changes embedder never mixes vectors.
    """

    def __init__(self, queries_kept: int = QUERIES_KEPT, texts_kept: int = TEXTS_KEPT) -> None:
        self._queries = _Recent(queries_kept)
        self._texts = _Recent(texts_kept)
        self._lock = threading.Lock()

    def query_vector(self, embedder: Embedder, query: str) -> npt.NDArray[np.float32]:
        """`query`'s embedding as a query, unit length (kept: the abstention and the answer read the same one)."""
        key = (embedder.name, query)
        with self._lock:
            q = self._queries.get(key)
        if q is None:
            q = _unit(np.asarray(embedder.embed_query(query), dtype=np.float32).reshape(-1))
            with self._lock:
                self._queries.put(key, q)
        return q

    def cosines(self, embedder: Embedder, query: str, texts: Sequence[str]) -> list[float]:
        """The cosine of `query`'s embedding (as a query) to each text's (as a passage), in order."""
        if not texts:
            return []
        name = embedder.name
        q = self.query_vector(embedder, query)
        with self._lock:
            known = {t: v for t in texts if (v := self._texts.get((name, t))) is not None}
        missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            vectors = np.asarray(embedder.embed_documents(missing), dtype=np.float32).reshape(len(missing), -1)
            known.update((t, _unit(v)) for t, v in zip(missing, vectors, strict=True))
        with self._lock:
            for t in missing:
                self._texts.put((name, t), known[t])
        return [float(known[t] @ q) for t in texts]


def _unit(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
