"""The message format between `rag.ingest.isolate` (parent) and `rag.ingest.worker` (parsing child): typed JSON.

The child parses hostile files, so what it sends back is untrusted: a parser exploited in C code could write any
bytes on the connection. Messages are therefore JSON (never pickle, which runs code while it loads), and
`loads` rebuilds only the record types of `records()`, checking every field against its annotation. A
message that does not fit is a `WireError`, which the parent treats as a worker gone bad.

A message is a tuple of JSON values and records; a record travels as an object with its type name under "$".
Tuples travel as arrays and come back as tuples; mappings must have string keys and string values.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rag.ingest.common import Unchanged
from rag.types import Block, RawDocument

#: Deepest nesting a message may have (a document is message -> record -> tuple of blocks -> block).
MAX_DEPTH = 8

_TAG = "$"


def records() -> dict[str, type]:
    """The only types a message may carry besides JSON scalars, tuples and str -> str mappings, by name."""
    return _RECORDS


@dataclass(frozen=True, slots=True)
class Init:
    """What the parent tells a new child: its limits and where to import from."""

    memory_bytes: int
    sys_path: tuple[str, ...]
    log_level: int
    idle_s: float
    max_tasks: int


@dataclass(frozen=True, slots=True)
class Task:
    """One file to parse, with the limits that apply to it.

    Attributes:
        path: the file.
        ask_known: look records up in the parent's catalog (.jsonl) through "known" messages.
        cpu_s: CPU seconds allowed for this file.
        max_doc_chars: most characters of text one document may have.
        max_doc_blocks: most blocks (lines) one document may have.
        max_total_chars: most characters all documents of the file may have together.
        max_message_bytes: largest result message.
        records: parse only the documents start..stop-1 of the file (a work unit of a .jsonl); None: all.
    """

    path: str
    ask_known: bool
    cpu_s: float
    max_doc_chars: int
    max_doc_blocks: int
    max_total_chars: int
    max_message_bytes: int
    records: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A `ParseError` in transit (an exception does not travel; this record does).

    Attributes:
        kind: "parse", "unsupported" or "record" (which class to rebuild).
        message: the English message for logs.
        user_message: the Vietnamese sentence for users.
        memory: the failure came from running out of memory.
    """

    kind: str
    message: str
    user_message: str
    memory: bool = False


_RECORDS: dict[str, type] = {cls.__name__: cls for cls in (Block, RawDocument, Unchanged, Failure, Init, Task)}


class WireError(ValueError):
    """A message that is not valid JSON of the expected shape."""


def dumps(message: tuple[Any, ...]) -> bytes:
    """Encode a message (a tuple) as UTF-8 JSON."""
    return json.dumps(_plain(message), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def loads(data: bytes) -> tuple[Any, ...]:
    """Decode and check a message.

    Raises:
        WireError: not UTF-8 JSON, not an array with a string kind first, too deep, an unknown record type, or a
            record field whose value does not match its annotation.
    """
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"not a JSON message: {exc!r}"[:300]) from None
    if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
        raise WireError("a message is an array whose first item names its kind")
    return tuple(_value(v, 1) for v in raw)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if records().get(name) is not type(value):
            raise TypeError(f"{name} is not a wire record")
        out = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out[_TAG] = name
        return out
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise TypeError("only str -> str mappings travel")
        return dict(value)
    raise TypeError(f"{type(value).__name__} does not travel")


def _value(value: Any, depth: int) -> Any:
    """A decoded JSON value: arrays become tuples, tagged objects records."""
    if depth > MAX_DEPTH:
        raise WireError("message nested too deeply")
    if isinstance(value, list):
        return tuple(_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        if _TAG not in value:
            return _mapping(value)
        return _record(value, depth)
    return value


def _mapping(value: dict[str, Any]) -> dict[str, str]:
    if not all(isinstance(v, str) for v in value.values()):
        raise WireError("a mapping holds strings only")
    return value


def _record(value: dict[str, Any], depth: int) -> Any:
    name = value.pop(_TAG)
    cls = records().get(name) if isinstance(name, str) else None
    if cls is None:
        raise WireError(f"unknown record type {name!r}"[:200])
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    if set(value) - names:
        raise WireError(f"{name}: unknown field(s) {sorted(set(value) - names)}"[:300])
    kwargs = {}
    for key, raw in value.items():
        item = _value(raw, depth + 1)
        if not _fits(item, hints[key]):
            raise WireError(f"{name}.{key}: {type(item).__name__} does not fit {hints[key]}"[:300])
        kwargs[key] = item
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field missing
        raise WireError(f"{name}: {exc}") from None


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded value matches a field annotation (the few forms the records use)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return isinstance(value, dict)  # `_mapping` has checked the values
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    return False
