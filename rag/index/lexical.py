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
import os
import re
import threading
from collections import Counter, defaultdict
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
FORMAT_VERSION = 3  # 2: segments carry a level (statistics per visibility); 3: no stored weights (query time)
#: Versions this program reads: a version-2 index has one more file per segment (its precomputed weights), which is
#: ignored, and the next save drops it.
READABLE_VERSIONS = (2, 3)
MANIFEST = "manifest.json"

#: Title terms count this many times (a simple BM25F: one length normalisation over the weighted fields).
#: Measured: weight 2 adds +2 to +4 Hit@1 on statutes (titles name the law and article), neutral on wiki/regulation.
TITLE_WEIGHT = 2
#: Merge policy (`LexicalIndex._plan_locked`): segments of a level fall in size tiers, tier t holding segments of
#: FLOOR_SEGMENT x MERGE_FACTOR^t to FLOOR_SEGMENT x MERGE_FACTOR^(t + 1) live paragraphs (smaller ones in tier 0);
#: a tier with more than SEGMENTS_PER_TIER segments merges its MERGE_FACTOR smallest.
SEGMENTS_PER_TIER = 4
MERGE_FACTOR = 4
FLOOR_SEGMENT = 4096
#: A segment is rewritten without its removed documents once they exceed this fraction of it.
DEAD_FRACTION = 0.25

# Documents tokenised per chunk in `add` (bounds the memory held by term strings of a large batch).
_CHUNK = 2048

#: A paragraph looked up in the query's lists (a binary search per term and segment) costs about as much as this
#: many postings read in a full pass: below that, a search restricted to a few paragraphs looks them up.
_LOOKUP_COST = 16

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


def query_weights(query: str, params: BM25Params) -> dict[str, float]:
    """A query's terms with their weights: exact terms (and their folded twins at `fold_blend`) when the query has
    diacritics, folded terms otherwise. Shared by every backend that ranks with these terms (`rag.index.postgres`)."""
    qt = query_terms(query)
    weights: dict[str, float] = {}
    if qt.accented:
        for t in qt.exact:
            weights[t] = weights.get(t, 0.0) + 1.0
        if params.fold_blend > 0:
            for t in qt.folded:
                weights[t] = weights.get(t, 0.0) + params.fold_blend
    else:
        for t in qt.folded:
            weights[t] = weights.get(t, 0.0) + 1.0
    return weights


def weighted_terms(text: str, title: str | None = None) -> list[str]:
    """A paragraph's exact terms as the index counts them: its own, then its title's (context) `TITLE_WEIGHT`
    times; their number is the paragraph's BM25 length. Folded twins are not included (`fold_term` gives them)."""
    terms = tokenize(text)
    if title:
        terms.extend(tokenize(title) * TITLE_WEIGHT)
    return terms


def document_terms(text: str, title: str = "") -> tuple[dict[str, int], int]:
    """A paragraph's exact terms with their frequencies and its BM25 length (`weighted_terms`)."""
    terms = weighted_terms(text, title)
    return dict(Counter(terms)), len(terms)


