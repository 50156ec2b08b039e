"""Dense vectors of paragraphs in FAISS, keyed by int64 paragraph ids, saved crash-safely without pickle.

The index is exact inner-product search (`IndexIDMap2` over `IndexFlatIP`, one per classification level): the
vectors are L2-normalised, so the score is cosine similarity. Exact search was chosen over HNSW because
paragraphs are deleted and replaced in place (HNSW cannot remove vectors) and because at the scale of this product
(up to ~100k paragraphs) a flat scan is fast enough; benchmarks/bench_vectors.py measures both (docs/embedder-notes.md).

Files in the index directory:

* ``vectors.json``: the manifest, replaced last (the commit point): format and version, the embedder `name` and
  `dim` that built the vectors, the vector count, the generation recorded by the catalog, and per level the
  index file's name, vector count, size and SHA-256;
* ``vectors-g<generation>-<token>-l<level>.faiss``: `faiss.write_index` output (FAISS's own binary format, no
  pickle), one per level that has vectors. Format 1 (one file ``vectors-g<generation>-<token>.faiss`` for all
  levels) is still read: its vectors are moved to their levels when the store opens it.

A crash at any moment leaves the previous manifest and the file it names intact; files no manifest names are
deleted after the next successful save.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rag.errors import EmbedderMismatch, MissingDependency, StoreError
from rag.index.durable import PRIVATE_FILE, fsync_dir, pause_point, private_dir, write_atomic

logger = logging.getLogger(__name__)

FORMAT: Final = "vankien-vectors"
FORMAT_VERSION: Final = 2  # 2: one file per level (format 1: one file, read as all level 0)
READABLE_VERSIONS: Final = (1, 2)
MANIFEST: Final = "vectors.json"
INDEX_TYPE: Final = "IDMap2,Flat"
METRIC: Final = "inner_product"

_FILE_RE: Final = re.compile(r"^vectors-g\d+-[0-9a-f]{8}(?:-l\d+)?\.faiss(?:\.tmp-\d+)?$|^vectors\.json\.tmp-\d+$")
_REBUILD_HINT: Final = "hãy xây lại chỉ mục (chạy lại vankien ingest vào một thư mục chỉ mục mới)"
_CORRUPT_USER: Final = f"Chỉ mục vectơ bị thiếu hoặc hỏng; {_REBUILD_HINT}."

Int64Array = npt.NDArray[np.int64]
Float32Array = npt.NDArray[np.float32]


#: Queries per search from which FAISS scans on every core; fewer run on the calling thread alone.
_PARALLEL_QUERIES = 8
_CORES = max(1, os.cpu_count() or 1)


def _faiss() -> Any:
    """Import faiss on first use, so that `import rag` and modules that only name this one stay light."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a core dependency
        raise MissingDependency(
            f"faiss is needed for the vector index: pip install faiss-cpu ({exc})",
            "Thiếu gói faiss-cpu cần cho chỉ mục vectơ; hãy cài: pip install faiss-cpu",
        ) from exc
    return faiss


