"""Side channels: nothing a caller can get from the service depends on documents above the caller's clearance.

For each caller clearance (public, "nội bộ", "mật"), four worlds are built from the same visible documents: one
without canaries, one with canary documents added at every level above the caller, one where they were added and
then changed, one where they were added and then removed. The canaries repeat the visible documents' words (so
shared statistics would move scores), claim the number of a visible document, and the number the caller is about
to upload (so a shared id space would show). For each caller (a reader and an editor key), the same requests in
every world must give byte-for-byte the same answers once volatile fields (job ids, timestamps) are set aside:
search scores and order, answers and citations, the OpenAI-compatible answer, the document list, /readyz
counts, and the id and result of an upload.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag import Library
from rag.types import CLASSIFICATIONS
from service.app import create_app
from tests.service.conftest import (
    CANARIES,
    LocalClient,
    add_key,
    bearer,
    forbidden_canaries,
    resolution,
    settings_for,
    wait_job,
)

pytestmark = pytest.mark.slow

WORLDS = ("clean", "added", "changed", "removed")
#: Callers observed, each against canaries at every level above theirs.
CALLERS = ("cong-khai", "noi-bo", "mat")
QUERIES = ["kho lưu trữ văn kiện số", "kinh phí máy chủ riêng", "Cục Lưu trữ chủ trì xây dựng", "nghi quyet 50"]
QUESTIONS = ["Nghị quyết 50 đặt mục tiêu gì đến năm 2030?", "Kinh phí cho kho lưu trữ văn kiện số là bao nhiêu?"]
VOLATILE = {"job_id", "created", "finished", "id", "elapsed_ms", "took_ms"}


def upload_text(number: int) -> str:
    return resolution(number, 9, "cong-khai", topic="kho lưu trữ văn kiện số").replace("năm 2025", "năm 2026")


def hidden_sources(root: Path, above: str, changed: bool = False) -> dict[Path, str]:
    """Canary documents at every level above `above`, two per level: one holds the visible document's number
    (50-NQ/TW), one the number an editor will upload (904, in 2026); all use the visible documents' words."""
    root.mkdir(parents=True, exist_ok=True)
    sources: dict[Path, str] = {}
    for classification in CLASSIFICATIONS[CLASSIFICATIONS.index(above) + 1 :]:
        for number in (50, 904):
            text = resolution(number, 12, classification, topic="kho lưu trữ văn kiện số máy chủ")
            if number == 904:
                text = text.replace("năm 2025", "năm 2026")
            if changed:
                text += f"3. Bổ sung kinh phí kho lưu trữ văn kiện số {CANARIES[classification]}.\n"
            path = root / f"an-{classification}-{number}.txt"
            path.write_text(text, encoding="utf-8")
            sources[path] = classification
    return sources


def build_world(root: Path, kind: str, above: str) -> Path:
    """The visible documents (public 50, "nội bộ" 51) and, unless `kind` is "clean", canaries above `above`."""
    index = root / "ix"
    with Library(index) as library:
        for classification, number in (("cong-khai", 50), ("noi-bo", 51)):
            path = root / f"nq{number}.txt"
            path.write_text(resolution(number, 3, classification), encoding="utf-8")
            assert library.ingest([path], classification).counts["ok"] == 1
        if kind != "clean":
            for path, classification in hidden_sources(root / "an", above).items():
                assert library.ingest([path], classification).counts["ok"] == 1
        if kind == "changed":
            for path, classification in hidden_sources(root / "an", above, changed=True).items():
                assert library.ingest([path], classification).counts["replaced"] == 1
        if kind == "removed":
            canaries = {d.doc_id for d in library.documents() if "/an/" in d.path}
            for doc_id in sorted(canaries):
                library.remove(doc_id)
        library.refresh()
    return index


