"""Lexical (BM25) index over paragraphs, updated in place.

Design (measured against bm25s, tantivy and SQLite FTS5 in docs/retrieval-notes.md):

* Terms come from `rag.text.tokenize`: syllables + within-phrase syllable bigrams in matching form, and a folded
  twin of every term for accent-less queries.
* The index is a list of immutable *segments*. Each holds a term-major CSR matrix of precomputed BM25 term
  weights (the tf part, `bm25_tf`), the document lengths, the pids and a live mask. `add` builds a new small
  segment; `remove` clears live bits. Small segments are merged when there are too many, and everything is
  rebuilt from the stored term frequencies when deletions or additions drift too far from the base.
* Every segment belongs to one *level* (the classification rank of its paragraphs: 0 public ... 3 tối mật), and
  the levels never share a segment. A search at level L reads the segments of levels 0..L only: IDF comes from
  their live document frequencies and their document count, and each level's tf part, merges and rebuilds
  depend on that level's paragraphs alone. So a caller's scores and ranking depend only on what the caller may
  see: adding, changing or removing a paragraph above their clearance changes nothing they can observe
  (docs/security.md, "Side channels").
* IDF is computed at query time from the live document frequencies of the searched segments, so it always
  reflects the current collection. The tf part uses the average length of its level at the time the segment
  was built; merges refresh it.
* Search gathers the postings of the query terms per segment, sums them with `np.bincount`, clears documents that
  are removed or not allowed *before* ranking, and keeps the k best.
* Terms are stored as 64-bit blake2b hashes (sorted, looked up with `np.searchsorted`), not Python strings: a
  100,000-paragraph index has millions of distinct bigrams, and strings in a dict would cost ~10x the memory and
  seconds at load. Two terms sharing a hash (odds about 1e-7 for 3 million terms) would share postings.
* Files: one set of `.npy` arrays per segment (no pickle), written once and never changed; the live masks and a
  JSON manifest are written per save. A save writes temp files, fsyncs, renames, and
  replaces the manifest last, so a crash leaves the previous generation readable.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from hashlib import blake2b
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import StoreError
from rag.index.durable import fsync_dir, pause_point, private_dir, write_atomic
from rag.text.tokenize import BIGRAM_JOINER, TOKENIZER_VERSION, fold_term, query_terms, tokenize

log = logging.getLogger(__name__)

FORMAT = "vankien-lexical"
FORMAT_VERSION = 2  # 2: segments carry a level (statistics per visibility)
MANIFEST = "manifest.json"

#: Title terms count this many times (a simple BM25F: one length normalisation over the weighted fields).
#: Measured: weight 2 adds +2 to +4 Hit@1 on statutes (titles name the law and article), neutral on wiki/regulation.
TITLE_WEIGHT = 2
#: At most this many segments per level; beyond it the small ones are merged into one.
MAX_SEGMENTS = 8
#: A full rebuild (exact average length, dead postings dropped) happens once the documents outside the largest
#: segment, or the removed documents still stored, exceed this fraction of the live documents.
REBUILD_FRACTION = 0.25

# Documents tokenised per chunk in `add` (bounds the memory held by term strings of a large batch).
_CHUNK = 2048

_USER_MESSAGE = "Chỉ mục từ khóa bị thiếu hoặc hỏng; hãy dựng lại chỉ mục (vankien ingest)."

Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BM25Params:
    """Ranking constants (chosen in docs/retrieval-notes.md on two data sets; flat optimum, rounded values).

    Attributes:
        k1: term-frequency saturation of syllables (Lucene's default; 0.9-1.5 measured equal).
        k1_bigram: saturation of bigrams: a repeated phrase is weaker new evidence than a repeated syllable
            (0.5 measured +1.5 Hit@1 on statutes, neutral on wiki/regulation).
        b: length normalisation (Lucene's default).
        fold_blend: for a query with diacritics, the weight of the folded-term score added to the exact-term
            score; it rescues words typed without marks inside an accented query, while exact matches still
            dominate ("Đảng" and "đang" fold alike).
    """

    k1: float = 1.2
    k1_bigram: float = 0.5
    b: float = 0.75
    fold_blend: float = 0.5


def bm25_idf(df: FloatArray, n_docs: int) -> FloatArray:
    """Lucene's BM25 idf, log(1 + (N - df + 0.5) / (df + 0.5)): never negative, so common terms add a little."""
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def bm25_tf(tf: npt.NDArray[Any], dl: npt.NDArray[Any], avgdl: float, k1: npt.NDArray[Any], b: float) -> FloatArray:
    """The tf part of BM25, tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)), per posting."""
    tf64 = tf.astype(np.float64)
    norm = 1.0 - b + b * dl.astype(np.float64) / max(avgdl, 1e-9)
    result: FloatArray = tf64 * (k1 + 1.0) / (tf64 + k1 * norm)
    return result


def top_k(scores: FloatArray, pids: Int64Array, k: int) -> list[tuple[int, float]]:
    """The k (pid, score) pairs with the highest positive score, best first; ties go to the smaller pid."""
    cand = np.flatnonzero(scores > 0)
    if cand.size > k:
        # argpartition keeps any k of the tied boundary scores; widen to every tie so the pid order decides.
        kth = np.partition(scores[cand], cand.size - k)[cand.size - k]
        cand = cand[scores[cand] >= kth]
    order = np.lexsort((pids[cand], -scores[cand]))[:k]
    return [(int(pids[cand[i]]), float(scores[cand[i]])) for i in order]


def term_hashes(terms: Sequence[str]) -> npt.NDArray[np.uint64]:
    """Deterministic 64-bit keys of terms (blake2b, the same in every process, unlike `hash()`)."""
    return np.fromiter(
        (int.from_bytes(blake2b(t.encode("utf-8"), digest_size=8).digest(), "little") for t in terms),
        dtype=np.uint64,
        count=len(terms),
    )


class _Segment:
    """Postings of a batch of documents (immutable), plus their live mask and live document frequencies.

    Rows are terms in increasing hash order; `indptr[r]:indptr[r + 1]` slices `docs` (local document numbers,
    increasing), `tf` (title-weighted term frequency) and `weight` (`bm25_tf` at `avgdl_ref`, the average length
    of the segment's level). `level` is the classification rank every document of the segment has.
    """

    __slots__ = (
        "avgdl_ref",
        "bigram",
        "df",
        "dl",
        "docs",
        "hashes",
        "indptr",
        "level",
        "live",
        "name",
        "pids",
        "tf",
        "weight",
    )

    def __init__(
        self,
        name: str,
        hashes: npt.NDArray[np.uint64],
        bigram: npt.NDArray[np.bool_],
        indptr: Int64Array,
        docs: npt.NDArray[np.int32],
        tf: npt.NDArray[np.uint16],
        weight: npt.NDArray[np.float32],
        pids: Int64Array,
        dl: npt.NDArray[np.float32],
        avgdl_ref: float,
        live: npt.NDArray[np.bool_],
        level: int = 0,
    ) -> None:
        self.name = name
        self.level = level
        self.hashes = hashes
        self.bigram = bigram
        self.indptr = indptr
        self.docs = docs
        self.tf = tf
        self.weight = weight
        self.pids = pids
        self.dl = dl
        self.avgdl_ref = avgdl_ref
        self.live = live
        self.df = self._row_sums(live)

    def _row_sums(self, doc_mask: npt.NDArray[np.bool_]) -> Int64Array:
        """Per term, how many of its postings fall on documents in `doc_mask`."""
        if not self.hashes.size:
            return np.zeros(0, dtype=np.int64)
        # Every row has at least one posting, so reduceat sums exactly each row's slice.
        sums: Int64Array = np.add.reduceat(doc_mask[self.docs].astype(np.int64), self.indptr[:-1])
        return sums

    @property
    def n_live(self) -> int:
        return int(np.count_nonzero(self.live))

    def rows(self, hashes: npt.NDArray[np.uint64]) -> Int64Array:
        """Row of each hash, -1 where the segment lacks the term."""
        pos = np.searchsorted(self.hashes, hashes)
        found = pos < self.hashes.size
        found[found] = self.hashes[pos[found]] == hashes[found]
        return np.where(found, pos, -1).astype(np.int64)

    def kill(self, local: npt.NDArray[np.intp]) -> None:
        """Mark documents removed and take them out of the document frequencies."""
        dead = np.zeros(len(self.pids), dtype=np.bool_)
        dead[local] = True
        self.live[local] = False
        self.df -= self._row_sums(dead)


@dataclass(frozen=True, slots=True)
class _Batch:
    """Postings of a batch of texts before they become a segment (see `_from_postings`)."""

    ids: npt.NDArray[np.int32]
    id_hashes: npt.NDArray[np.uint64]
    id_bigram: npt.NDArray[np.bool_]
    docs: npt.NDArray[np.int32]
    tf: npt.NDArray[np.int32]
    lengths: npt.NDArray[np.float32]

    def subset(self, keep: npt.NDArray[np.intp]) -> _Batch:
        """The postings of the texts at positions `keep` (increasing), renumbered 0..len(keep)-1."""
        new_doc = np.full(self.lengths.size, -1, dtype=np.int32)
        new_doc[keep] = np.arange(keep.size, dtype=np.int32)
        mask = new_doc[self.docs] >= 0
        return _Batch(
            ids=self.ids[mask],
            id_hashes=self.id_hashes,
            id_bigram=self.id_bigram,
            docs=new_doc[self.docs[mask]],
            tf=self.tf[mask],
            lengths=self.lengths[keep],
        )


#: Postings of paragraphs tokenised ahead of `LexicalIndex.add` (`LexicalIndex.tokenize`).
TokenizedBatch = _Batch


def _tokenize_batch(texts: Sequence[str], titles: Sequence[str] | None) -> _Batch:
    """Tokenise texts into (term id, doc, tf) postings for their exact terms and the folded twins.

    Works in chunks so that the term strings of a large batch never all live at once; folded twins are derived
    once per distinct term rather than per occurrence.
    """
    vocab: defaultdict[str, int] = defaultdict()
    vocab.default_factory = vocab.__len__  # unseen term -> next id, all inside dict lookups (C speed)
    n = len(texts)
    lengths = np.zeros(n, dtype=np.float32)
    id_parts: list[npt.NDArray[np.int32]] = []
    doc_parts: list[npt.NDArray[np.int32]] = []
    tf_parts: list[npt.NDArray[np.int32]] = []
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        ids: list[int] = []
        counts: list[int] = []
        for i in range(start, stop):
            terms = tokenize(texts[i])
            length = len(terms)
            if titles is not None and titles[i]:
                title_terms = tokenize(titles[i])
                terms.extend(title_terms * TITLE_WEIGHT)
                length += len(title_terms) * TITLE_WEIGHT
            lengths[i] = length
            ids.extend(map(vocab.__getitem__, terms))
            counts.append(len(terms))
        local = np.repeat(np.arange(stop - start, dtype=np.int64), counts)
        key, tf = np.unique(np.asarray(ids, dtype=np.int64) * _CHUNK + local, return_counts=True)
        id_parts.append((key // _CHUNK).astype(np.int32))
        doc_parts.append((key % _CHUNK + start).astype(np.int32))
        tf_parts.append(tf.astype(np.int32))
    exact_terms = list(vocab)
    n_exact = len(exact_terms)
    folded_vocab: defaultdict[str, int] = defaultdict()
    folded_vocab.default_factory = folded_vocab.__len__
    folded_of = np.fromiter((n_exact + folded_vocab[fold_term(t)] for t in exact_terms), dtype=np.int32, count=n_exact)
    bigram = np.fromiter((BIGRAM_JOINER in t for t in exact_terms), dtype=np.bool_, count=n_exact)
    folded_bigram = np.zeros(len(folded_vocab), dtype=np.bool_)
    folded_bigram[folded_of - n_exact] = bigram
    exact_ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int32)
    docs = np.concatenate(doc_parts) if doc_parts else np.zeros(0, dtype=np.int32)
    tf_all = np.concatenate(tf_parts) if tf_parts else np.zeros(0, dtype=np.int32)
    return _Batch(
        ids=np.concatenate([exact_ids, folded_of[exact_ids]]),
        id_hashes=np.concatenate([term_hashes(exact_terms), term_hashes(list(folded_vocab))]),
        id_bigram=np.concatenate([bigram, folded_bigram]),
        docs=np.concatenate([docs, docs]),
        tf=np.concatenate([tf_all, tf_all]),
        lengths=lengths,
    )


def _from_postings(
    name: str,
    ids: npt.NDArray[np.int32],
    id_hashes: npt.NDArray[np.uint64],
    id_bigram: npt.NDArray[np.bool_],
    docs: npt.NDArray[np.int32],
    tf: npt.NDArray[np.int32],
    pids: Int64Array,
    dl: npt.NDArray[np.float32],
    avgdl: float,
    params: BM25Params,
    level: int = 0,
) -> _Segment:
    """Sum (term id, doc, tf) postings into a term-major CSR segment whose rows are sorted by term hash.

    `id_hashes[i]` is the hash of term id i; ids sharing a hash (the folded twins of "bàn" and "bán") merge.
    """
    n_docs = max(len(pids), 1)
    hashes, id_row = np.unique(id_hashes, return_inverse=True)
    key = id_row[ids].astype(np.int64) * n_docs + docs
    order = np.argsort(key)
    key = key[order]
    if key.size:
        starts = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
        summed = np.add.reduceat(tf[order], starts)
    else:
        starts = np.zeros(0, dtype=np.int64)
        summed = np.zeros(0, dtype=np.int32)
    del order
    key = key[starts]
    row_of = key // n_docs
    out_docs = (key % n_docs).astype(np.int32)
    del key
    bigram = np.zeros(hashes.size, dtype=np.bool_)
    bigram[id_row] = id_bigram
    per_row = np.bincount(row_of, minlength=hashes.size)
    used = per_row > 0
    if not used.all():  # terms whose postings were all dropped (merging removed documents) get no row
        hashes, bigram, per_row = hashes[used], bigram[used], per_row[used]
        row_of = (np.cumsum(used) - 1)[row_of]
    indptr = np.zeros(hashes.size + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    tf16 = np.minimum(summed, np.iinfo(np.uint16).max).astype(np.uint16)
    k1 = np.where(bigram, params.k1_bigram, params.k1)[row_of]
    weight = bm25_tf(tf16, dl[out_docs], avgdl, k1, params.b).astype(np.float32)
    live = np.ones(len(pids), np.bool_)
    return _Segment(name, hashes, bigram, indptr, out_docs, tf16, weight, pids, dl, avgdl, live, level)


def _merged_segment(
    snapshot: Sequence[tuple[_Segment, npt.NDArray[np.bool_]]], avgdl: float, params: BM25Params, name: str
) -> _Segment:
    """One segment holding the documents live in `snapshot` (segments of one level with a copy of their live
    masks), its tf part at `avgdl`. Reads only immutable arrays and the copies: no lock needed."""
    level = snapshot[0][0].level
    assert all(seg.level == level for seg, _ in snapshot), "segments of different levels never merge"
    id_parts: list[npt.NDArray[np.int32]] = []
    doc_parts: list[npt.NDArray[np.int32]] = []
    tf_parts: list[npt.NDArray[np.int32]] = []
    id_base = 0
    doc_base = 0
    for seg, live in snapshot:
        keep = live[seg.docs]
        rows = np.repeat(np.arange(seg.hashes.size, dtype=np.int32), np.diff(seg.indptr))[keep]
        new_local = (np.cumsum(live) - 1).astype(np.int32)
        id_parts.append(rows + np.int32(id_base))
        doc_parts.append(new_local[seg.docs[keep]] + np.int32(doc_base))
        tf_parts.append(seg.tf[keep].astype(np.int32))
        id_base += seg.hashes.size
        doc_base += int(np.count_nonzero(live))
    return _from_postings(
        name,
        np.concatenate(id_parts),
        np.concatenate([seg.hashes for seg, _ in snapshot]),
        np.concatenate([seg.bigram for seg, _ in snapshot]),
        np.concatenate(doc_parts),
        np.concatenate(tf_parts),
        np.concatenate([seg.pids[live] for seg, live in snapshot]),
        np.concatenate([seg.dl[live] for seg, live in snapshot]),
        avgdl,
        params,
        level,
    )


class LexicalIndex:
    """BM25 over syllables + bigrams (exact and folded), with in-place add/remove and crash-safe files.

    Thread-safe: every public method holds an internal lock while it reads or changes the segments, so a search
    never sees a half-applied add or remove (tokenising an added batch happens outside the lock). One process
    writes a given directory at a time.

    Example:
        >>> idx = LexicalIndex()
        >>> idx.add([1, 2], ["Nghị quyết về chuyển đổi số", "Phòng, chống tham nhũng"])
        >>> [pid for pid, _ in idx.search("chuyen doi so", k=5)]
        [1]
    """

    def __init__(self, params: BM25Params | None = None) -> None:
        self.params = params or BM25Params()
        self._segments: list[_Segment] = []
        self._where: dict[int, tuple[_Segment, int]] = {}  # live pid -> (segment, local doc)
        self._generation = 0
        self._next_segment = 0
        self._persisted: dict[str, set[str]] = {}  # directory -> names of segments whose files it holds
        self._lock = threading.RLock()
        #: Paragraphs (live or not) the last search went through: its work depends only on the levels it may read.
        self.last_scanned = 0

    # ------------------------------------------------------------------------------------------ state

    def __len__(self) -> int:
        return len(self._where)

    @property
    def generation(self) -> int:
        """The generation last saved or loaded (0 for an index never saved)."""
        return self._generation

    def __contains__(self, pid: object) -> bool:
        return pid in self._where

    def _new_name(self) -> str:
        # The counter keeps names readable and ordered; the random part keeps two indexes saved into one directory
        # (a rebuild beside an old copy) from ever writing over each other's files.
        self._next_segment += 1
        return f"seg-{self._next_segment % 1_000_000:06d}-{os.urandom(4).hex()}"

    def _avgdl(self, level: int, extra_total: float = 0.0, extra_n: int = 0) -> float:
        """Average length of the live documents of one level (plus a batch about to join it)."""
        total = extra_total
        n = extra_n
        for s in self._segments:
            if s.level == level:
                total += float(s.dl[s.live].sum())
                n += s.n_live
        return total / n if n else 1.0

    def levels(self) -> dict[int, int]:
        """Live paragraphs per level."""
        with self._lock:
            counts: dict[int, int] = {}
            for s in self._segments:
                counts[s.level] = counts.get(s.level, 0) + s.n_live
            return counts

    # -------------------------------------------------------------------------------------- updates

    @staticmethod
    def tokenize(texts: Sequence[str], titles: Sequence[str] | None = None) -> TokenizedBatch:
        """Tokenise paragraphs for a later `add(..., tokens=)`: the slow part of an addition, which needs no lock
        (a caller holding its own lock while it applies a change tokenises first)."""
        if titles is not None and len(titles) != len(texts):
            raise ValueError("texts and titles must have the same length")
        return _tokenize_batch(texts, titles)

    def add(
        self,
        pids: Sequence[int],
        texts: Sequence[str],
        titles: Sequence[str] | None = None,
        *,
        tokens: TokenizedBatch | None = None,
        levels: Sequence[int] | None = None,
        maintain: bool = True,
    ) -> None:
        """Index paragraphs; a pid that is already indexed is replaced.

        Args:
            pids: unique int64 paragraph ids.
            texts: display texts (normalised here).
            titles: optional context per paragraph (document title, section heading), weighted `TITLE_WEIGHT`.
            tokens: `tokenize(texts, titles)` computed beforehand (then it is not done again).
            levels: the level (classification rank, >= 0) of each paragraph; None: all 0. Paragraphs of
                different levels go to different segments.
            maintain: merge or rebuild segments afterwards (`maintain`); False: the caller does, outside any
                section that keeps searches out.

        Raises:
            ValueError: lengths differ, a pid repeats within the call, or a level is negative.
        """
        if len(pids) != len(texts) or (titles is not None and len(titles) != len(texts)):
            raise ValueError("pids, texts and titles must have the same length")
        if tokens is not None and tokens.lengths.size != len(pids):
            raise ValueError("tokens were computed for another number of paragraphs")
        if levels is not None and len(levels) != len(pids):
            raise ValueError("pids and levels must have the same length")
        if len(pids) == 0:  # not `if not pids`: numpy arrays are accepted too
            return
        pid_arr = np.asarray(pids, dtype=np.int64)
        if np.unique(pid_arr).size != pid_arr.size:
            raise ValueError("duplicate pids in one add() call")
        level_arr = np.zeros(pid_arr.size, dtype=np.int64) if levels is None else np.asarray(levels, dtype=np.int64)
        if level_arr.size and int(level_arr.min()) < 0:
            raise ValueError("levels must be >= 0")
        # The slow parts, outside the lock: searches go on meanwhile.
        batch = tokens if tokens is not None else _tokenize_batch(texts, titles)
        self.attach(self.build(pid_arr, batch, level_arr), maintain=maintain)

    def build(
        self, pids: Sequence[int] | Int64Array, tokens: TokenizedBatch, levels: Sequence[int] | Int64Array | None = None
    ) -> list[_Segment]:
        """The segments (one per level) that `attach` will add: the postings sorted and weighted without the lock,
        so only the attachment itself keeps searches out. Their length normalisation uses each level's average
        length now, with the batch.

        Raises:
            ValueError: `tokens` was computed for another number of paragraphs, or a level is negative.
        """
        pid_arr = np.asarray(pids, dtype=np.int64)
        if tokens.lengths.size != pid_arr.size:
            raise ValueError("tokens were computed for another number of paragraphs")
        level_arr = np.zeros(pid_arr.size, dtype=np.int64) if levels is None else np.asarray(levels, dtype=np.int64)
        if level_arr.size != pid_arr.size or (level_arr.size and int(level_arr.min()) < 0):
            raise ValueError("one level >= 0 per paragraph")
        parts: list[tuple[int, _Batch, Int64Array]] = []
        for level in np.unique(level_arr).tolist():
            keep = np.flatnonzero(level_arr == level)
            sub = tokens if keep.size == pid_arr.size else tokens.subset(keep)
            parts.append((int(level), sub, pid_arr[keep]))
        with self._lock:
            plans = [
                (self._new_name(), self._avgdl(level, float(sub.lengths.sum()), len(level_pids)))
                for level, sub, level_pids in parts
            ]
        return [
            _from_postings(
                name, sub.ids, sub.id_hashes, sub.id_bigram, sub.docs, sub.tf, level_pids, sub.lengths, avgdl,
                self.params, level,
            )  # fmt: skip
            for (level, sub, level_pids), (name, avgdl) in zip(parts, plans, strict=True)
        ]

    def attach(self, segments: Sequence[_Segment], *, maintain: bool = True) -> None:
        """Add segments from `build` (their pids replace any already indexed); quick, under the lock."""
        with self._lock:
            for seg in segments:
                self._remove_locked([p for p in seg.pids.tolist() if p in self._where])
                self._segments.append(seg)
                for local, pid in enumerate(seg.pids.tolist()):
                    self._where[pid] = (seg, local)
        if maintain:
            self.maintain()

    def remove(self, pids: Iterable[int], *, maintain: bool = True) -> None:
        """Remove paragraphs; pids that are not indexed are ignored. `maintain`: merge or rebuild segments after
        (False: the caller calls `maintain` itself, outside any section that keeps searches out)."""
        with self._lock:
            self._remove_locked(pids)
        if maintain:
            self.maintain()

    def _remove_locked(self, pids: Iterable[int]) -> None:
        by_segment: dict[int, tuple[_Segment, list[int]]] = {}
        for pid in pids:
            hit = self._where.pop(int(pid), None)
            if hit is not None:
                seg, local = hit
                by_segment.setdefault(id(seg), (seg, []))[1].append(local)
        for seg, locals_ in by_segment.values():
            seg.kill(np.asarray(locals_, dtype=np.intp))

    def _plan_locked(self) -> list[_Segment] | None:
        """Drop empty segments, then the first group of one level that needs merging: all of the level's segments
        when its base has drifted too far (documents outside the largest segment, or removed ones still stored,
        beyond `REBUILD_FRACTION`), its small segments when there are more than `MAX_SEGMENTS`; None when none.

        Each level decides from its own segments only, so what happens at one level never changes the scores of
        another (a merge refreshes the tf part)."""
        self._segments = [s for s in self._segments if s.n_live > 0]
        for level in sorted({s.level for s in self._segments}):
            group = [s for s in self._segments if s.level == level]
            n_live = sum(s.n_live for s in group)
            largest = max(group, key=lambda s: s.n_live)
            outside = n_live - largest.n_live
            dead = sum(len(s.pids) - s.n_live for s in group)
            if (len(group) > 1 and outside > REBUILD_FRACTION * n_live) or dead > REBUILD_FRACTION * n_live:
                return group
            if len(group) > MAX_SEGMENTS:
                return [s for s in group if s is not largest]
        return None

    def maintain(self) -> None:
        """Merge and rebuild segments until no level needs it (see `_plan_locked`).

        A merge is built from the segments' immutable postings and a copy of their live masks without the lock, so
        searches go on while a large level is rebuilt; the lock is held only to plan and to swap the merged
        segment in. A paragraph removed or replaced meanwhile is dead in the merged segment too."""
        while True:
            with self._lock:
                group = self._plan_locked()
                if group is None:
                    return
                snapshot = [(seg, seg.live.copy()) for seg in group]
                avgdl = self._avgdl(group[0].level)
                name = self._new_name()
            merged = _merged_segment(snapshot, avgdl, self.params, name)
            with self._lock:
                self._swap_locked(group, merged)

    def _swap_locked(self, group: list[_Segment], merged: _Segment) -> bool:
        """Put `merged` in place of `group` (False when a segment of the group has gone meanwhile)."""
        members = {id(s) for s in group}
        if not members <= {id(s) for s in self._segments}:
            return False
        self._segments = [s for s in self._segments if id(s) not in members] + [merged]
        gone: list[int] = []
        for local, pid in enumerate(merged.pids.tolist()):
            hit = self._where.get(pid)
            if hit is not None and id(hit[0]) in members:
                self._where[pid] = (merged, local)
            else:  # removed, or replaced in a newer segment, after the merge started
                gone.append(local)
        if gone:
            merged.kill(np.asarray(gone, dtype=np.intp))
        log.debug("merged %d segments into %s (%d paragraphs)", len(group), merged.name, merged.n_live)
        return True

    def optimize(self) -> None:
        """Merge the segments of each level into one with exact current lengths (scores then equal a fresh
        build)."""
        with self._lock:
            for level in sorted({s.level for s in self._segments}):
                group = [s for s in self._segments if s.level == level]
                snapshot = [(seg, seg.live.copy()) for seg in group]
                merged = _merged_segment(snapshot, self._avgdl(level), self.params, self._new_name())
                self._swap_locked(group, merged)

    # --------------------------------------------------------------------------------------- search

    def search(
        self, query: str, k: int, allowed: npt.NDArray[np.int64] | None = None, level: int | None = None
    ) -> list[tuple[int, float]]:
        """Return up to k (pid, score) pairs, best first; only documents with a positive score.

        Args:
            query: the user's text, with or without diacritics.
            k: number of results, > 0.
            allowed: sorted int64 pids that may be returned (filters, access control); None allows all. A pid
                outside it is cleared before ranking, so it never takes a place in the result.
            level: search the levels 0..level only, with statistics (idf, document count) over those levels
                alone; None: every level. Give the caller's clearance rank so that nothing above it can
                change the caller's scores.

        Raises:
            ValueError: k <= 0.
        """
        if k <= 0:
            raise ValueError(f"k must be positive, got {k}")
        qt = query_terms(query)
        weights: dict[str, float] = {}
        if qt.accented:
            for t in qt.exact:
                weights[t] = weights.get(t, 0.0) + 1.0
            if self.params.fold_blend > 0:
                for t in qt.folded:
                    weights[t] = weights.get(t, 0.0) + self.params.fold_blend
        else:
            for t in qt.folded:
                weights[t] = weights.get(t, 0.0) + 1.0
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if allowed.size > 1 and np.any(allowed[1:] < allowed[:-1]):
                allowed = np.sort(allowed)
        with self._lock:
            if not self._where or not weights:
                return []
            return self._search_locked(weights, k, allowed, self._visible(level))

    def _visible(self, level: int | None) -> list[_Segment]:
        return self._segments if level is None else [s for s in self._segments if s.level <= level]

    def _search_locked(
        self, weights: dict[str, float], k: int, allowed: npt.NDArray[np.int64] | None, segments: list[_Segment]
    ) -> list[tuple[int, float]]:
        self.last_scanned = sum(len(seg.pids) for seg in segments)
        n_docs = sum(seg.n_live for seg in segments)
        if n_docs == 0:
            return []
        hashes = term_hashes(list(weights))
        qweight = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        rows_per_segment = [seg.rows(hashes) for seg in segments]
        df = np.zeros(hashes.size, dtype=np.float64)
        for seg, rows in zip(segments, rows_per_segment, strict=True):
            found = rows >= 0
            df[found] += seg.df[rows[found]]
        factor = bm25_idf(df, n_docs) * qweight
        best: list[tuple[int, float]] = []
        for seg, rows in zip(segments, rows_per_segment, strict=True):
            scores = _segment_scores(seg, rows, factor)
            if scores is None:
                continue
            scores[~seg.live] = 0.0
            if allowed is not None:
                cand = np.flatnonzero(scores > 0)
                pos = np.searchsorted(allowed, seg.pids[cand])
                ok = pos < allowed.size
                ok[ok] = allowed[pos[ok]] == seg.pids[cand[ok]]
                scores[cand[~ok]] = 0.0
            best.extend(top_k(scores, seg.pids, k))
        best.sort(key=lambda x: (-x[1], x[0]))
        return best[:k]

    def idf(self, terms: Sequence[str], level: int | None = None) -> list[float]:
        """Return the BM25 idf (`bm25_idf`, live document frequencies) of each term, in order.

        Read-only; lets a second stage (`rag.retrieve.rerank`) weigh query terms exactly as the search does.

        Args:
            terms: terms as the index stores them: exact terms of `rag.text.tokenize.tokenize` or their folded
                twins (`fold_term`). A term no paragraph contains gets the largest value, log(2N + 2).
            level: statistics over the levels 0..level only, as `search`; None: every level.

        Returns:
            One float per term; all 0.0 for an empty index.
        """
        if not terms:
            return []
        hashes = term_hashes(list(terms))
        df = np.zeros(hashes.size, dtype=np.float64)
        with self._lock:
            segments = self._visible(level)
            n_docs = sum(seg.n_live for seg in segments)
            if n_docs == 0:
                return [0.0] * len(terms)
            for seg in segments:
                rows = seg.rows(hashes)
                found = rows >= 0
                df[found] += seg.df[rows[found]]
        result: list[float] = bm25_idf(df, n_docs).tolist()
        return result

    # ------------------------------------------------------------------------------------ persistence

    def save(self, directory: Path, generation: int) -> None:
        """Write the index to `directory` crash-safely and record `generation` in the manifest.

        Segment files are written once (temp file, fsync, rename) and never rewritten; live masks are written per
        save; the manifest is replaced last, and only then are files it no longer names deleted. A crash at any
        point leaves the previous manifest and every file it names intact.
        """
        directory = Path(directory)
        private_dir(directory)
        # Under the lock only the list of segments and copies of their live masks (segments are immutable
        # otherwise): writing a large new segment's files takes seconds, and searches go on meanwhile. One save at a
        # time (the store's lock).
        with self._lock:
            state = [(seg, seg.live.copy()) for seg in self._segments]
            next_segment = self._next_segment
            n_live = len(self._where)
        have = self._persisted.setdefault(str(directory.resolve()), set())
        token = os.urandom(4).hex()
        entries: list[dict[str, Any]] = []
        for seg, live in state:
            if seg.name not in have or not (directory / f"{seg.name}.docs.npy").exists():
                for part in _PARTS:
                    write_atomic(directory / f"{seg.name}.{part}.npy", getattr(seg, part), pause="lexical.temp_written")
                have.add(seg.name)
            live_file = f"{seg.name}.live.{token}.npy"
            write_atomic(directory / live_file, live, pause="lexical.temp_written")
            pause_point("lexical.segment_written")
            entries.append(
                {
                    "name": seg.name,
                    "n_docs": len(seg.pids),
                    "n_terms": int(seg.hashes.size),
                    "nnz": int(seg.docs.size),
                    "avgdl_ref": seg.avgdl_ref,
                    "level": seg.level,
                    "live": live_file,
                }
            )
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "generation": int(generation),
            "params": asdict(self.params),
            "title_weight": TITLE_WEIGHT,
            "tokenizer": TOKENIZER_VERSION,
            "next_segment": next_segment,
            "n_live": n_live,
            "segments": entries,
        }
        pause_point("lexical.before_manifest")
        write_atomic(directory / MANIFEST, json.dumps(manifest, indent=1).encode("utf-8"), pause="lexical.temp_written")
        fsync_dir(directory)
        pause_point("lexical.before_cleanup")
        self._generation = int(generation)
        keep = {MANIFEST, *(e["live"] for e in entries)}
        keep.update(f"{e['name']}.{part}.npy" for e in entries for part in _PARTS)
        for path in directory.iterdir():
            if _OWN_FILE.match(path.name) and path.name not in keep:
                path.unlink(missing_ok=True)
        have.intersection_update(e["name"] for e in entries)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        """Read an index written by `save`.

        Raises:
            StoreError: the manifest is missing, unreadable, of another format, version or tokenizer, or a file is
                missing or inconsistent with it.
        """
        directory = Path(directory)
        try:
            manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"no lexical index at {directory} ({MANIFEST} missing)", _USER_MESSAGE) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"unreadable lexical manifest in {directory}: {exc}", _USER_MESSAGE) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StoreError(f"{directory / MANIFEST} is not a lexical index manifest", _USER_MESSAGE)
        if manifest.get("version") != FORMAT_VERSION or manifest.get("tokenizer") != TOKENIZER_VERSION:
            raise StoreError(
                f"lexical index in {directory} has format {manifest.get('version')!r} / tokenizer "
                f"{manifest.get('tokenizer')!r}; this program reads {FORMAT_VERSION} / {TOKENIZER_VERSION}",
                _USER_MESSAGE,
            )
        try:
            index = cls(BM25Params(**manifest["params"]))
            index._generation = int(manifest["generation"])
            index._next_segment = int(manifest["next_segment"])
            for entry in manifest["segments"]:
                seg = _load_segment(directory, entry)
                index._segments.append(seg)
                for local in np.flatnonzero(seg.live).tolist():
                    pid = int(seg.pids[local])
                    if pid in index._where:
                        raise ValueError(f"pid {pid} is live in two segments")
                    index._where[pid] = (seg, local)
            if len(index._where) != int(manifest["n_live"]):
                raise ValueError(f"{len(index._where)} live paragraphs, manifest says {manifest['n_live']}")
        except (KeyError, TypeError, ValueError, OSError, EOFError) as exc:
            raise StoreError(f"corrupt lexical index in {directory}: {exc}", _USER_MESSAGE) from exc
        index._persisted[str(directory.resolve())] = {s.name for s in index._segments}
        return index


# Immutable per-segment arrays, each in "<segment>.<part>.npy".
_PARTS = ("hashes", "bigram", "indptr", "docs", "tf", "weight", "pids", "dl")
_SEGMENT_NAME = r"seg-\d{6}-[0-9a-f]{8}"
_OWN_FILE = re.compile(
    rf"^(?:{_SEGMENT_NAME}\.(?:{'|'.join(_PARTS)}|live\.[0-9a-f]+)\.npy|{re.escape(MANIFEST)})"
    r"(?:\.tmp-\d+)?$"
)


def _segment_scores(seg: _Segment, rows: Int64Array, factor: FloatArray) -> FloatArray | None:
    """Sum idf x query weight x tf part over the postings of the query terms, per local document."""
    doc_parts: list[npt.NDArray[np.int32]] = []
    weight_parts: list[npt.NDArray[np.float32]] = []
    for row, f in zip(rows.tolist(), factor.tolist(), strict=True):
        if row < 0:
            continue
        lo, hi = int(seg.indptr[row]), int(seg.indptr[row + 1])
        doc_parts.append(seg.docs[lo:hi])
        weight_parts.append(seg.weight[lo:hi] * np.float32(f))
    if not doc_parts:
        return None
    scores = np.bincount(np.concatenate(doc_parts), weights=np.concatenate(weight_parts), minlength=len(seg.pids))
    return scores.astype(np.float64, copy=False)


def _load_array(path: Path, dtype: type[np.generic], length: int) -> npt.NDArray[Any]:
    arr: npt.NDArray[Any] = np.load(path, allow_pickle=False)
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1 or arr.shape[0] != length:
        raise ValueError(f"{path.name}: expected {length} x {np.dtype(dtype)}, found {arr.shape} x {arr.dtype}")
    return arr


def _load_segment(directory: Path, entry: dict[str, Any]) -> _Segment:
    name = str(entry["name"])
    if not re.fullmatch(_SEGMENT_NAME, name):
        raise ValueError(f"bad segment name {name!r}")
    live_file = str(entry["live"])
    if not _OWN_FILE.match(live_file) or not live_file.startswith(name + ".live."):
        raise ValueError(f"bad live-mask file name {live_file!r}")
    n_docs, n_terms, nnz = int(entry["n_docs"]), int(entry["n_terms"]), int(entry["nnz"])
    arrays: dict[str, npt.NDArray[Any]] = {}
    expected = {
        "hashes": (np.uint64, n_terms),
        "bigram": (np.bool_, n_terms),
        "indptr": (np.int64, n_terms + 1),
        "docs": (np.int32, nnz),
        "tf": (np.uint16, nnz),
        "weight": (np.float32, nnz),
        "pids": (np.int64, n_docs),
        "dl": (np.float32, n_docs),
    }
    for part, (dtype, length) in expected.items():
        arrays[part] = _load_array(directory / f"{name}.{part}.npy", dtype, length)
    live = _load_array(directory / live_file, np.bool_, n_docs)
    hashes, indptr, docs = arrays["hashes"], arrays["indptr"], arrays["docs"]
    if n_terms and np.any(hashes[1:] <= hashes[:-1]):
        raise ValueError(f"{name}: term hashes not strictly increasing")
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) <= 0):
        raise ValueError(f"{name}: inconsistent postings offsets")
    if nnz and (int(docs.min()) < 0 or int(docs.max()) >= n_docs):
        raise ValueError(f"{name}: document number out of range")
    avgdl_ref = float(entry["avgdl_ref"])
    if not math.isfinite(avgdl_ref) or avgdl_ref <= 0:
        raise ValueError(f"{name}: bad average length {avgdl_ref}")
    level = int(entry["level"])
    if level < 0:
        raise ValueError(f"{name}: bad level {level}")
    return _Segment(
        name,
        hashes,
        arrays["bigram"],
        indptr,
        docs,
        arrays["tf"],
        arrays["weight"],
        arrays["pids"],
        arrays["dl"],
        avgdl_ref,
        live,
        level,
    )