def kth_largest(values: npt.NDArray[Any], k: int) -> float:
    """The k-th largest of `values` (1 <= k <= values.size), exactly.

    np.partition reads and reorders the whole array: ~1 ms for 150,000 scores, paid several times per search over
    a large index. The k-th largest of a strided sample is a lower bound of the answer (a sample's k-th largest
    cannot exceed the whole's), so the values at or above it hold the answer and are usually a few hundred."""
    n = values.size
    if n > 64 * k:
        sample = values[:: n // (16 * k)]
        floor = np.partition(sample, sample.size - k)[sample.size - k]
        values = values[values >= floor]
        n = values.size
    return float(np.partition(values, n - k)[n - k])


def top_k(scores: FloatArray, pids: Int64Array, k: int) -> list[tuple[int, float]]:
    """The k (pid, score) pairs with the highest positive score, best first; ties go to the smaller pid."""
    cand = np.flatnonzero(scores > 0)
    if cand.size > k:
        # argpartition keeps any k of the tied boundary scores; widen to every tie so the pid order decides.
        kth = kth_largest(scores[cand], k)
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
    """Postings of a batch of documents (immutable arrays), plus their live mask and live statistics.

    Rows are terms in increasing hash order; `indptr[r]:indptr[r + 1]` slices `docs` (local document numbers,
    increasing) and `tf` (title-weighted term frequency). `dl` is each document's length. The BM25 tf part is
    computed at query time from `tf`, `dl` and the current average length of the level, so scores stay exact
    after any sequence of adds and removes. `level` is the classification rank every document of the segment has.
    Loaded segments map their arrays from disk (`np.load(mmap_mode="r")`); only the live mask is in memory.
    """

    __slots__ = (
        "_by_pid",
        "_norm",
        "bigram",
        "changes",
        "df",
        "dl",
        "dl_live",
        "docs",
        "hashes",
        "indptr",
        "level",
        "live",
        "mapped",
        "n_live",
        "name",
        "pids",
        "tf",
    )

    def __init__(
        self,
        name: str,
        hashes: npt.NDArray[np.uint64],
        bigram: npt.NDArray[np.bool_],
        indptr: Int64Array,
        docs: npt.NDArray[np.int32],
        tf: npt.NDArray[np.uint16],
        pids: Int64Array,
        dl: npt.NDArray[np.float32],
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
        self.pids = pids
        self.dl = dl
        self.live = live
        self.n_live = int(np.count_nonzero(live))
        self.dl_live = float(np.asarray(dl, dtype=np.float64)[live].sum())
        self.df = self._row_sums(live)
        self._norm: tuple[float, npt.NDArray[np.float32]] | None = None
        self._by_pid: tuple[Int64Array, Int64Array | None] | None = None
        #: Incremented by every `kill`: a save rewrites the live mask only when it changed since the last one.
        self.changes = 0
        #: The `_MAPPED` arrays are read from the segment's files (`_load_segment`, `map_files`), not held in memory.
        self.mapped = False

    def map_files(self, directory: Path) -> None:
        """Read the `_MAPPED` arrays from the segment's files in `directory` (just written by `LexicalIndex.save`)
        instead of memory, as a freshly opened index does.

        A segment built or merged in this process holds its postings in anonymous memory for as long as it lives,
        where the same index opened afresh maps them: a server that applied a large upload kept ~150 MB more than
        a fresh one (docs/reliability.md). The files hold the same values (segments are immutable), so a search
        that reads an old array and a new one in turn sees one segment either way."""
        if self.mapped:
            return
        for part in _MAPPED:  # each file checked against the array it replaces: same dtype, same length
            array = getattr(self, part)
            path = directory / f"{self.name}.{part}.npy"
            setattr(self, part, _load_array(path, array.dtype.type, array.shape[0], mapped=True).view(np.ndarray))
        self._by_pid = None  # it may hold the array in memory
        self.mapped = True

    def _pid_order(self) -> tuple[Int64Array, Int64Array | None]:
        """The segment's pids sorted, and the local document of each (None: `pids` is sorted already). Computed on
        first use and kept: the pids never change."""
        cached = self._by_pid
        if cached is None:
            pids = np.asarray(self.pids)
            if pids.size < 2 or bool(np.all(pids[1:] > pids[:-1])):
                cached = (pids, None)
            else:
                order = np.argsort(pids, kind="stable").astype(np.int64)
                cached = (pids[order], order)
            self._by_pid = cached
        return cached

    def live_locals(self, pids: Int64Array) -> Int64Array:
        """Local documents of those of `pids` that are live in this segment."""
        sorted_pids, order = self._pid_order()
        if not sorted_pids.size or not pids.size:
            return np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_pids, pids), sorted_pids.size - 1)
        found = sorted_pids[pos] == pids
        local: Int64Array = (pos[found] if order is None else order[pos[found]]).astype(np.int64)
        return local[self.live[local]]

    def _row_sums(self, doc_mask: npt.NDArray[np.bool_]) -> Int64Array:
        """Per term, how many of its postings fall on documents in `doc_mask`."""
        if not self.hashes.size:
            return np.zeros(0, dtype=np.int64)
        if doc_mask.all():
            return np.diff(np.asarray(self.indptr)).astype(np.int64)
        out = np.zeros(self.hashes.size, dtype=np.int64)
        # In bounded slices of rows: a mapped segment's postings are read once, without a full-size temporary.
        for lo_row, hi_row in _row_chunks(self.indptr):
            lo, hi = int(self.indptr[lo_row]), int(self.indptr[hi_row])
            # Every row has at least one posting, so reduceat sums exactly each row's slice.
            out[lo_row:hi_row] = np.add.reduceat(
                doc_mask[self.docs[lo:hi]], np.asarray(self.indptr[lo_row:hi_row]) - lo, dtype=np.int64
            )
        return out

    def rows(self, hashes: npt.NDArray[np.uint64]) -> Int64Array:
        """Row of each hash, -1 where the segment lacks the term."""
        pos = np.searchsorted(self.hashes, hashes)
        found = pos < self.hashes.size
        found[found] = self.hashes[pos[found]] == hashes[found]
        return np.where(found, pos, -1).astype(np.int64)

    def kill(self, local: npt.NDArray[np.intp]) -> None:
        """Mark documents removed and take them out of the document frequencies and the live statistics."""
        local = np.unique(local)
        local = local[self.live[local]]
        if not local.size:
            return
        dead = np.zeros(len(self.pids), dtype=np.bool_)
        dead[local] = True
        self.live[local] = False
        self.changes += 1
        self.n_live -= int(local.size)
        self.dl_live -= float(np.asarray(self.dl[local], dtype=np.float64).sum())
        if self.n_live == 0:
            self.dl_live = 0.0
        self.df -= self._row_sums(dead)

    def norm(self, avgdl: float, b: float) -> npt.NDArray[np.float32]:
        """Per document, BM25's length normalisation 1 - b + b * dl / avgdl (cached for the last avgdl)."""
        cached = self._norm
        if cached is None or cached[0] != avgdl:
            dl = np.asarray(self.dl, dtype=np.float32)
            cached = (avgdl, ((1.0 - b) + (b / max(avgdl, 1e-9)) * dl).astype(np.float32))
            self._norm = cached
        return cached[1]


def _tier(n_live: int) -> int:
    """Size tier of a segment of `n_live` paragraphs (see `SEGMENTS_PER_TIER`)."""
    tier, bound = 0, FLOOR_SEGMENT * MERGE_FACTOR
    while n_live >= bound:
        tier += 1
        bound *= MERGE_FACTOR
    return tier


#: Postings per slice when a segment's arrays are walked (merges, document frequencies): bounds the temporaries.
_POSTINGS_PER_SLICE = 4_000_000


