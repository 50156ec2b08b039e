"""Calibrate `SUPPORT_THRESHOLD` (rag/answer/citations.py) on labelled (sentence, cited paragraph) pairs.

The pairs come from the sample corpus (corpus/, ingested into a temporary index) and are built
deterministically (blake2b seeds, no model, no network):

positives: a sentence of a paragraph cited against that paragraph, as written and as an answer writer would
    reword it: words dropped, clauses reordered, synonyms swapped, an introductory phrase added, and all of
    these at once;
negatives: the sentence cited against a random other paragraph of its document, the other paragraph of its
    document it shares most words with, a random paragraph of another document, the best search hit from
    another document, and the sentence with one figure changed ("30% GDP" -> "50% GDP") against its own
    paragraph. A negative whose paragraph contains the sentence verbatim is skipped (the corpus repeats
    boilerplate and news articles quote resolutions).

A pair is judged supported the way `verify` judges it: `support(sentence, paragraph) >= t` and, with the number
rule, `numbers_supported(sentence, citation_context(hit))`. The script prints precision, recall and F1 per
threshold with and without the number rule, and the acceptance rate per kind of pair at the chosen threshold.

Usage:
    .venv/bin/python -m eval.calibrate_support [--corpus corpus] [--per-doc 60]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rag import Filters, Hit, Library, fold
from rag.answer.citations import (
    SUPPORT_THRESHOLD,
    citation_context,
    numbers_supported,
    support,
)
from rag.answer.sentences import split_sentences, trim_marker
from rag.text.tokenize import phrases

ROOT = Path(__file__).resolve().parents[1]

THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(14)]
#: Sentences shorter than this (syllables) are headings or fragments, not claims an answer would make.
MIN_SYLLABLES = 6
# Rewordings an answer writer makes; each pair is applied in both directions.
SYNONYMS: list[tuple[str, str]] = [
    ("bảo đảm", "đảm bảo"),
    ("đẩy mạnh", "tăng cường"),
    ("nâng cao", "cải thiện"),
    ("thực hiện", "triển khai"),
    ("xây dựng", "hình thành"),
    ("phát triển", "mở rộng"),
    ("mục tiêu", "chỉ tiêu"),
    ("nhiệm vụ", "công việc"),
    ("hoàn thiện", "bổ sung"),
    ("chủ trì", "phụ trách"),
    ("tối thiểu", "ít nhất"),
    ("doanh nghiệp", "công ty"),
    ("hằng năm", "mỗi năm"),
    ("đổi mới", "cải cách"),
    ("ưu tiên", "chú trọng"),
    ("quốc gia", "đất nước"),
    ("nguồn nhân lực", "lực lượng lao động"),
    ("khuyến khích", "động viên"),
    ("tổ chức", "cơ quan"),
    ("trọng tâm", "chủ yếu"),
]
INTROS = ["Theo văn bản, ", "Văn bản nêu rõ: ", "Cụ thể, ", "Theo {title}, ", "{title} xác định "]


@dataclass(frozen=True, slots=True)
class Pair:
    kind: str
    positive: bool
    sentence: str
    hit: Hit


def _rng(*parts: str) -> random.Random:
    seed = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return random.Random(int.from_bytes(seed, "big"))


def _syllables(text: str) -> int:
    return sum(len(ph) for ph in phrases(text))


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", fold(text).lower()).strip()


def drop_words(sentence: str, rng: random.Random, share: float = 0.25) -> str:
    words = sentence.split()
    keep = [w for w in words if rng.random() >= share]
    return " ".join(keep if len(keep) >= 3 else words)


def reorder(sentence: str, rng: random.Random) -> str:
    body = sentence.rstrip(".;:")
    clauses = [c for c in re.split(r",\s+", body) if c]
    if len(clauses) >= 2:
        rng.shuffle(clauses)
        return ", ".join(clauses) + "."
    words = body.split()
    cut = max(1, len(words) - 3)
    return " ".join(words[cut:] + words[:cut]) + "."


def swap_synonyms(sentence: str) -> str:
    out = sentence
    for a, b in SYNONYMS:
        if re.search(re.escape(a), out, re.I):
            out = re.sub(re.escape(a), b, out, flags=re.I)
        elif re.search(re.escape(b), out, re.I):
            out = re.sub(re.escape(b), a, out, flags=re.I)
    return out


def introduce(sentence: str, hit: Hit, rng: random.Random) -> str:
    title = f"Nghị quyết {hit.number.split('-')[0]}" if hit.number else "văn bản"
    intro = rng.choice(INTROS).format(title=title)
    return intro + sentence[:1].lower() + sentence[1:]


def change_number(sentence: str, rng: random.Random) -> str | None:
    """The sentence with one of its figures changed (never a list marker), or None when it states none."""
    matches = list(re.finditer(r"\d+", sentence))
    if not matches:
        return None
    m = rng.choice(matches)
    value = int(m.group(0))
    new = value + rng.choice([1, 2, 5, 10, 20]) if value < 1900 else value + rng.choice([1, 5, 10])
    return sentence[: m.start()] + str(new) + sentence[m.end() :]


def build_pairs(library: Library, per_doc: int) -> list[Pair]:
    store = library.store
    docs = {d.doc_id: d for d in library.documents()}
    paras: dict[str, list[Hit]] = {}
    for doc_id, info in sorted(docs.items()):
        hits = []
        for p in library.paragraphs(doc_id):
            if p.kind == "heading":
                continue
            hits.append(
                Hit(
                    0,
                    0.0,
                    p,
                    info.title,
                    info.number,
                    info.issued,
                    info.doc_type,
                    info.issuer,
                    info.classification,
                    store.headings_above(p),
                )
            )
        paras[doc_id] = hits
    by_pid: dict[str, Hit] = {h.paragraph_id: h for hs in paras.values() for h in hs}
    # Sentences that occur in more than one paragraph are boilerplate; their "negatives" would be positives.
    seen: defaultdict[str, int] = defaultdict(int)
    for hs in paras.values():
        for h in hs:
            for s in split_sentences(h.paragraph.text):
                seen[_squash(trim_marker(s).text)] += 1

    pairs: list[Pair] = []
    doc_ids = sorted(paras)
    for doc_id in doc_ids:
        candidates: list[tuple[str, Hit]] = []
        for h in paras[doc_id]:
            for s in split_sentences(h.paragraph.text):
                text = trim_marker(s).text
                if _syllables(text) >= MIN_SYLLABLES and seen[_squash(text)] == 1:
                    candidates.append((text, h))
        rng = _rng("sample", doc_id)
        rng.shuffle(candidates)
        for sentence, own in candidates[:per_doc]:
            r = _rng(sentence)
            pairs.append(Pair("pos: as written", True, sentence, own))
            pairs.append(Pair("pos: words dropped", True, drop_words(sentence, r), own))
            pairs.append(Pair("pos: reordered", True, reorder(sentence, r), own))
            pairs.append(Pair("pos: synonyms", True, swap_synonyms(sentence), own))
            pairs.append(Pair("pos: introduced", True, introduce(sentence, own, r), own))
            combo = introduce(drop_words(swap_synonyms(reorder(sentence, r)), r, 0.15), own, r)
            pairs.append(Pair("pos: all rewordings", True, combo, own))

            def negative(kind: str, hit: Hit | None, sentence: str = sentence) -> None:
                if hit is not None and _squash(sentence) not in _squash(hit.paragraph.text):
                    pairs.append(Pair(kind, False, sentence, hit))

            others = [h for h in paras[doc_id] if h.paragraph_id != own.paragraph_id]
            if others:
                negative("neg: same doc, random", r.choice(others))
                negative("neg: same doc, most similar", max(others, key=lambda h: support(sentence, h.paragraph.text)))
            other_docs = [d for d in doc_ids if d != doc_id and paras[d]]
            negative("neg: other doc, random", r.choice(paras[r.choice(other_docs)]))
            found = store_search(library, sentence, [d for d in other_docs])
            negative("neg: other doc, search hit", by_pid.get(found) if found else None)
            changed = change_number(sentence, r)
            if changed is not None:
                pairs.append(Pair("neg: figure changed", False, changed, own))
    return pairs


def store_search(library: Library, sentence: str, doc_ids: list[str]) -> str | None:
    """The paragraph id of the best lexical hit among `doc_ids` (a realistic wrong citation)."""
    query = sentence[:500]
    hits = library.search(query, k=1, filters=Filters(doc_ids=tuple(doc_ids)), mode="lexical")
    return hits[0].paragraph_id if hits else None


def evaluate(pairs: list[Pair], accepted: list[bool]) -> tuple[float, float, float]:
    """Precision, recall and F1 of accepting the pairs marked True (a positive is a correctly cited sentence)."""
    tp = sum(1 for p, a in zip(pairs, accepted, strict=True) if p.positive and a)
    fp = sum(1 for p, a in zip(pairs, accepted, strict=True) if not p.positive and a)
    pos = sum(1 for p in pairs if p.positive)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / pos if pos else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--per-doc", type=int, default=60, help="sentences sampled per document")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        library = Library(Path(tmp) / "index")
        library.ingest([args.corpus])
        pairs = build_pairs(library, args.per_doc)
        library.close()

    scores = {id(p): support(p.sentence, p.hit.paragraph.text) for p in pairs}
    numbers_ok = {id(p): numbers_supported(p.sentence, *citation_context(p.hit)) for p in pairs}
    n_pos = sum(p.positive for p in pairs)
    print(f"pairs: {len(pairs)} ({n_pos} positive, {len(pairs) - n_pos} negative); threshold now {SUPPORT_THRESHOLD}")
    print()
    print("| threshold | P (lexical) | R (lexical) | F1 (lexical) | P (+numbers) | R (+numbers) | F1 (+numbers) |")
    print("|---|---|---|---|---|---|---|")
    best: tuple[float, float] = (-1.0, 0.0)
    for t in THRESHOLDS:
        lex = evaluate(pairs, [scores[id(p)] >= t for p in pairs])
        num = evaluate(pairs, [scores[id(p)] >= t and numbers_ok[id(p)] for p in pairs])
        print(f"| {t:.2f} | {lex[0]:.3f} | {lex[1]:.3f} | {lex[2]:.3f} | {num[0]:.3f} | {num[1]:.3f} | {num[2]:.3f} |")
        # Highest F1 with the number rule; on a tie the stricter threshold (a wrong citation costs more than a
        # dropped sentence).
        if num[2] >= best[0] - 1e-9:
            best = (num[2], t)
    chosen = best[1]
    print()
    print(f"chosen threshold (highest F1 with the number rule, ties to the stricter): {chosen:.2f}")
    print()
    print(f"| pair kind | n | accepted at {chosen:.2f} (lexical only) | accepted at {chosen:.2f} (+numbers) |")
    print("|---|---|---|---|")
    kinds: defaultdict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        kinds[p.kind].append(p)
    for kind in sorted(kinds, key=lambda k: (not k.startswith("pos"), k)):
        group = kinds[kind]
        lex_acc = sum(scores[id(p)] >= chosen for p in group) / len(group)
        num_acc = sum(scores[id(p)] >= chosen and numbers_ok[id(p)] for p in group) / len(group)
        print(f"| {kind} | {len(group)} | {lex_acc:.3f} | {num_acc:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
