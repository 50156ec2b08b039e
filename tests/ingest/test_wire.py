"""The parent <-> parsing-child message format: typed JSON, only known records, every field checked."""

import json
import pickle

import pytest

from rag.ingest import wire
from rag.ingest.common import Unchanged
from rag.ingest.wire import Failure, Task
from rag.types import Block, RawDocument

DOC = RawDocument(
    source_key="/tai-lieu/nq57.md",
    path="/tai-lieu/nq57.md",
    fmt="md",
    blocks=(Block("NGHỊ QUYẾT", None, "heading"), Block("Hoà mạng tới 100% xã, phường.", 2, "")),
    sha256="ab" * 32,
    title_hint="Nghị quyết số 57-NQ/TW",
    metadata={"record": "7", "nguon": "báo in"},
    warnings=("trang 3 không có chữ",),
)


@pytest.mark.parametrize(
    "message",
    [
        ("entry", DOC),
        ("entry", Unchanged("/a.jsonl#1", "/a.jsonl")),
        ("fail", Failure("parse", "broken xref", "Tệp PDF bị hỏng.", memory=True)),
        ("log", "pypdf", 30, "Ignoring wrong pointing object"),
        ("known", "/a.jsonl#2", "cd" * 32),
        ("end", False),
        ("task", Task("/x.pdf", True, 2.5, 10, 20, 30, 40)),
        ("quit",),
    ],
)
def test_messages_round_trip(message: tuple[object, ...]) -> None:
    assert wire.loads(wire.dumps(message)) == message


def test_round_trip_keeps_tuples_and_vietnamese_text() -> None:
    back = wire.loads(wire.dumps(("entry", DOC)))[1]
    assert isinstance(back, RawDocument) and isinstance(back.blocks, tuple) and isinstance(back.blocks[0], Block)
    assert back.blocks[1].text == "Hoà mạng tới 100% xã, phường." and back.warnings == ("trang 3 không có chữ",)
    assert "Hoà mạng".encode() in wire.dumps(("entry", DOC))  # UTF-8, not escaped


def _tampered(**changes: object) -> bytes:
    data = json.loads(wire.dumps(("entry", DOC)))
    data[1].update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (pickle.dumps(("entry", DOC)), "not a JSON message"),
        (b"\xff\xfe", "not a JSON message"),
        (b'{"kind": "end"}', "first item names its kind"),
        (b"[]", "first item names its kind"),
        (b'["entry", {"$": "os.system", "command": "rm -rf /"}]', "unknown record type"),
        (b'["entry", {"$": "Path", "args": ["/etc"]}]', "unknown record type"),
        (_tampered(blocks=[{"$": "Block", "text": 5}]), "Block.text"),
        (_tampered(blocks="not a tuple"), "RawDocument.blocks"),
        (_tampered(metadata={"a": 1}), "mapping holds strings only"),
        (_tampered(sha256=None), "RawDocument.sha256"),
        (_tampered(extra="x"), "unknown field"),
        (b'["end", ' + b"[" * 50 + b"]" * 50 + b"]", "nested too deeply"),
        (b'["end", ' + b"[" * 100_000 + b"]" * 100_000 + b"]", "JSON message"),
        (b'["fail", {"$": "Failure", "kind": "parse"}]', "Failure"),
    ],
)
def test_untrusted_bytes_are_refused_never_executed(data: bytes, why: str) -> None:
    with pytest.raises(wire.WireError, match=why):
        wire.loads(data)


def test_only_wire_records_are_sent() -> None:
    from pathlib import Path

    with pytest.raises(TypeError):
        wire.dumps(("entry", Path("/etc/passwd")))
    with pytest.raises(TypeError):
        wire.dumps(("entry", {"so": 1}))


@pytest.mark.parametrize(
    ("message", "ok"),
    [
        (("log", "pypdf", 30, "cảnh báo"), True),
        (("log", 30, "pypdf", "cảnh báo"), False),
        (("log", "pypdf", True, "cảnh báo"), False),
        (("end", False), True),
        (("end", "no"), False),
        (("entry", DOC), True),
        (("entry", Block("chữ")), False),
        (("fail", Failure("parse", "x", "y")), True),
        (("fail",), False),
        (("known", "/a#1", "ab"), True),
        (("shell", "rm"), False),
    ],
)
def test_parent_accepts_only_the_shapes_a_child_may_send(message: tuple[object, ...], ok: bool) -> None:
    from rag.ingest.isolate import _well_formed

    assert _well_formed(message) is ok
