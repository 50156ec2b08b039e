"""Putting the accents back on a question typed without them, for the embedding model.

Many users type Vietnamese without diacritics ("nghi quyet 57 dat muc tieu gi"). The lexical index matches such a
question on folded terms (`rag.text.tokenize`), but an embedding model reads "nghi quyet" as other words than
"nghị quyết": on the shared sets with every question folded, the default hybrid search fell below the lexical one
alone (uit_reg_wiki Hit@1 0.794 against 0.847, alqac 0.636 against 0.875) and came back to 0.887 / 0.885 with the
accents restored this way (docs/decisions.md, "Accent-less questions").

`restore_accents` takes its vocabulary from texts the caller found for the question (its first lexical hits), so a
folded word gets the accented form those paragraphs use around it: a pair of words is looked up first ("dau tu" ->
"đầu tư", "dau" alone -> whatever the texts use most), then the word alone. The question's own scaffolding
("bao nhieu", "o dau", "dung hay sai") comes from a fixed table, since paragraphs rarely hold it in that sense.
A word found in neither stays as typed; a question that carries any diacritic is returned unchanged.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from rag.text.normalize import canonical_tones, clean, fold, has_diacritics

_WORD = re.compile(r"\w+")

#: Question phrases (folded -> accented), looked up before the texts' vocabulary, longest first.
QUESTION_PHRASES: dict[str, str] = {
    "nhu the nao": "như thế nào",
    "dung hay sai": "đúng hay sai",
    "co phai": "có phải",
    "hay khong": "hay không",
    "bao nhieu": "bao nhiêu",
    "bao gio": "bao giờ",
    "khi nao": "khi nào",
    "the nao": "thế nào",
    "tai sao": "tại sao",
    "vi sao": "vì sao",
    "o dau": "ở đâu",
    "la gi": "là gì",
    "la ai": "là ai",
    "nhung gi": "những gì",
}
#: Single question and function words, used when the texts do not hold the word at all.
QUESTION_WORDS: dict[str, str] = {
    "gi": "gì",
    "nao": "nào",
    "la": "là",
    "co": "có",
    "ve": "về",
    "cac": "các",
    "va": "và",
    "nhu": "như",
    "dau": "đâu",
    "khong": "không",
    "nhung": "những",
    "cua": "của",
    "duoc": "được",
}
_LONGEST_PHRASE = max(len(p.split()) for p in QUESTION_PHRASES)


def needs_accents(text: str) -> bool:
    """Whether `text` is a question typed without any diacritic (and has letters to restore)."""
    return not has_diacritics(text) and any(c.isalpha() for c in text)


def restore_accents(question: str, texts: Iterable[str]) -> str:
    """The question with the accents the given texts use for its words (unchanged when it carries any diacritic).

    Args:
        question: the user's question.
        texts: paragraphs found for it (their vocabulary decides each word's accented form).

    Returns:
        The question with the same words, spaces and punctuation, each word accented when the texts or the
        question table know it; the case of each word as typed.
    """
    if not needs_accents(question):
        return question
    pairs, words = _vocabulary(texts)
    typed = [m.group() for m in _WORD.finditer(question)]
    lower = [w.lower() for w in typed]
    out: list[str | None] = [None] * len(typed)
    _phrases(lower, out)
    for i in range(len(typed) - 1):
        found = pairs.get(f"{lower[i]} {lower[i + 1]}")
        if found and out[i] is None and out[i + 1] is None:
            out[i], out[i + 1] = found.most_common(1)[0][0].split(" ")
    for i, word in enumerate(lower):
        if out[i] is None:
            known = words.get(word)
            out[i] = known.most_common(1)[0][0] if known else QUESTION_WORDS.get(word, word)
    restored = iter(_with_case(new or word, word) for new, word in zip(out, typed, strict=True))
    return _WORD.sub(lambda _: next(restored), question)


def _vocabulary(texts: Iterable[str]) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]]]:
    """Folded pair -> accented pairs and folded word -> accented words, with their counts in `texts`."""
    pairs: dict[str, Counter[str]] = defaultdict(Counter)
    words: dict[str, Counter[str]] = defaultdict(Counter)
    for text in texts:
        seq = _WORD.findall(canonical_tones(clean(text).lower()))
        folded = [fold(w) for w in seq]
        for i, word in enumerate(seq):
            words[folded[i]][word] += 1
            if i + 1 < len(seq):
                pairs[f"{folded[i]} {folded[i + 1]}"][f"{word} {seq[i + 1]}"] += 1
    return pairs, words


def _phrases(lower: list[str], out: list[str | None]) -> None:
    """Fill `out` with the question table's phrases found in `lower`, longest first, without overlaps."""
    for size in range(_LONGEST_PHRASE, 1, -1):
        for i in range(len(lower) - size + 1):
            if any(out[i : i + size]):
                continue
            phrase = QUESTION_PHRASES.get(" ".join(lower[i : i + size]))
            if phrase:
                out[i : i + size] = phrase.split(" ")


def _with_case(word: str, typed: str) -> str:
    """`word` in the case `typed` was written in (all capitals, a capital first, or as it is)."""
    if len(typed) > 1 and typed.isupper():
        return word.upper()
    if typed[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
