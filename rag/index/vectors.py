"""Dense vectors of paragraphs in FAISS, keyed by int64 paragraph ids, saved crash-safely without pickle.

Vectors are L2-normalised, so inner product is cosine similarity. Each classification level has its own FAISS
index, of one of two kinds chosen by its size (benchmarks/bench_ann.py, docs/decisions.md "Vectors at scale"):

* ``flat``: exact search (`IndexIDMap2` over `IndexFlatIP`), below `ANN_FROM` vectors;
* ``ivf``: an inverted file (`IndexIVFFlat`, `ivf_lists(n)` lists, a hash-table direct map so that vectors can be
  removed and read back), from `ANN_FROM` vectors on. It is built by `maintain()` while searches go on, and rebuilt
  when its level has grown `ANN_REBUILD_GROWTH` times since its lists were trained. A search probes `ANN_PROBE`
  lists, more under a restrictive filter, all of them when asked for an exact answer.

HNSW was not chosen: it cannot remove vectors, and paragraphs are deleted and replaced in place.

Files in the index directory:

* ``vectors.json``: the manifest, replaced last (the commit point): format and version, the embedder `name` and
  `dim` that built the vectors, the vector count, the generation recorded by the catalog, per level the base
  file's name, kind, vector count, size and SHA-256, and the list of deltas written since;
* ``vectors-g<generation>-<token>-l<level>.faiss``: `faiss.write_index` output (FAISS's own binary format, no
  pickle), one base file per level that has vectors;
* ``vectors-g<generation>-<token>-d.npz``: a delta (numpy arrays, loaded with pickling refused): the pids removed
  since the previous save, then the vectors added, per level. A small ingest writes a delta instead of rewriting
  every base file; the bases are rewritten (and the deltas dropped) when the deltas hold more than a quarter of
  the vectors or number `MAX_DELTAS`. Loading replays the deltas in order over the bases.

Format 1 (one file ``vectors-g<generation>-<token>.faiss`` for all levels) and 2 (no deltas) are still read; a
format-1 snapshot's vectors are moved to their levels when the store opens it.

A crash at any moment leaves the previous manifest and the files it names intact; files no manifest names are
deleted after the next successful save.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from rag.errors import EmbedderMismatch, MissingDependency, StoreError
from rag.index.durable import PRIVATE_FILE, fsync_dir, pause_point, private_dir, write_atomic

logger = logging.getLogger(__name__)

FORMAT: Final = "vankien-vectors"
FORMAT_VERSION: Final = 3  # 3: deltas and ivf levels; 2: one file per level; 1: one file, read as all level 0
READABLE_VERSIONS: Final = (1, 2, 3)
MANIFEST: Final = "vectors.json"
INDEX_TYPE: Final = "IDMap2,Flat"  # the kind "flat"; "ivf" levels are IVF<lists>,Flat
METRIC: Final = "inner_product"

#: A level with at least this many vectors is searched through an inverted file instead of exactly. Exact search
#: costs ~0.11 ms per 1,000 vectors here (one thread): ~22 ms at this size, 112 ms at a million.
ANN_FROM: Final = 200_000
#: Lists probed per search of an ivf level (recall@10 against exact search: benchmarks/bench_ann.py).
ANN_PROBE: Final = 32
#: An ivf level is retrained once it holds this many times the vectors its lists were trained on.
ANN_REBUILD_GROWTH: Final = 4
#: Deltas kept before the bases are rewritten (they also are once the deltas hold a quarter of the vectors).
MAX_DELTAS: Final = 64

_FILE_RE: Final = re.compile(
    r"^vectors-g\d+-[0-9a-f]{8}(?:-l\d+\.faiss|-d\.npz|\.faiss)(?:\.tmp-\d+)?$|^vectors\.json\.tmp-\d+$"
)
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


def ivf_lists(n: int) -> int:
    """Inverted lists for an ivf level of `n` vectors: the power of two nearest 2 x sqrt(n) (2,048 at a million)."""
    return int(2 ** round(np.log2(max(2.0, 2.0 * np.sqrt(max(n, 1))))))


def _is_ivf(index: Any) -> bool:
    return bool(isinstance(index, _faiss().IndexIVF))


def _level_ids(index: Any) -> Int64Array:
    """The ids stored in one level's FAISS index (IDMap2 or IVF)."""
    faiss = _faiss()
    if not _is_ivf(index):
        return np.asarray(faiss.vector_to_array(index.id_map), dtype=np.int64)
    lists = index.invlists
    parts = [
        faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).astype(np.int64)
        for i in range(index.nlist)
        if lists.list_size(i)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class VectorIndex:
    """Cosine search over paragraph vectors with in-place add, replace and remove, one FAISS index per level.

    Every vector belongs to one *level* (the classification rank of its paragraph: 0 public ... 3 tối mật), and
    each level has its own index (flat, or ivf from `ANN_FROM` vectors on: module docstring). A search at level L
    reads levels 0..L only, so its cost, like its result, depends only on what the caller may see: a restricted
    upload does not make a public caller's search slower (docs/security.md, "Side channels"). Every public method
    takes an internal lock, so a search never sees a half-applied add or remove.

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
        self._indexes: dict[int, Any] = {}  # level -> IndexIDMap2 over IndexFlatIP, or IndexIVFFlat
        self._trained: dict[int, int] = {}  # ivf level -> vectors it held when its lists were trained
        self._level: dict[int, int] = {}  # pid -> level
        self._generation = 0
        self._lock = threading.RLock()
        # What the next save must write: pids added and removed since the last one, or everything (`_rewrite`).
        self._added: set[int] = set()
        self._removed: set[int] = set()
        self._rewrite = True
        # The snapshot on disk that the next delta extends: directory, base entries, delta entries.
        self._saved_dir: Path | None = None
        self._bases: list[dict[str, Any]] = []
        self._deltas: list[dict[str, Any]] = []
        self._touched: set[int] | None = None  # pids changed while `maintain` builds a level
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

    def kinds(self) -> dict[int, str]:
        """The kind of each level's index: "flat" (exact) or "ivf<lists>" (levels without vectors left out)."""
        with self._lock:
            return {
                level: f"ivf{index.nlist}" if _is_ivf(index) else "flat"
                for level, index in sorted(self._indexes.items())
                if index.ntotal
            }

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
            self._add_locked(pid_arr, vecs, level_arr)

    def _add_locked(self, pid_arr: Int64Array, vecs: Float32Array, level_arr: Int64Array) -> None:
        for level in np.unique(level_arr).tolist():
            keep = level_arr == level
            self._level_index(int(level)).add_with_ids(np.ascontiguousarray(vecs[keep]), pid_arr[keep])
            self._level.update(dict.fromkeys(pid_arr[keep].tolist(), int(level)))
        added = pid_arr.tolist()
        self._added.update(added)
        if self._touched is not None:
            self._touched.update(added)

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
            index = self._indexes[level]
            ids = np.ascontiguousarray(level_pids, dtype=np.int64)
            # An ivf level's hash-table direct map removes by an id array only.
            selector = faiss.IDSelectorArray(ids) if _is_ivf(index) else faiss.IDSelectorBatch(ids)
            removed += int(index.remove_ids(selector))
            for pid in level_pids:
                del self._level[pid]
        if removed != present.size:  # the pid map and FAISS disagree: a bug, not a user error
            raise StoreError(f"vector index removed {removed} of {present.size} known pids")
        gone = present.tolist()
        self._removed.update(gone)
        if self._touched is not None:
            self._touched.update(gone)
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
                self._add_locked(moving, vecs, wanted[wanted != current])
            self.unlevelled = False
            return int(moving.size)

    # ---------------------------------------------------------------------------------- maintenance

    def _plan(self) -> list[tuple[int, int]]:
        """(level, lists wanted: 0 for flat) for each level whose kind should change."""
        plan = []
        for level, index in self._indexes.items():
            n = int(index.ntotal)
            if _is_ivf(index):
                if n < ANN_FROM // 2:
                    plan.append((level, 0))
                elif n >= ANN_REBUILD_GROWTH * self._trained.get(level, n):
                    plan.append((level, ivf_lists(n)))
            elif n >= ANN_FROM:
                plan.append((level, ivf_lists(n)))
        return plan

    def maintain(self) -> list[tuple[int, str]]:
        """Give each level the index its size calls for (flat below `ANN_FROM`, ivf from there; an ivf level is
        retrained after growing `ANN_REBUILD_GROWTH` times). Returns (level, new kind) for each level rebuilt.

        The new index is trained and filled from copies taken in short locked steps while searches, adds and removes
        go on; what changed meanwhile is applied to it in the brief locked swap. One rebuild at a time (callers
        serialise: the store's vector worker)."""
        with self._lock:
            plan = self._plan()
        done = []
        for level, lists in plan:
            rebuilt = self._rebuild(level, lists)
            if rebuilt is not None:
                done.append((level, rebuilt))
        return done

    def _rebuild(self, level: int, lists: int) -> str | None:
        faiss = _faiss()
        with self._lock:
            if (level, lists) not in self._plan():
                return None
            pids = np.array([p for p, lv in self._level.items() if lv == level], dtype=np.int64)
            self._touched = set()
        try:
            rng = np.random.default_rng(level)
            if lists:
                new = faiss.index_factory(self._dim, f"IVF{lists},Flat", faiss.METRIC_INNER_PRODUCT)
                new.cp.niter = 10  # k-means iterations: 10 train as well as FAISS's 25 here, 2.5 x faster
                new.cp.min_points_per_centroid = 1  # a level just over the threshold has fewer than 40 per list
                sample = np.sort(rng.choice(pids, min(pids.size, 40 * lists), replace=False))
                with self._lock:
                    sample_vecs = self._current(sample, level)
                new.train(sample_vecs)
                del sample_vecs
            else:
                new = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim))
            for start in range(0, pids.size, 65_536):
                with self._lock:
                    chunk = np.array([p for p in pids[start : start + 65_536].tolist() if self._level.get(p) == level])
                    vecs = self._current(chunk.astype(np.int64), level)
                new.add_with_ids(vecs, chunk.astype(np.int64))
            if lists:
                new.set_direct_map_type(faiss.DirectMap.Hashtable)
            with self._lock:
                touched = np.array(sorted(self._touched), dtype=np.int64)
                if touched.size:  # changed during the build: take what the live index holds now
                    present = np.asarray(_level_ids(new), dtype=np.int64)
                    stale = np.intersect1d(touched, present)
                    if stale.size:
                        sel = faiss.IDSelectorArray(stale) if lists else faiss.IDSelectorBatch(stale)
                        new.remove_ids(sel)
                    live = np.array([p for p in touched.tolist() if self._level.get(p) == level], dtype=np.int64)
                    if live.size:
                        new.add_with_ids(self._current(live, level), live)
                live_count = int(self._indexes[level].ntotal)  # the live index holds the level as it is now
                if int(new.ntotal) != live_count:  # a bug, not a user error: the live index stays in place
                    raise StoreError(
                        f"rebuilt vector level {level} holds {new.ntotal} vectors, the live one {live_count}"
                    )
                self._indexes[level] = new
                if lists:
                    self._trained[level] = int(new.ntotal)
                else:
                    self._trained.pop(level, None)
                self._rewrite = True  # the base files no longer describe this level
        finally:
            with self._lock:
                self._touched = None
        kind = f"ivf{lists}" if lists else "flat"
        logger.info("vector level %d rebuilt as %s (%d vectors)", level, kind, pids.size)
        return kind

    def _current(self, pids: Int64Array, level: int) -> Float32Array:
        """Vectors of `pids`, all at `level` (lock held)."""
        if pids.size == 0:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.ascontiguousarray(self._indexes[level].reconstruct_batch(pids), dtype=np.float32)

    # --------------------------------------------------------------------------------------- search

    def search(
        self,
        query: npt.ArrayLike,
        k: int,
        allowed: Int64Array | None = None,
        level: int | None = None,
        *,
        exact: bool = False,
    ) -> list[tuple[int, float]]:
        """Return up to k (pid, score) pairs, best first; score is the inner product (cosine) in [-1, 1].

        Args:
            query: one vector of shape (dim,) from the same embedder.
            k: number of results, > 0. Fewer come back when fewer vectors (or allowed pids) exist.
            allowed: sorted int64 pids that may be returned (filters, access control); None allows all. The
                restriction is applied inside the FAISS scan (an ID selector), so a disallowed vector is never
                scored or ranked. An empty array returns nothing. An ivf level probes more lists the fewer of its
                vectors may be returned (all of them below 1 / `ANN_PROBE` of the level).
            level: scan levels 0..level only (None: every level).
            exact: probe every list of an ivf level (the exact answer, at the cost of a full scan).

        Raises:
            ValueError: k <= 0 or a query of the wrong shape.
        """
        q = np.ascontiguousarray(query, dtype=np.float32)
        if q.shape != (self._dim,):
            raise ValueError(f"query must have shape ({self._dim},), got {q.shape}")
        return self.search_batch(q[None, :], k, allowed, level, exact=exact)[0]

    def search_batch(
        self,
        queries: npt.ArrayLike,
        k: int,
        allowed: Int64Array | None = None,
        level: int | None = None,
        *,
        exact: bool = False,
    ) -> list[list[tuple[int, float]]]:
        """`search` for a batch of queries, shape (m, dim); one result list per query, in order."""
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        qs = np.ascontiguousarray(queries, dtype=np.float32)
        if qs.ndim != 2 or qs.shape[1] != self._dim:
            raise ValueError(f"queries must have shape (m, {self._dim}), got {qs.shape}")
        if not np.isfinite(qs).all():
            raise ValueError("query vectors contain NaN or infinity")
        faiss = _faiss()
        selector = None
        if allowed is not None:
            allowed = _as_pids(allowed)
            if allowed.size == 0:
                return [[] for _ in range(qs.shape[0])]
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed))
            k = min(k, allowed.size)
        out: list[list[tuple[int, float]]] = [[] for _ in range(qs.shape[0])]
        with self._lock:
            if qs.shape[0] == 0:
                return out
            # OpenMP's thread count is per calling thread: a few queries scan fastest on one thread (2 threads
            # measured 16.7 ms against 5.9 for one query over 84,000 x 384 here); batches use every core.
            faiss.omp_set_num_threads(1 if qs.shape[0] < _PARALLEL_QUERIES else _CORES)
            scanned = 0
            self.last_scanned = 0  # vectors the last search compared the query with (ivf: the probed share)
            for lvl, index in sorted(self._indexes.items()):
                n = int(index.ntotal)
                if (level is not None and lvl > level) or n == 0:
                    continue
                if _is_ivf(index):
                    probe = index.nlist if exact else ANN_PROBE
                    if allowed is not None and allowed.size < n:  # a filter leaves fewer candidates per list
                        probe = int(np.ceil(probe * n / allowed.size))
                    probe = min(probe, int(index.nlist))
                    params = faiss.SearchParametersIVF(nprobe=probe, sel=selector)
                    self.last_scanned += n * probe // int(index.nlist)
                else:
                    params = None if selector is None else faiss.SearchParameters(sel=selector)
                    self.last_scanned += n
                scores, labels = index.search(qs, min(k, n), params=params)
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
        levels = np.fromiter((self._level[p] for p in pid_arr.tolist()), dtype=np.int64, count=pid_arr.size)
        for level in np.unique(levels).tolist():
            at = np.flatnonzero(levels == level)
            out[at] = self._current(np.ascontiguousarray(pid_arr[at]), int(level))
        return out

    # ------------------------------------------------------------------------------------ persistence

    def _on_disk_files(self, directory: Path) -> list[str] | None:
        """The files the manifest in `directory` names now (None: no readable manifest)."""
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
            return [e["file"] for e in manifest.get("levels", [])] + [e["file"] for e in manifest.get("deltas", [])]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None

    def save(self, directory: Path | str, generation: int) -> None:
        """Write the index to `directory` crash-safely and record `generation` in the manifest.

        Writes a delta (what changed since the last save) when the directory holds the snapshot this index last
        loaded or saved and the deltas stay small; otherwise rewrites every level's base file. New files get new
        names (temp file, fsync, rename), then the manifest is replaced (temp file, fsync, rename, directory fsync)
        and only then are files it no longer names deleted.
        """
        if generation < 0:
            raise ValueError("generation must be >= 0")
        faiss = _faiss()
        directory = Path(directory)
        private_dir(directory)
        mine = [e["file"] for e in self._bases] + [e["file"] for e in self._deltas]
        on_disk = self._on_disk_files(directory)  # callers hold the directory's writer lock: it cannot change now
        # Only the copy is made under the lock (searches wait for it: ~0.1 s per 100,000 vectors); writing,
        # fsync and hashing the files, seconds for a large index, happen while searches go on.
        with self._lock:
            count = len(self._level)
            changed = len(self._added) + len(self._removed)
            in_deltas = sum(int(e["added"]) + int(e["removed"]) for e in self._deltas)
            full = (
                self._rewrite
                or self._saved_dir != directory.resolve()
                or len(self._deltas) >= MAX_DELTAS
                or 4 * (in_deltas + changed) > count
                or on_disk != mine  # another process saved here since
            )
            kinds = {lv: ("ivf" if _is_ivf(ix) else "flat") for lv, ix in self._indexes.items()}
            trained = dict(self._trained)
            if full:
                blobs = [
                    (level, int(index.ntotal), faiss.serialize_index(index))
                    for level, index in sorted(self._indexes.items())
                    if index.ntotal
                ]
                delta = None
            else:
                blobs = []
                alive = np.array(sorted(p for p in self._added if p in self._level), dtype=np.int64)
                arrays: dict[str, np.ndarray] = {"removed": np.array(sorted(self._removed), dtype=np.int64)}
                levels = np.fromiter((self._level[p] for p in alive.tolist()), dtype=np.int64, count=alive.size)
                for level in np.unique(levels).tolist():
                    at = np.ascontiguousarray(alive[levels == level])
                    arrays[f"pids_{level}"] = at
                    arrays[f"vecs_{level}"] = self._current(at, int(level))
                delta = (arrays, int(alive.size), len(self._removed))
            self._added, self._removed, self._rewrite = set(), set(), False
        token = os.urandom(4).hex()
        written: list[Path] = []
        try:
            bases: list[dict[str, Any]] = []
            deltas: list[dict[str, Any]] = list(self._deltas)
            for level, level_count, blob in blobs:
                name = f"vectors-g{generation:06d}-{token}-l{level}.faiss"
                entry = self._write_file(directory, name, memoryview(blob), written)
                base = {"level": level, "kind": kinds[level], "count": level_count, **entry}
                if level in trained:
                    base["trained"] = trained[level]
                bases.append(base)
            if delta is not None:
                arrays, n_added, n_removed = delta
                buffer = io.BytesIO()
                np.savez(buffer, allow_pickle=False, **arrays)
                entry = self._write_file(
                    directory, f"vectors-g{generation:06d}-{token}-d.npz", buffer.getbuffer(), written
                )
                deltas.append({"added": n_added, "removed": n_removed, **entry})
                bases = list(self._bases)
            else:
                deltas = []
        except (OSError, RuntimeError) as exc:
            for path in written:
                path.unlink(missing_ok=True)
            with self._lock:
                self._rewrite = True  # what was taken for this save is written by the next one, in full
            raise StoreError(
                f"cannot write vector index to {directory}: {exc}",
                "Không ghi được chỉ mục vectơ (kiểm tra dung lượng đĩa và quyền ghi).",
            ) from exc
        wrote = "a delta" if delta is not None else f"{len(bases)} level files"
        del blobs, delta
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "embedder": self._embedder,
            "dim": self._dim,
            "count": count,
            "generation": int(generation),
            "index_type": INDEX_TYPE,
            "metric": METRIC,
            "levels": bases,
            "deltas": deltas,
        }
        pause_point("vectors.before_manifest")
        try:
            write_atomic(directory / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"))
            fsync_dir(directory)
        except BaseException:
            with self._lock:
                self._rewrite = True
            raise
        pause_point("vectors.before_cleanup")
        self._generation = int(generation)
        self._saved_dir, self._bases, self._deltas = directory.resolve(), bases, deltas
        keep = {e["file"] for e in bases} | {e["file"] for e in deltas}
        for path in directory.iterdir():
            if path.name not in keep and _FILE_RE.match(path.name):
                path.unlink(missing_ok=True)
        logger.info("saved %d vectors (%s, generation %d): %s", count, self._embedder, generation, wrote)

    @staticmethod
    def _write_file(directory: Path, name: str, data: memoryview, written: list[Path]) -> dict[str, Any]:
        final = directory / name
        tmp = directory / f"{name}.tmp-{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            pause_point("vectors.temp_written")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(final)
        return {"file": name, "bytes": final.stat().st_size, "sha256": _sha256(final)}

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
            deltas = list(manifest.get("deltas", []))
            delta_files = [(str(e["file"]), int(e["bytes"]), str(e["sha256"]), int(e["added"])) for e in deltas]
            trained = {int(e["level"]): int(e["trained"]) for e in entries if "trained" in e}
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"incomplete vector manifest in {directory}: {exc}", _CORRUPT_USER) from exc
        if expected_dim is not None and dim != expected_dim:
            raise EmbedderMismatch(
                f"vector index in {directory} has dimension {dim}, the embedder gives {expected_dim}",
                f"Chỉ mục vectơ có {dim} chiều nhưng bộ nhúng đang dùng cho {expected_dim} chiều; {_REBUILD_HINT}.",
            )
        in_bases = sum(c for _, _, c, _, _ in parsed)
        if (in_bases != count and not delta_files) or len({lv for lv, *_ in parsed}) != len(parsed):
            raise StoreError(f"vector manifest in {directory} does not add up", _CORRUPT_USER)
        out = cls(dim, expected_embedder)
        faiss = _faiss()
        for level, name, level_count, size, checksum in parsed:
            path = cls._checked_file(directory, name, size, checksum, verify)
            try:
                index = faiss.read_index(str(path))  # returns the concrete class (IndexIDMap2, IndexIVFFlat), owning it
            except RuntimeError as exc:
                raise StoreError(f"cannot read vector index file {path}: {exc}", _CORRUPT_USER) from exc
            ivf = isinstance(index, faiss.IndexIVFFlat) and index.direct_map.type == faiss.DirectMap.Hashtable
            if (
                level < 0
                or not (ivf or isinstance(index, faiss.IndexIDMap2))
                or index.d != dim
                or (index.ntotal != level_count)
            ):
                raise StoreError(
                    f"vector index file {path} holds {type(index).__name__} d={index.d} n={index.ntotal}, "
                    f"the manifest says {INDEX_TYPE} or IVF d={dim} n={level_count}",
                    _CORRUPT_USER,
                )
            ids = _level_ids(index).tolist()
            before = len(out._level)
            out._level.update(dict.fromkeys(ids, level))
            if len(out._level) != before + len(ids):
                raise StoreError(f"vector index file {path} holds duplicate pids", _CORRUPT_USER)
            out._indexes[level] = index
            if ivf:
                out._trained[level] = trained.get(level, level_count)
        for name, size, checksum, added in delta_files:
            out._replay(cls._checked_file(directory, name, size, checksum, verify), added)
        if len(out._level) != count:
            raise StoreError(f"vector manifest in {directory} does not add up", _CORRUPT_USER)
        out._generation = generation
        out.unlevelled = manifest["version"] == 1
        out._added, out._removed = set(), set()
        out._rewrite = manifest["version"] == 1
        out._saved_dir = directory.resolve()
        out._bases = [dict(e) for e in entries] if manifest["version"] != 1 else []
        out._deltas = [dict(e) for e in deltas]
        logger.info("loaded %d vectors (%s, generation %d) from %s", count, built_with, generation, directory)
        return out

    @staticmethod
    def _checked_file(directory: Path, name: str, size: int, checksum: str, verify: bool) -> Path:
        path = directory / name
        if "/" in name or "\\" in name or not path.is_file():
            raise StoreError(f"vector index file {path} named by the manifest is missing", _CORRUPT_USER)
        if path.stat().st_size != size or (verify and _sha256(path) != checksum):
            raise StoreError(f"vector index file {path} does not match its manifest (size or SHA-256)", _CORRUPT_USER)
        return path

    def _replay(self, path: Path, added: int) -> None:
        """Apply one delta file: its removals, then its additions."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise StoreError(f"cannot read vector delta {path}: {exc}", _CORRUPT_USER) from exc
        try:
            removed = _as_pids(arrays.pop("removed"))
            self.remove(removed)
            total = 0
            for key in sorted(k for k in arrays if k.startswith("pids_")):
                level = int(key.removeprefix("pids_"))
                pids, vecs = _as_pids(arrays[key]), arrays[f"vecs_{level}"]
                self.add(pids, vecs, [level] * pids.size)
                total += pids.size
        except (KeyError, ValueError) as exc:
            raise StoreError(f"malformed vector delta {path}: {exc}", _CORRUPT_USER) from exc
        if total != added:
            raise StoreError(
                f"vector delta {path} holds {total} vectors, its manifest entry says {added}", _CORRUPT_USER
            )
