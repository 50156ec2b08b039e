"""Terms for lexical search, the same for documents and queries.

A Vietnamese word is one to four syllables written apart ("nghị quyết", "khoa học công nghệ"), so the index
works on syllables and recovers word structure with syllable bigrams:

* text goes through `match_form` (lower case, canonical tone placement: "hoà" and "hòa" are one term);
* syllables are runs of letters and digits; one-letter syllables ("ở", "y", "ý", "à") are kept, because
  they are whole words in Vietnamese ("y tế" is not "ý");
* adjacent syllables inside a phrase also give a bigram ("nghị_quyết"); bigrams never cross punctuation,
  which separates list items and clauses;
* every term also has a folded twin without diacritics, marked with `FOLDED_MARK` ("~nghi_quyet"), so a query
  typed without accents still finds the paragraph.

Word segmentation (pyvi), stop-word removal in documents, trigrams and RM3 feedback were measured and not kept
(docs/retrieval-notes.md): bigrams gave the same quality as segmented words at a tenth of the cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from rag.text.normalize import fold, has_diacritics, match_form

#: Changes whenever the terms of a text change; indexes record it and refuse to load under another version.
TOKENIZER_VERSION = 1
#: Joins the two syllables of a bigram term; never part of a syllable (syllables are letters and digits).
BIGRAM_JOINER = "_"
#: Starts every folded term, so the folded "ban" of "bàn" is not the syllable "ban".
FOLDED_MARK = "~"

# A syllable (letters and digits) or a phrase break (punctuation, underscores). Whitespace is skipped.
_TOKEN_OR_BREAK = re.compile(r"([^\W_]+)|[^\w\s]|_")

#: Question scaffolding dropped from queries (not from documents): it says what kind of answer is wanted and
#: matches every paragraph that happens to contain it. Measured: neutral on statutes, +0.7 Hit@1 on the
#: regulation/wiki questions.
QUESTION_WORDS: frozenset[str] = frozenset(
    ["gì", "nào", "đâu", "ai", "sao", "bao", "nhiêu", "không", "có", "phải", "đúng", "hay", "sai", "là", "thế", "như"]
)
_QUESTION_BIGRAMS: frozenset[str] = frozenset({"đúng_hay", "hay_sai"})
# An accent-less query is compared with the folded list ("la gi" is "là gì" typed fast).
_FOLDED_QUESTION_TERMS: frozenset[str] = frozenset(fold(t) for t in QUESTION_WORDS | _QUESTION_BIGRAMS)


def phrases(text: str) -> list[list[str]]:
    """Split `text` into phrases (runs between punctuation) of syllables in matching form."""
    return _phrases(match_form(text))


def _phrases(norm: str) -> list[list[str]]:
    out: list[list[str]] = []
    current: list[str] = []
    for syllable in _TOKEN_OR_BREAK.findall(norm):
        if syllable:
            current.append(syllable)
        elif current:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def _terms(phrase_list: list[list[str]]) -> list[str]:
    out: list[str] = []
    for ph in phrase_list:
        out.extend(ph)
        out.extend(a + BIGRAM_JOINER + b for a, b in pairwise(ph))
    return out


def tokenize(text: str) -> list[str]:
    """Return the exact terms of `text`: its syllables, then its within-phrase syllable bigrams.

    >>> tokenize("Nghị quyết số 57, ở Hà Nội")
    ['nghị', 'quyết', 'số', '57', 'nghị_quyết', 'quyết_số', 'số_57', 'ở', 'hà', 'nội', 'ở_hà', 'hà_nội']
    """
    return _terms(phrases(text))


def fold_term(term: str) -> str:
    """Return the folded twin of an exact term ("nghị_quyết" -> "~nghi_quyet")."""
    return FOLDED_MARK + fold(term)


@dataclass(frozen=True, slots=True)
class QueryTerms:
    """The terms of a query.

    Attributes:
        exact: exact terms, question scaffolding removed (kept when nothing else is left).
        folded: their folded twins (same order).
        accented: True when the query carries any diacritic; an accent-less query is matched on folded
            terms only, since its syllables cannot tell "ban" from "bàn".
    """

    exact: tuple[str, ...]
    folded: tuple[str, ...]
    accented: bool


def query_terms(query: str) -> QueryTerms:
    """Return the terms used to search for `query`."""
    norm = match_form(query)
    accented = has_diacritics(norm)
    terms = _terms(_phrases(norm))
    scaffolding = QUESTION_WORDS | _QUESTION_BIGRAMS if accented else _FOLDED_QUESTION_TERMS
    kept = [t for t in terms if t not in scaffolding]
    if kept:
        terms = kept
    return QueryTerms(tuple(terms), tuple(fold_term(t) for t in terms), accented)