def stable(value: Any) -> Any:
    """The response without fields that differ between any two runs (ids of jobs and completions, times)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def wait_vectors(client: TestClient, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 120
    while client.get("/readyz", headers=headers).json().get("pending_vectors", 0):
        assert time.monotonic() < deadline, "vectors still pending"
        time.sleep(0.1)


def observe(
    client: TestClient, reader: dict[str, str], editor: dict[str, str], top: dict[str, str], upload_number: int
) -> dict[str, Any]:
    """Everything one caller can learn, in a fixed order."""
    seen: dict[str, Any] = {}
    for q in QUERIES:
        for mode in ("hybrid", "lexical"):
            r = client.get("/api/v1/search", params={"q": q, "k": 10, "mode": mode}, headers=reader)
            seen[f"search {mode} {q}"] = (r.status_code, stable(r.json()))
    for question in QUESTIONS:
        r = client.post("/api/v1/ask", json={"question": question}, headers=reader)
        seen[f"ask {question}"] = (r.status_code, stable(r.json()))
    chat = {"model": "vankien", "messages": [{"role": "user", "content": QUESTIONS[0]}]}
    r = client.post("/v1/chat/completions", json=chat, headers=reader)
    seen["chat"] = (r.status_code, stable(r.json()))
    seen["documents"] = stable(client.get("/api/v1/documents", headers=reader).json())
    seen["readyz"] = client.get("/readyz", headers=reader).json()
    seen["readyz anonymous"] = client.get("/readyz").json()
    up = client.post(
        "/api/v1/documents",
        files={"file": ("nq-moi.txt", upload_text(upload_number).encode("utf-8"), "text/plain")},
        data={"classification": "cong-khai"},
        headers=editor,
    )
    assert up.status_code == 202, up.text
    seen["upload"] = stable(up.json())
    seen["job"] = stable(wait_job(client, up.json()["job_id"], editor))
    # the upload's vectors arrive in the background: a hybrid search before and after differs by design (its
    # lexical score stands in meanwhile), so the comparison waits for them, as it does for the canaries'
    wait_vectors(client, top)
    seen["documents after upload"] = stable(client.get("/api/v1/documents", headers=reader).json())
    r = client.get("/api/v1/search", params={"q": "kho lưu trữ văn kiện số 2026", "k": 10}, headers=reader)
    seen["search after upload"] = stable(r.json())
    return seen


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
    """world -> caller clearance -> what that caller observed (one fresh world per caller: its upload changes it)."""
    out: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in WORLDS}
    for clearance in CALLERS:
        for kind in WORLDS:
            root = tmp_path_factory.mktemp(f"side-{clearance}-{kind}")
            index = build_world(root, kind, clearance)
            reader = bearer(add_key(index, "reader", clearance, "doc-gia"))
            editor = bearer(add_key(index, "editor", clearance, "bien-tap"))
            top = bearer(add_key(index, "admin", "toi-mat", "quan-tri"))
            with LocalClient(create_app(settings_for(index))) as client:
                wait_vectors(client, top)
                out[kind][clearance] = observe(client, reader, editor, top, 904)
    yield out


@pytest.mark.parametrize("kind", WORLDS[1:])
@pytest.mark.parametrize("clearance", CALLERS)
def test_documents_above_the_clearance_change_nothing_a_caller_sees(
    views: dict[str, dict[str, dict[str, Any]]], kind: str, clearance: str
) -> None:
    clean, other = views["clean"][clearance], views[kind][clearance]
    assert clean.keys() == other.keys()
    for what in clean:
        assert other[what] == clean[what], f"{what}: differs for a {clearance} caller when canaries were {kind}"


def test_the_views_are_not_empty(views: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Positive control: the compared responses hold scores, answers and the uploaded document's id, and no
    canary above the caller."""
    seen = views["added"]["cong-khai"]
    hits = seen["search lexical kho lưu trữ văn kiện số"][1]["hits"]
    assert hits and all(h["score"] > 0 for h in hits)
    assert seen[f"ask {QUESTIONS[1]}"][1]["citations"]
    assert seen["job"]["files"][0]["doc_id"] == "nq-904-2026"  # the hidden nq-904-2026.<level> take nothing
    assert seen["readyz"]["documents"] == 1 and "documents" not in seen["readyz anonymous"]
    assert views["added"]["mat"]["readyz"]["documents"] == 2  # the public and "nội bộ" ones; the "tối mật" canaries not
    for clearance in CALLERS:
        for kind in WORLDS:
            for canary in forbidden_canaries(clearance):
                assert canary not in repr(views[kind][clearance]), (clearance, kind, canary)