def _as_pids(pids: Sequence[int] | Int64Array) -> Int64Array:
    arr = np.asarray(pids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError("pids must be a one-dimensional sequence of integers")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and int(arr.min()) < 0:
        raise ValueError("pids must be >= 0 (FAISS reserves -1)")
    return arr


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class VectorIndex:
    """Exact cosine search over paragraph vectors with in-place add, replace and remove, one FAISS index per level.

    Every vector belongs to one *level* (the classification rank of its paragraph: 0 public ... 3 tối mật), and
    each level has its own flat index. A search at level L scans levels 0..L only, so its cost, like its result,
    depends only on what the caller may see: a restricted upload does not make a public caller's search slower
    (docs/security.md, "Side channels"). Every public method takes an internal lock, so a search never sees a
    half-applied add or remove.

    Args:
        dim: vector length; must equal the embedder's `dim`.
        embedder: the embedder `name` the vectors come from; recorded in the manifest and checked on load.
    """

    def __init__(self, dim: int, embedder: str) -> None:
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if not embedder:
            raise ValueError("the embedder name must not be empty")
        _faiss()
        self._dim = dim
        self._embedder = embedder
        self._indexes: dict[int, Any] = {}  # level -> IndexIDMap2 over IndexFlatIP
        self._level: dict[int, int] = {}  # pid -> level
        self._generation = 0
        self._lock = threading.RLock()
        #: Loaded from a snapshot written before levels existed (format 1): every vector sits at level 0 until
        #: `assign_levels` moves it (the store does so on open, before any search).
        self.unlevelled = False
        self.last_scanned = 0

    # ------------------------------------------------------------------------------------------ state

    @property
    def dim(self) -> int:
        """Vector length."""
        return self._dim

    @property
    def embedder(self) -> str:
        """Name of the embedder whose vectors this index holds."""
        return self._embedder

    @property
    def generation(self) -> int:
        """The generation last saved or loaded (0 for an index never saved)."""
        return self._generation

    def __len__(self) -> int:
        return len(self._level)

    def __contains__(self, pid: object) -> bool:
        return pid in self._level

    def ids(self) -> Int64Array:
        """The indexed pids, sorted."""
        with self._lock:
            return np.array(sorted(self._level), dtype=np.int64)

    def levels(self) -> dict[int, int]:
        """Vectors per level (levels without vectors left out)."""
        with self._lock:
            return {level: int(index.ntotal) for level, index in sorted(self._indexes.items()) if index.ntotal}

    def _level_index(self, level: int) -> Any:
        index = self._indexes.get(level)
        if index is None:
            faiss = _faiss()
            index = self._indexes[level] = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim))
        return index

    # -------------------------------------------------------------------------------------- updates

    def add(
        self, pids: Sequence[int] | Int64Array, vectors: npt.ArrayLike, levels: Sequence[int] | None = None
    ) -> None:
        """Index vectors under paragraph ids; a pid already indexed is replaced (also at another level).

        Args:
            pids: unique non-negative int64 paragraph ids, shape (n,).
            vectors: shape (n, dim), L2-normalised (converted to contiguous float32).
            levels: the level (>= 0) of each vector; None: all 0.

        Raises:
            ValueError: shapes disagree, a pid repeats or is negative, a level is negative, or a vector is not
                finite.
        """
        pid_arr = _as_pids(pids)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape != (pid_arr.size, self._dim):
            raise ValueError(f"vectors must have shape ({pid_arr.size}, {self._dim}), got {vecs.shape}")
        level_arr = np.zeros(pid_arr.size, dtype=np.int64) if levels is None else np.asarray(levels, dtype=np.int64)
        if level_arr.shape != pid_arr.shape:
            raise ValueError("pids and levels must have the same length")
        if pid_arr.size == 0:
            return
        if int(level_arr.min()) < 0:
            raise ValueError("levels must be >= 0")
        if np.unique(pid_arr).size != pid_arr.size:
            raise ValueError("duplicate pids in one add() call")
        if not np.isfinite(vecs).all():
            raise ValueError("vectors contain NaN or infinity")
        with self._lock:
            present = [p for p in pid_arr.tolist() if p in self._level]
            if present:
                self._remove_locked(np.asarray(present, dtype=np.int64))
            for level in np.unique(level_arr).tolist():
                keep = level_arr == level
                self._level_index(int(level)).add_with_ids(np.ascontiguousarray(vecs[keep]), pid_arr[keep])
                self._level.update(dict.fromkeys(pid_arr[keep].tolist(), int(level)))

    def remove(self, pids: Iterable[int] | Int64Array) -> int:
        """Delete the vectors of these pids; unknown pids are ignored. Returns how many were removed."""
        pid_arr = _as_pids(np.fromiter((int(p) for p in pids), dtype=np.int64))
        with self._lock:
            present = np.asarray([p for p in np.unique(pid_arr).tolist() if p in self._level], dtype=np.int64)
            if present.size == 0:
                return 0
            return self._remove_locked(present)

    def _remove_locked(self, present: Int64Array) -> int:
        faiss = _faiss()
        by_level: dict[int, list[int]] = {}
        for pid in present.tolist():
            by_level.setdefault(self._level[pid], []).append(pid)
        removed = 0
        for level, level_pids in by_level.items():
            removed += int(self._indexes[level].remove_ids(faiss.IDSelectorBatch(np.asarray(level_pids, np.int64))))
            for pid in level_pids:
                del self._level[pid]
        if removed != present.size:  # the pid map and FAISS disagree: a bug, not a user error
            raise StoreError(f"vector index removed {removed} of {present.size} known pids")
        return removed

    def assign_levels(self, levels_of: Callable[[Int64Array], npt.NDArray[np.integer[Any]]]) -> int:
        """Move every vector to its level, `levels_of(sorted pids)` (after loading a format-1 snapshot).

        Returns how many vectors moved."""
        with self._lock:
            pids = np.array(sorted(self._level), dtype=np.int64)
            if pids.size == 0:
                self.unlevelled = False
                return 0
            wanted = np.asarray(levels_of(pids), dtype=np.int64)
            current = np.fromiter((self._level[p] for p in pids.tolist()), dtype=np.int64, count=pids.size)
            moving = pids[wanted != current]
            if moving.size:
                vecs = self._vectors_locked(moving)
                self._remove_locked(moving)
                targets = wanted[wanted != current]
                for level in np.unique(targets).tolist():
                    keep = targets == level
                    self._level_index(int(level)).add_with_ids(np.ascontiguousarray(vecs[keep]), moving[keep])
                    self._level.update(dict.fromkeys(moving[keep].tolist(), int(level)))
            self.unlevelled = False
            return int(moving.size)

    # --------------------------------------------------------------------------------------- search

    def search(
        self, query: npt.ArrayLike, k: int, allowed: Int64Array | None = None, level: int | None = None
    ) -> list[tuple[int, float]]:
        """Return up to k (pid, score) pairs, best first; score is the inner product (cosine) in [-1, 1].

        Args:
            query: one vector of shape (dim,) from the same embedder.
            k: number of results, > 0. Fewer come back when fewer vectors (or allowed pids) exist.
            allowed: sorted int64 pids that may be returned (filters, access control); None allows all. The
                restriction is applied inside the FAISS scan (an ID selector), so a disallowed vector is never
                scored or ranked. An empty array returns nothing.
            level: scan levels 0..level only (None: every level).

        Raises:
            ValueError: k <= 0 or a query of the wrong shape.
        """
        q = np.ascontiguousarray(query, dtype=np.float32)
        if q.shape != (self._dim,):
            raise ValueError(f"query must have shape ({self._dim},), got {q.shape}")
        return self.search_batch(q[None, :], k, allowed, level)[0]

    def search_batch(
        self, queries: npt.ArrayLike, k: int, allowed: Int64Array | None = None, level: int | None = None
    ) -> list[list[tuple[int, float]]]:
        """`search` for a batch of queries, shape (m, dim); one result list per query, in order."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        qs = np.ascontiguousarray(queries, dtype=np.float32)
        if qs.ndim != 2 or qs.shape[1] != self._dim:
            raise ValueError(f"queries must have shape (m, {self._dim}), got {qs.shape}")
        if not np.isfinite(qs).all():
            raise ValueError("query vectors contain NaN or infinity")
        params = None
        selector = None
        if allowed is not None:
            allowed = _as_pids(allowed)
            if allowed.size == 0:
                return [[] for _ in range(qs.shape[0])]
            faiss = _faiss()
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed))
            params = faiss.SearchParameters(sel=selector)
            k = min(k, allowed.size)
        out: list[list[tuple[int, float]]] = [[] for _ in range(qs.shape[0])]
        with self._lock:
            if qs.shape[0] == 0:
                return out
            # OpenMP's thread count is per calling thread: a few queries scan fastest on one thread (2 threads
            # measured 16.7 ms against 5.9 for one query over 84,000 x 384 here); batches use every core.
            _faiss().omp_set_num_threads(1 if qs.shape[0] < _PARALLEL_QUERIES else _CORES)
            scanned = 0
            self.last_scanned = 0  # vectors the last search compared the query with
            for lvl, index in sorted(self._indexes.items()):
                if (level is not None and lvl > level) or index.ntotal == 0:
                    continue
                self.last_scanned += int(index.ntotal)
                scores, labels = index.search(qs, min(k, int(index.ntotal)), params=params)
                for row, (row_scores, row_labels) in enumerate(zip(scores.tolist(), labels.tolist(), strict=True)):
                    out[row].extend((p, s) for p, s in zip(row_labels, row_scores, strict=True) if p >= 0)
                scanned += 1
        del selector  # kept alive until the searches returned
        if scanned > 1:  # merge the levels' lists: best score first, ties by pid (the same for any level split)
            out = [sorted(row, key=lambda ps: (-ps[1], ps[0]))[:k] for row in out]
        return out

    def vectors(self, pids: Sequence[int] | Int64Array) -> Float32Array:
        """The stored vectors of these pids, shape (n, dim).

        Raises:
            KeyError: a pid is not indexed.
        """
        pid_arr = _as_pids(pids)
        with self._lock:
            missing = [p for p in pid_arr.tolist() if p not in self._level]
            if missing:
                raise KeyError(f"pids not in the vector index: {missing[:5]}")
            return self._vectors_locked(pid_arr)

    def _vectors_locked(self, pid_arr: Int64Array) -> Float32Array:
        out = np.empty((pid_arr.size, self._dim), dtype=np.float32)
        for i, p in enumerate(pid_arr.tolist()):
            out[i] = self._indexes[self._level[p]].reconstruct(p)
        return out

    # ------------------------------------------------------------------------------------ persistence

    def save(self, directory: Path | str, generation: int) -> None:
        """Write the index to `directory` crash-safely and record `generation` in the manifest.

        Each level's FAISS file is written under a new name (temp file, fsync, rename), then the manifest is
        replaced (temp file, fsync, rename, directory fsync) and only then are older index files deleted.
        """
        if generation < 0:
            raise ValueError("generation must be >= 0")
        faiss = _faiss()
        directory = Path(directory)
        private_dir(directory)
        # Only the copy is made under the lock (searches wait for it: ~0.1 s per 100,000 vectors); writing,
        # fsync and hashing the files, seconds for a large index, happen while searches go on.
        with self._lock:
            blobs = [
                (level, int(index.ntotal), faiss.serialize_index(index))
                for level, index in sorted(self._indexes.items())
                if index.ntotal
            ]
            count = len(self._level)
        token = os.urandom(4).hex()
        entries: list[dict[str, Any]] = []
        written: list[Path] = []
        try:
            for level, level_count, blob in blobs:
                name = f"vectors-g{generation:06d}-{token}-l{level}.faiss"
                final = directory / name
                tmp = directory / f"{name}.tmp-{os.getpid()}"
                try:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
                    with os.fdopen(fd, "wb") as fh:
                        fh.write(memoryview(blob))
                        fh.flush()
                        os.fsync(fh.fileno())
                    pause_point("vectors.temp_written")
                    os.replace(tmp, final)
                finally:
                    tmp.unlink(missing_ok=True)
                written.append(final)
                entries.append(
                    {
                        "level": level,
                        "file": name,
                        "count": level_count,
                        "bytes": final.stat().st_size,
                        "sha256": _sha256(final),
                    }
                )
        except (OSError, RuntimeError) as exc:
            for path in written:
                path.unlink(missing_ok=True)
            raise StoreError(
                f"cannot write vector index to {directory}: {exc}",
                "Không ghi được chỉ mục vectơ (kiểm tra dung lượng đĩa và quyền ghi).",
            ) from exc
        del blobs
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "embedder": self._embedder,
            "dim": self._dim,
            "count": count,
            "generation": int(generation),
            "index_type": INDEX_TYPE,
            "metric": METRIC,
            "levels": entries,
        }
        pause_point("vectors.before_manifest")
        write_atomic(directory / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
        fsync_dir(directory)
        pause_point("vectors.before_cleanup")
        self._generation = int(generation)
        keep = {e["file"] for e in entries}
        for path in directory.iterdir():
            if path.name not in keep and _FILE_RE.match(path.name):
                path.unlink(missing_ok=True)
        logger.info("saved %d vectors (%s, generation %d) in %d levels", count, self._embedder, generation, len(entries))

    @staticmethod
    def read_manifest(directory: Path | str) -> dict[str, Any]:
        """The manifest of the index in `directory` (to learn which embedder built it before loading).

        Raises:
            StoreError: missing, unreadable or not a vector index manifest.
        """
        path = Path(directory) / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(
                f"no vector index at {directory} ({MANIFEST} missing)",
                f"Chưa có chỉ mục vectơ trong thư mục chỉ mục; {_REBUILD_HINT}.",
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"unreadable vector manifest {path}: {exc}", _CORRUPT_USER) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StoreError(f"{path} is not a vector index manifest", _CORRUPT_USER)
        if manifest.get("version") not in READABLE_VERSIONS:
            raise StoreError(
                f"vector index {path} has format version {manifest.get('version')!r}; "
                f"this program reads {READABLE_VERSIONS}",
                f"Chỉ mục vectơ được tạo bởi phiên bản khác của chương trình; {_REBUILD_HINT}.",
            )
        return manifest

    @classmethod
    def load(
        cls, directory: Path | str, expected_embedder: str, expected_dim: int | None = None, *, verify: bool = True
    ) -> VectorIndex:
        """Read an index written by `save` and check it was built by the embedder in use.

        A format-1 snapshot (one file, no levels) loads with every vector at level 0 and `unlevelled` set.

        Args:
            directory: the index directory.
            expected_embedder: `name` of the embedder queries will be embedded with.
            expected_dim: its `dim`, when known (checked too).
            verify: check the files' SHA-256 against the manifest (reads each file once more).

        Raises:
            StoreError: the index is missing or corrupt, or was built by another embedder or dimension; the
                `user_message` says which and asks to rebuild.
        """
        directory = Path(directory)
        manifest = cls.read_manifest(directory)
        built_with = manifest.get("embedder")
        if built_with != expected_embedder:
            raise EmbedderMismatch(
                f"vector index in {directory} was built with embedder {built_with!r}, "
                f"but {expected_embedder!r} is in use",
                f"Chỉ mục được tạo bằng bộ nhúng {built_with}, nhưng đang dùng {expected_embedder}; "
                f"{_REBUILD_HINT}, hoặc chọn lại bộ nhúng {built_with}.",
                built_with=str(built_with),
                asked=expected_embedder,
            )
        try:
            dim = int(manifest["dim"])
            count = int(manifest["count"])
            generation = int(manifest["generation"])
            if manifest["version"] == 1:
                entries = [{"level": 0, "file": manifest["file"], "count": count}]
                entries[0].update(bytes=manifest["bytes"], sha256=manifest["sha256"])
            else:
                entries = list(manifest["levels"])
            parsed = [
                (int(e["level"]), str(e["file"]), int(e["count"]), int(e["bytes"]), str(e["sha256"])) for e in entries
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"incomplete vector manifest in {directory}: {exc}", _CORRUPT_USER) from exc
        if expected_dim is not None and dim != expected_dim:
            raise EmbedderMismatch(
                f"vector index in {directory} has dimension {dim}, the embedder gives {expected_dim}",
                f"Chỉ mục vectơ có {dim} chiều nhưng bộ nhúng đang dùng cho {expected_dim} chiều; {_REBUILD_HINT}.",
            )
        if sum(c for _, _, c, _, _ in parsed) != count or len({lv for lv, *_ in parsed}) != len(parsed):
            raise StoreError(f"vector manifest in {directory} does not add up", _CORRUPT_USER)
        out = cls(dim, expected_embedder)
        faiss = _faiss()
        for level, name, level_count, size, checksum in parsed:
            path = directory / name
            if level < 0 or "/" in name or "\\" in name or not path.is_file():
                raise StoreError(f"vector index file {path} named by the manifest is missing", _CORRUPT_USER)
            if path.stat().st_size != size or (verify and _sha256(path) != checksum):
                raise StoreError(
                    f"vector index file {path} does not match its manifest (size or SHA-256)", _CORRUPT_USER
                )
            try:
                index = faiss.read_index(str(path))  # returns the concrete class (IndexIDMap2), owning it
            except RuntimeError as exc:
                raise StoreError(f"cannot read vector index file {path}: {exc}", _CORRUPT_USER) from exc
            if not isinstance(index, faiss.IndexIDMap2) or index.d != dim or index.ntotal != level_count:
                raise StoreError(
                    f"vector index file {path} holds {type(index).__name__} d={index.d} n={index.ntotal}, "
                    f"the manifest says {INDEX_TYPE} d={dim} n={level_count}",
                    _CORRUPT_USER,
                )
            ids = faiss.vector_to_array(index.id_map).astype(np.int64).tolist()
            before = len(out._level)
            out._level.update(dict.fromkeys(ids, level))
            if len(out._level) != before + len(ids):
                raise StoreError(f"vector index file {path} holds duplicate pids", _CORRUPT_USER)
            out._indexes[level] = index
        out._generation = generation
        out.unlevelled = manifest["version"] == 1
        logger.info("loaded %d vectors (%s, generation %d) from %s", count, built_with, generation, directory)
        return out