def _row_chunks(indptr: npt.NDArray[np.int64]) -> Iterable[tuple[int, int]]:
    """Consecutive row ranges [lo, hi) of about `_POSTINGS_PER_SLICE` postings each (at least one row)."""
    n_rows = len(indptr) - 1
    lo = 0
    while lo < n_rows:
        target = int(indptr[lo]) + _POSTINGS_PER_SLICE
        hi = int(np.searchsorted(indptr, target, side="right")) - 1
        hi = min(max(hi, lo + 1), n_rows)
        yield lo, hi
        lo = hi


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
            terms = weighted_terms(texts[i], titles[i] if titles is not None else None)
            lengths[i] = len(terms)
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
    level: int = 0,
) -> _Segment:
    """Sum (term id, doc, tf) postings of one batch into a term-major CSR segment whose rows are sorted by hash.

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
    if not used.all():  # a term id whose postings all merged into another's hash row
        hashes, bigram, per_row = hashes[used], bigram[used], per_row[used]
    indptr = np.zeros(hashes.size + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    tf16 = np.minimum(summed, np.iinfo(np.uint16).max).astype(np.uint16)
    live = np.ones(len(pids), np.bool_)
    return _Segment(name, hashes, bigram, indptr, out_docs, tf16, np.asarray(pids, np.int64), dl, live, level)


def _merged_segment(snapshot: Sequence[tuple[_Segment, npt.NDArray[np.bool_]]], name: str) -> _Segment:
    """One segment holding the documents live in `snapshot` (segments of one level, in order, with a copy of
    their live masks). Reads only immutable arrays and the copies: no lock needed.

    No global sort: every input's rows are already sorted by hash and its documents by number, so each merged row
    is the concatenation of the inputs' rows in input order (documents renumbered past the earlier inputs). Two
    passes over the inputs, in slices of rows: count the live postings of every merged row, then copy each
    input's postings to their place. Memory: the output plus one slice, whatever the size of the inputs.
    """
    level = snapshot[0][0].level
    assert all(seg.level == level for seg, _ in snapshot), "segments of different levels never merge"
    union = np.unique(np.concatenate([np.asarray(seg.hashes) for seg, _ in snapshot]))
    counts = np.zeros(union.size + 1, dtype=np.int64)
    bigram = np.zeros(union.size, dtype=np.bool_)
    plans: list[tuple[Int64Array, Int64Array]] = []  # per input: merged row of each of its rows, live postings
    for seg, live in snapshot:
        new_row = np.searchsorted(union, seg.hashes)
        bigram[new_row] = seg.bigram
        kept = np.zeros(seg.hashes.size, dtype=np.int64)
        for lo_row, hi_row in _row_chunks(seg.indptr):
            lo, hi = int(seg.indptr[lo_row]), int(seg.indptr[hi_row])
            offsets = np.asarray(seg.indptr[lo_row:hi_row]) - lo
            kept[lo_row:hi_row] = np.add.reduceat(live[seg.docs[lo:hi]], offsets, dtype=np.int64)
        counts[new_row] += kept  # rows of one input map to distinct merged rows
        plans.append((new_row, kept))
    used = counts[:-1] > 0  # terms whose postings all fell on removed documents get no row
    starts = np.zeros(union.size + 1, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    nnz = int(starts[-1])
    out_docs = np.empty(nnz, dtype=np.int32)
    out_tf = np.empty(nnz, dtype=np.uint16)
    fill = starts[:-1].copy()  # next free position of each merged row
    doc_base = 0
    for (seg, live), (new_row, kept) in zip(snapshot, plans, strict=True):
        new_local = (np.cumsum(live) - 1 + doc_base).astype(np.int32)
        for lo_row, hi_row in _row_chunks(seg.indptr):
            lo, hi = int(seg.indptr[lo_row]), int(seg.indptr[hi_row])
            docs = np.asarray(seg.docs[lo:hi])
            keep = live[docs]
            if not keep.any():
                continue
            row_kept = kept[lo_row:hi_row]
            # The i-th live posting of a row goes to fill[merged row] + i.
            first_of_row = np.repeat(fill[new_row[lo_row:hi_row]], row_kept)
            rank = np.arange(int(row_kept.sum()), dtype=np.int64) - np.repeat(np.cumsum(row_kept) - row_kept, row_kept)
            dest = first_of_row + rank
            out_docs[dest] = new_local[docs[keep]]
            out_tf[dest] = np.asarray(seg.tf[lo:hi])[keep]
            fill[new_row[lo_row:hi_row]] += row_kept
        doc_base += int(np.count_nonzero(live))
    indptr = np.concatenate([starts[:-1][used], [nnz]]).astype(np.int64)
    pids = np.concatenate([np.asarray(seg.pids)[live] for seg, live in snapshot]).astype(np.int64)
    dl = np.concatenate([np.asarray(seg.dl)[live] for seg, live in snapshot]).astype(np.float32)
    return _Segment(
        name, union[used], bigram[used], indptr, out_docs, out_tf, pids, dl, np.ones(pids.size, np.bool_), level
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
        self._generation = 0
        self._next_segment = 0
        self._persisted: dict[str, set[str]] = {}  # directory -> names of segments whose files it holds
        #: directory -> segment name -> (its `changes` when saved, the live-mask file written then)
        self._live_files: dict[str, dict[str, tuple[int, str]]] = {}
        self._lock = threading.RLock()
        #: Paragraphs (live or not) the last search went through: its work depends only on the levels it may read.
        self.last_scanned = 0

    # ------------------------------------------------------------------------------------------ state

    def __len__(self) -> int:
        return sum(s.n_live for s in self._segments)

    @property
    def generation(self) -> int:
        """The generation last saved or loaded (0 for an index never saved)."""
        return self._generation

    def __contains__(self, pid: object) -> bool:
        if not isinstance(pid, int | np.integer):
            return False
        one = np.asarray([pid], dtype=np.int64)
        with self._lock:
            return any(seg.live_locals(one).size for seg in self._segments)

    def _new_name(self) -> str:
        # The counter keeps names readable and ordered; the random part keeps two indexes saved into one directory
        # (a rebuild beside an old copy) from ever writing over each other's files.
        self._next_segment += 1
        return f"seg-{self._next_segment % 1_000_000:06d}-{os.urandom(4).hex()}"

    def _avgdl(self, segments: Sequence[_Segment]) -> dict[int, float]:
        """Average length of the live documents of each level among `segments` (kept up to date by every add and
        remove, so BM25's length normalisation is always the current one)."""
        totals: dict[int, list[float]] = {}
        for s in segments:
            t = totals.setdefault(s.level, [0.0, 0.0])
            t[0] += s.dl_live
            t[1] += s.n_live
        return {level: (total / n if n else 1.0) for level, (total, n) in totals.items()}

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
            names = [self._new_name() for _ in parts]
        return [
            _from_postings(
                name, sub.ids, sub.id_hashes, sub.id_bigram, sub.docs, sub.tf, level_pids, sub.lengths, level
            )
            for (level, sub, level_pids), name in zip(parts, names, strict=True)
        ]

    def attach(self, segments: Sequence[_Segment], *, maintain: bool = True) -> None:
        """Add segments from `build` (their pids replace any already indexed); quick, under the lock. Their length
        normalisation follows the level's average length from then on, like every other segment's."""
        with self._lock:
            for seg in segments:
                self._remove_locked(seg.pids)
                self._segments.append(seg)
        if maintain:
            self.maintain()

    def remove(self, pids: Iterable[int], *, maintain: bool = True) -> None:
        """Remove paragraphs; pids that are not indexed are ignored. `maintain`: merge or rebuild segments after
        (False: the caller calls `maintain` itself, outside any section that keeps searches out)."""
        with self._lock:
            self._remove_locked(pids)
        if maintain:
            self.maintain()

    def _remove_locked(self, pids: Iterable[int] | Int64Array) -> None:
        """Kill every live posting list entry of `pids`: each segment finds them by binary search in its sorted pids
        (a pid is live in one segment at most)."""
        arr = np.unique(np.asarray(pids if isinstance(pids, np.ndarray) else list(pids), dtype=np.int64))
        if not arr.size:
            return
        for seg in self._segments:
            local = seg.live_locals(arr)
            if local.size:
                seg.kill(local.astype(np.intp))

    def _plan_locked(self) -> list[_Segment] | None:
        """Drop empty segments, then the first group of one level that needs merging, or None.

        A tiered policy (Lucene's log-merge idea): a segment whose removed documents exceed `DEAD_FRACTION` of it
        is rewritten alone; otherwise segments are grouped in size tiers (`FLOOR_SEGMENT`, `MERGE_FACTOR`) and a
        tier with more than `SEGMENTS_PER_TIER` segments merges its `MERGE_FACTOR` smallest, the smallest tier
        first. Only segments of similar size merge: a bulk ingest of n paragraphs rewrites each paragraph about
        log(n / batch) / log(MERGE_FACTOR) times, and a one-document ingest into a million paragraphs merges small
        segments only, never the large ones (with a single bound on the segment count, the ninth segment of a
        level merged a one-paragraph segment with three of 150,000). A level holds at most SEGMENTS_PER_TIER
        segments per tier, ~log(n / FLOOR_SEGMENT) / log(MERGE_FACTOR) + 1 tiers. Scores do not depend on how a
        level is split into segments (statistics are computed at query time), so a merge changes no result.

        Each level decides from its own segments only: what happens at one level never touches another."""
        self._segments = [s for s in self._segments if s.n_live > 0]
        for level in sorted({s.level for s in self._segments}):
            group = [s for s in self._segments if s.level == level]
            for seg in group:
                if len(seg.pids) - seg.n_live > DEAD_FRACTION * len(seg.pids):
                    return [seg]
            tiers: dict[int, list[_Segment]] = {}
            for seg in group:
                tiers.setdefault(_tier(seg.n_live), []).append(seg)
            for tier in sorted(tiers):
                members = tiers[tier]
                if len(members) > SEGMENTS_PER_TIER:
                    chosen = {id(s) for s in sorted(members, key=lambda s: s.n_live)[:MERGE_FACTOR]}
                    return [s for s in group if id(s) in chosen]  # in index order: documents keep their order
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
                name = self._new_name()
            merged = _merged_segment(snapshot, name)
            with self._lock:
                self._swap_locked(snapshot, merged)

    def _swap_locked(self, snapshot: Sequence[tuple[_Segment, npt.NDArray[np.bool_]]], merged: _Segment) -> bool:
        """Put `merged` (built from `snapshot`: segments and the live masks the merge read) in place of those
        segments (False when one of them has gone meanwhile). A document removed, or replaced in a newer segment,
        since the merge read the masks is dead in `merged` too."""
        members = {id(s) for s, _ in snapshot}
        if not members <= {id(s) for s in self._segments}:
            return False
        self._segments = [s for s in self._segments if id(s) not in members] + [merged]
        gone: list[Int64Array] = []
        base = 0
        for seg, was in snapshot:
            # The merged segment holds each input's documents live in `was`, in order, after the earlier inputs'.
            died = np.flatnonzero(was & ~seg.live)
            if died.size:
                gone.append(base + np.cumsum(was)[died] - 1)
            base += int(np.count_nonzero(was))
        if gone:
            merged.kill(np.concatenate(gone).astype(np.intp))
        log.debug("merged %d segments into %s (%d paragraphs)", len(snapshot), merged.name, merged.n_live)
        return True

    def optimize(self) -> None:
        """Merge the segments of each level into one (fewest segments to read; scores are the same before and
        after, since they never depend on how the paragraphs are split into segments)."""
        with self._lock:
            self._segments = [s for s in self._segments if s.n_live > 0]
            for level in sorted({s.level for s in self._segments}):
                group = [s for s in self._segments if s.level == level]
                if len(group) == 1 and group[0].n_live == len(group[0].pids):
                    continue
                snapshot = [(seg, seg.live.copy()) for seg in group]
                merged = _merged_segment(snapshot, self._new_name())
                self._swap_locked(snapshot, merged)

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
        weights = self._query_weights(query)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if allowed.size > 1 and np.any(allowed[1:] < allowed[:-1]):
                allowed = np.sort(allowed)
        with self._lock:
            if not weights:
                return []
            return self._search_locked(weights, k, allowed, self._visible(level))

    def _query_weights(self, query: str) -> dict[str, float]:
        return query_weights(query, self.params)

    def scores(self, query: str, pids: Sequence[int] | Int64Array, level: int | None = None) -> dict[int, float]:
        """The BM25 score `search` gives each of `pids` for `query`, whatever its rank (0.0 for a paragraph that
        holds no query term).

        For fusing ranked lists on complete evidence: a paragraph that one retriever found and the other ranked
        below its cut-off gets its real score from both. A pid not indexed, removed, or above `level` is left out.
        The cost is a binary search per query term and segment, not a pass over the postings.
        """
        pid_arr = np.unique(np.asarray(pids, dtype=np.int64))
        weights = self._query_weights(query)
        with self._lock:
            segments = self._visible(level)
            return self._scores_locked(weights, pid_arr, segments)

    def _scores_locked(
        self,
        weights: dict[str, float],
        pid_arr: Int64Array,
        segments: Sequence[_Segment],
        rows_per_segment: Sequence[Int64Array] | None = None,
    ) -> dict[int, float]:
        """BM25 scores of the sorted unique `pid_arr` (those live in `segments`), by a binary search per query term
        and segment. `rows_per_segment`: the query terms' rows in each segment, when the caller has them."""
        out: dict[int, float] = {}
        n_docs = sum(seg.n_live for seg in segments)
        if n_docs == 0 or not pid_arr.size:
            return out
        if rows_per_segment is None:
            hashes = term_hashes(list(weights)) if weights else np.zeros(0, dtype=np.uint64)
            rows_per_segment = [seg.rows(hashes) for seg in segments]
        df = np.zeros(len(weights), dtype=np.float64)
        for seg, rows in zip(segments, rows_per_segment, strict=True):
            found = rows >= 0
            df[found] += seg.df[rows[found]]
        factor = bm25_idf(df, n_docs) * np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        avgdl = self._avgdl(segments)
        for seg, rows in zip(segments, rows_per_segment, strict=True):
            local = seg.live_locals(pid_arr)
            if not local.size:
                continue
            local = np.sort(local)
            total = np.zeros(local.size, dtype=np.float64)
            norm = seg.norm(avgdl[seg.level], self.params.b)
            for i in np.flatnonzero(rows >= 0).tolist():
                row = int(rows[i])
                lo, hi = int(seg.indptr[row]), int(seg.indptr[row + 1])
                term_docs = seg.docs[lo:hi]
                pos = np.searchsorted(term_docs, local)
                hit = pos < hi - lo
                hit[hit] = term_docs[pos[hit]] == local[hit]
                if not hit.any():
                    continue
                k1 = self.params.k1_bigram if seg.bigram[row] else self.params.k1
                tf = np.asarray(seg.tf[lo:hi][pos[hit]], dtype=np.float64)
                total[hit] += factor[i] * tf * (k1 + 1.0) / (tf + k1 * norm[local[hit]])
            out.update(zip(np.asarray(seg.pids)[local].tolist(), total.tolist(), strict=True))
        return out

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
        if PRUNE and allowed is not None and allowed.size * _LOOKUP_COST < _postings_count(segments, rows_per_segment):
            # Few paragraphs may be returned (a named document, a narrow filter): look each one up in the lists
            # rather than read lists that may hold every paragraph of the index.
            scored = self._scores_locked(weights, np.unique(allowed), segments, rows_per_segment)
            ranked = sorted(((pid, score) for pid, score in scored.items() if score > 0), key=lambda x: (-x[1], x[0]))
            return ranked[:k]
        factor = bm25_idf(df, n_docs) * qweight
        avgdl = self._avgdl(segments)
        best: list[tuple[int, float]] = []
        # Largest segments first: the k-th best score found so far bounds the final k-th score from below, so the
        # later segments skip more of their common terms' lists (`_pruned_top`).
        order = sorted(range(len(segments)), key=lambda i: -len(segments[i].pids))
        norms = [seg.norm(avgdl[seg.level], self.params.b) for seg in segments]
        firsts: list[_FirstPass | None] = [None] * len(segments)
        probe = 0.0
        if PRUNE:
            # The partial scores of every segment's shortest lists, together: their k-th best already bounds the
            # final k-th score from below, before the largest segment is read.
            firsts = [
                _first_pass(seg, rows, factor, norm, self.params, allowed)
                for seg, rows, norm in zip(segments, rows_per_segment, norms, strict=True)
            ]
            probe = _kth_largest(np.concatenate([_NO_SCORES] + [f[7] for f in firsts if f is not None]), k)
        for i in order:
            seg, rows, norm, first = segments[i], rows_per_segment[i], norms[i], firsts[i]
            pruned = None
            if first is not None:
                floor = max(probe, _kth_score(best, k))
                pruned = _pruned_top(seg, first, norm, k, allowed, floor)
            if pruned is not None:
                best.extend(pruned)
                continue
            scores = _segment_scores(seg, rows, factor, norm, self.params)
            if scores is None:
                continue
            scores[~seg.live] = 0.0
            if allowed is not None:
                cand = np.flatnonzero(scores > 0)
                ok = _allowed(seg.pids[cand], allowed)
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
            state = [(seg, seg.live.copy(), seg.changes) for seg in self._segments]
            next_segment = self._next_segment
            n_live = sum(seg.n_live for seg in self._segments)
        have = self._persisted.setdefault(str(directory.resolve()), set())
        masks = self._live_files.setdefault(str(directory.resolve()), {})
        token = os.urandom(4).hex()
        entries: list[dict[str, Any]] = []
        for seg, live, changes in state:
            if seg.name not in have or not (directory / f"{seg.name}.docs.npy").exists():
                for part in _PARTS:
                    write_atomic(directory / f"{seg.name}.{part}.npy", getattr(seg, part), pause="lexical.temp_written")
                have.add(seg.name)
                # Served from the files from now on (a file deleted later stays readable while it is mapped).
                seg.map_files(directory)
            saved = masks.get(seg.name)
            if saved is not None and saved[0] == changes and (directory / saved[1]).exists():
                live_file = saved[1]  # unchanged since the last save, which named this file: not written again
            else:
                live_file = f"{seg.name}.live.{token}.npy"
                write_atomic(directory / live_file, live, pause="lexical.temp_written")
                masks[seg.name] = (changes, live_file)
            pause_point("lexical.segment_written")
            entries.append(
                {
                    "name": seg.name,
                    "n_docs": len(seg.pids),
                    "n_terms": int(seg.hashes.size),
                    "nnz": int(seg.docs.size),
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
        for name in set(masks) - have:
            del masks[name]

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
        if manifest.get("version") not in READABLE_VERSIONS or manifest.get("tokenizer") != TOKENIZER_VERSION:
            raise StoreError(
                f"lexical index in {directory} has format {manifest.get('version')!r} / tokenizer "
                f"{manifest.get('tokenizer')!r}; this program reads {FORMAT_VERSION} / {TOKENIZER_VERSION}",
                _USER_MESSAGE,
            )
        try:
            index = cls(BM25Params(**manifest["params"]))
            index._generation = int(manifest["generation"])
            index._next_segment = int(manifest["next_segment"])
            index._segments = [_load_segment(directory, entry) for entry in manifest["segments"]]
            live_pids = np.sort(np.concatenate([np.asarray(s.pids)[s.live] for s in index._segments] or [_NO_PIDS]))
            twice = live_pids[1:][live_pids[1:] == live_pids[:-1]]
            if twice.size:
                raise ValueError(f"pid {int(twice[0])} is live in two segments")
            if live_pids.size != int(manifest["n_live"]):
                raise ValueError(f"{live_pids.size} live paragraphs, manifest says {manifest['n_live']}")
        except (KeyError, TypeError, ValueError, OSError, EOFError) as exc:
            raise StoreError(f"corrupt lexical index in {directory}: {exc}", _USER_MESSAGE) from exc
        index._persisted[str(directory.resolve())] = {s.name for s in index._segments}
        index._live_files[str(directory.resolve())] = {
            s.name: (s.changes, str(e["live"])) for s, e in zip(index._segments, manifest["segments"], strict=True)
        }
        return index


# Immutable per-segment arrays, each in "<segment>.<part>.npy".
_PARTS = ("hashes", "bigram", "indptr", "docs", "tf", "pids", "dl")
#: Files of earlier format versions, still read where harmless and deleted by the next save.
_OLD_PARTS = ("weight",)
_SEGMENT_NAME = r"seg-\d{6}-[0-9a-f]{8}"
_OWN_FILE = re.compile(
    rf"^(?:{_SEGMENT_NAME}\.(?:{'|'.join(_PARTS + _OLD_PARTS)}|live\.[0-9a-f]+)\.npy|{re.escape(MANIFEST)})"
    r"(?:\.tmp-\d+)?$"
)


#: Skip the long postings lists of common terms when they cannot change the top k (`_pruned_top`).
PRUNE = True
#: The first pass of `_pruned_top` reads the shortest lists up to this many postings, or a 64th of the segment's
#: documents (measured at 180,000 paragraphs: a 64th 4.6 ms a search, an 8th 6.6, a 4th slower than no pruning).
_ESSENTIAL_POSTINGS = 4096
#: Relative margin of the pruning test: sums taken in another order differ in the last bits.
_PRUNE_MARGIN = 1e-6


def _postings_count(segments: Sequence[_Segment], rows_per_segment: Sequence[Int64Array]) -> int:
    """How many postings the query's terms have in `segments` (what a full pass reads)."""
    total = 0
    for seg, rows in zip(segments, rows_per_segment, strict=True):
        present = rows[rows >= 0]
        total += int((seg.indptr[present + 1] - seg.indptr[present]).sum())
    return total


def _allowed(pids: Int64Array, allowed: Int64Array) -> npt.NDArray[np.bool_]:
    """Which of `pids` are in the sorted array `allowed`."""
    pos = np.searchsorted(allowed, pids)
    ok = pos < allowed.size
    ok[ok] = allowed[pos[ok]] == pids[ok]
    return ok


def _postings(seg: _Segment, rows: Int64Array) -> tuple[Int64Array, Int64Array]:
    starts = np.asarray(seg.indptr[rows], dtype=np.int64)
    return starts, np.asarray(seg.indptr[rows + 1], dtype=np.int64) - starts


def _partial_scores(
    seg: _Segment,
    terms: Int64Array,
    starts: Int64Array,
    lengths: Int64Array,
    k1: FloatArray,
    bound: FloatArray,
    norm: npt.NDArray[np.float32],
    allowed: Int64Array | None,
) -> tuple[Int64Array, FloatArray]:
    """The documents in the postings of `terms` that may be returned (live, allowed), with the sum of those
    terms' contributions to each."""
    docs = np.concatenate([seg.docs[starts[i] : starts[i] + lengths[i]] for i in terms.tolist()])
    tf = np.concatenate([seg.tf[starts[i] : starts[i] + lengths[i]] for i in terms.tolist()]).astype(np.float32)
    weights = tf / (tf + np.repeat(k1[terms].astype(np.float32), lengths[terms]) * norm[docs])
    weights *= np.repeat(bound[terms].astype(np.float32), lengths[terms])
    if docs.size * 8 < len(seg.pids):  # few postings: sum per distinct document rather than over all of them
        cand, inverse = np.unique(docs, return_inverse=True)
        partial = np.bincount(inverse, weights=weights, minlength=cand.size)
    else:
        dense = np.bincount(docs, weights=weights, minlength=len(seg.pids))
        cand = np.flatnonzero(dense > 0)
        partial = dense[cand]
    eligible = seg.live[cand]
    if allowed is not None:
        eligible &= _allowed(np.asarray(seg.pids)[cand], allowed)
    return cand[eligible].astype(np.int64), partial[eligible]


def _kth_score(best: Sequence[tuple[int, float]], k: int) -> float:
    """The k-th best score in `best`, less the pruning margin; 0.0 when it holds fewer than k."""
    if len(best) < k:
        return 0.0
    return _kth_largest(np.fromiter((score for _, score in best), dtype=np.float64, count=len(best)), k)


def _kth_largest(scores: FloatArray, k: int) -> float:
    """The k-th largest of `scores`, less the pruning margin; 0.0 when there are fewer than k."""
    if scores.size < k:
        return 0.0
    return kth_largest(scores, k) * (1.0 - _PRUNE_MARGIN)


_FirstPass = tuple[FloatArray, FloatArray, Int64Array, Int64Array, Int64Array, int, Int64Array, FloatArray]


def _first_pass(
    seg: _Segment,
    rows: Int64Array,
    factor: FloatArray,
    norm: npt.NDArray[np.float32],
    params: BM25Params,
    allowed: Int64Array | None,
) -> _FirstPass | None:
    """The query's lists in the segment (k1, bound, start and length of each, their order by length) and the
    partial scores of the eligible documents in the shortest ones, up to a budget of postings; None when there is
    nothing to skip (fewer than two lists, or all of them within the budget)."""
    present = np.flatnonzero(rows >= 0)
    if present.size < 2:
        return None
    r = rows[present]
    k1 = np.where(seg.bigram[r], params.k1_bigram, params.k1)
    bound = factor[present] * (k1 + 1.0)
    starts, lengths = _postings(seg, r)
    by_length = np.argsort(lengths, kind="stable")
    budget = max(_ESSENTIAL_POSTINGS, len(seg.pids) // 64)
    n_first = max(1, int(np.searchsorted(np.cumsum(lengths[by_length]), budget, side="right")))
    if n_first >= by_length.size:
        return None
    cand, partial = _partial_scores(seg, by_length[:n_first], starts, lengths, k1, bound, norm, allowed)
    return k1, bound, starts, lengths, by_length, n_first, cand, partial


def _pruned_top(
    seg: _Segment, first: _FirstPass, norm: npt.NDArray[np.float32], k: int, allowed: Int64Array | None, floor: float
) -> list[tuple[int, float]] | None:
    """The segment's top k read without the long postings lists of common terms when they cannot matter (the
    MaxScore idea, vectorised); None when the shortcut does not apply (then every posting is read).

    A term's contribution to a document is below its bound, idf x query weight x (k1 + 1). The terms with the
    shortest lists are scored first: the k-th best eligible partial score `theta` is a lower bound of the final
    k-th score, since contributions are never negative. The longest lists whose bounds add up to less than
    `theta` are *non-essential*: no document outside the other terms' postings can reach the top k. The other
    terms are scored whole, and the non-essential ones are looked up only for the candidates that still can
    (binary search in their sorted lists). The result is the one the full computation gives.

    `first`: the segment's `_first_pass`. `floor`: a lower bound of the final k-th score known from elsewhere
    (every segment's first pass, the segments read before; 0.0: none); a document below it cannot be in the
    result, so `theta` starts from it and this segment may return fewer than k."""
    k1, bound, starts, lengths, by_length, n_first, cand, partial = first
    theta = floor
    if cand.size >= k:
        theta = max(theta, _kth_largest(partial, k))
    if theta <= 0.0:
        return None
    longest_first = by_length[::-1]
    n_rest = int(np.searchsorted(np.cumsum(bound[longest_first]), theta, side="left"))
    if n_rest == by_length.size:  # all bounds together stay below theta: nothing here can enter the top k
        return []
    n_rest = min(n_rest, by_length.size - n_first)  # the first pass's lists are scored already: they stay essential
    if n_rest == 0:
        return None
    if by_length.size - n_rest != n_first:  # more essential lists than the first pass read: score exactly them
        cand, partial = _partial_scores(
            seg, by_length[: by_length.size - n_rest], starts, lengths, k1, bound, norm, allowed
        )
        if cand.size >= k:  # theta stays a lower bound of the k-th final score either way
            theta = max(theta, _kth_largest(partial, k))
    # The non-essential lists, shortest first; after each, the candidates that can no longer reach theta with the
    # bounds of the lists still to come are dropped (MaxScore's candidate pruning).
    rest = by_length[by_length.size - n_rest :]
    remaining = float(bound[rest].sum())
    keep = partial + remaining >= theta
    cand, scores = cand[keep], partial[keep]
    for i in rest.tolist():
        if not cand.size:
            break
        lo, n = int(starts[i]), int(lengths[i])
        term_docs = seg.docs[lo : lo + n]
        pos = np.searchsorted(term_docs, cand)
        hit = pos < n
        hit[hit] = term_docs[pos[hit]] == cand[hit]
        if hit.any():
            t = np.asarray(seg.tf[lo : lo + n][pos[hit]], dtype=np.float32)
            scores[hit] += t / (t + np.float32(k1[i]) * norm[cand[hit]]) * np.float32(bound[i])
        remaining -= float(bound[i])
        keep = scores + remaining >= theta
        if not keep.all():
            cand, scores = cand[keep], scores[keep]
    return top_k(scores, np.asarray(seg.pids)[cand], k)


def _segment_scores(
    seg: _Segment, rows: Int64Array, factor: FloatArray, norm: npt.NDArray[np.float32], params: BM25Params
) -> FloatArray | None:
    """Sum idf x query weight x BM25 tf part over the postings of the query terms, per local document.

    The tf part, tf * (k1 + 1) / (tf + k1 * norm), is computed here from the stored frequencies and the current
    length normalisation `norm` of the segment's documents (`_Segment.norm`), for all the query's postings of
    the segment at once."""
    present = rows >= 0
    if not present.any():
        return None
    rows = rows[present]
    starts = seg.indptr[rows]
    lengths = seg.indptr[rows + 1] - starts
    docs = np.concatenate([seg.docs[a:b] for a, b in zip(starts.tolist(), (starts + lengths).tolist(), strict=True)])
    tf = np.concatenate([seg.tf[a:b] for a, b in zip(starts.tolist(), (starts + lengths).tolist(), strict=True)])
    k1 = np.where(seg.bigram[rows], params.k1_bigram, params.k1)
    tf32 = tf.astype(np.float32)
    weights = tf32 / (tf32 + np.repeat(k1.astype(np.float32), lengths) * norm[docs])
    weights *= np.repeat((factor[present] * (k1 + 1.0)).astype(np.float32), lengths)
    scores = np.bincount(docs, weights=weights, minlength=len(seg.pids))
    return scores.astype(np.float64, copy=False)


def _load_array(path: Path, dtype: type[np.generic], length: int, *, mapped: bool = False) -> npt.NDArray[Any]:
    arr: npt.NDArray[Any] = np.load(path, allow_pickle=False, mmap_mode="r" if mapped else None)
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
        "pids": (np.int64, n_docs),
        "dl": (np.float32, n_docs),
    }
    # The postings and the per-document arrays are mapped, not read: reopening costs no time per posting, and
    # only the pages searches touch take memory (the kernel may drop them again). Term hashes and offsets are
    # read and checked whole (a few bytes per term); a corrupt `docs` file makes a search fail, never answer.
    for part, (dtype, length) in expected.items():
        arr = _load_array(directory / f"{name}.{part}.npy", dtype, length, mapped=part in _MAPPED)
        # A plain ndarray view of the mapping (it keeps the mapping open): slicing an np.memmap costs microseconds
        # a call, and a search slices once per query term and segment.
        arrays[part] = arr.view(np.ndarray) if isinstance(arr, np.memmap) else arr
    live = np.array(_load_array(directory / live_file, np.bool_, n_docs))
    hashes, indptr = arrays["hashes"], arrays["indptr"]
    if n_terms and np.any(hashes[1:] <= hashes[:-1]):
        raise ValueError(f"{name}: term hashes not strictly increasing")
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) <= 0):
        raise ValueError(f"{name}: inconsistent postings offsets")
    level = int(entry["level"])
    if level < 0:
        raise ValueError(f"{name}: bad level {level}")
    segment = _Segment(
        name, hashes, arrays["bigram"], indptr, arrays["docs"], arrays["tf"], arrays["pids"], arrays["dl"], live, level
    )
    segment.mapped = True
    return segment


_NO_PIDS = np.zeros(0, dtype=np.int64)
_NO_SCORES = np.zeros(0, dtype=np.float64)
#: Segment arrays mapped from their files rather than read into memory.
_MAPPED = frozenset({"docs", "tf", "pids", "dl"})
