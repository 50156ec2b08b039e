"""The forms of the document-type vocabulary that readers and matchers need, built from `DOC_TYPE_TABLE`.

`rag.types.DOC_TYPE_TABLE` is the only list of document types; the header reader, the id maker, the
query reader, the citation checker and the conversation rewriter take their words from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from rag.text.normalize import fold
from rag.types import DOC_TYPE_TABLE, OTHER_DOC_TYPE


def _longest_first(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    # Longer words first, so "chương trình hành động" is tried before "chương trình".
    return tuple(sorted(pairs, key=lambda pair: -len(pair[0])))


#: Words of a header's type line (upper case) -> type name: ("CHƯƠNG TRÌNH HÀNH ĐỘNG", "chương trình"), ...
HEADER_WORDS: tuple[tuple[str, str], ...] = _longest_first(
    (word.upper(), t.name) for t in DOC_TYPE_TABLE if t.heading for word in (*t.aliases, t.name)
)

#: Symbol of a số/ký hiệu (upper case) -> type name: "NQ" -> "nghị quyết", "QĐ" -> "quyết định".
SYMBOL_TYPES: Mapping[str, str] = MappingProxyType({t.symbol: t.name for t in DOC_TYPE_TABLE if t.symbol})

#: Type name -> prefix of its document ids: "nghị quyết" -> "nq", "tin bài" -> "tin".
ID_PREFIXES: Mapping[str, str] = MappingProxyType({t.name: t.prefix for t in DOC_TYPE_TABLE})

#: Names of the types that questions and answers cite by number ("nghị quyết", "kết luận", ...).
CITED_NAMES: tuple[str, ...] = tuple(t.name for t in DOC_TYPE_TABLE if t.cited)

#: How a question names a cited type, folded and lower case -> the type's prefix, which is also its folded
#: symbol: ("chuong trinh hanh dong", "ctr"), ("nghi quyet", "nq"), ("nq", "nq"), ...
QUERY_NAMES: tuple[tuple[str, str], ...] = _longest_first(
    [(fold(word).lower(), t.prefix) for t in DOC_TYPE_TABLE if t.cited for word in (t.name, *t.aliases)]
    + [(t.prefix, t.prefix) for t in DOC_TYPE_TABLE if t.abbreviated]
)

_NAMES_BY_PREFIX: Mapping[str, str] = MappingProxyType({t.prefix: t.name for t in DOC_TYPE_TABLE})


def type_for_symbol(symbol: str) -> str | None:
    """The type whose ký hiệu symbol this is, in any case ("NQ", "CTr" -> "chương trình"), else None."""
    return SYMBOL_TYPES.get(symbol.upper())


def id_prefix(doc_type: str) -> str:
    """The prefix of the ids of documents of `doc_type`; that of "văn bản" for an unknown type."""
    return ID_PREFIXES.get(doc_type) or ID_PREFIXES[OTHER_DOC_TYPE]


def type_for_prefix(prefix: str) -> str | None:
    """The type with this id prefix / folded symbol ("nq" -> "nghị quyết"), else None."""
    return _NAMES_BY_PREFIX.get(prefix)


def label(doc_type: str) -> str:
    """A type name as it opens a title or a sentence ("nghị quyết" -> "Nghị quyết")."""
    return doc_type[:1].upper() + doc_type[1:]
