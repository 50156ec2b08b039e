"""Saved conversations: the server records each answered turn of a named conversation, per user; they can be
listed, reopened (also after a restart), renamed and deleted; another user's conversation answers like a missing
one; a follow-up without history takes the saved turns as its context; turns above the reader's clearance are
withheld."""

from __future__ import annotations

from pathlib import Path

from service.app import create_app
from service.conversations import ConversationStore, title_from
from tests.service.conftest import CANARIES, LocalClient, add_key, bearer, question_for, settings_for, sse_events

Q_FIRST = "Đồng chí cho hỏi Nghị quyết 50 đặt mục tiêu gì đến năm 2030?"


def test_a_conversation_is_saved_reopened_renamed_and_deleted(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as client:
        assert client.get("/api/v1/conversations").json() == {"conversations": []}
        created = client.post("/api/v1/conversations", json={})
        assert created.status_code == 201
        cid = created.json()["id"]
        assert created.json()["title"] == "" and created.json()["turns"] == 0

        first = client.post("/api/v1/ask", json={"question": Q_FIRST, "conversation_id": cid})
        assert first.status_code == 200 and not first.json()["abstained"]
        # a follow-up with no history of its own: the saved turn is its context ("nghị quyết đó" = NQ 50)
        follow = client.post(
            "/api/v1/ask", json={"question": "Kinh phí cho nghị quyết đó là bao nhiêu?", "conversation_id": cid}
        )
        assert follow.status_code == 200
        assert "50" in (follow.json()["rewritten_question"] or "") or "50 tỉ" in follow.json()["answer"]

        [listed] = client.get("/api/v1/conversations").json()["conversations"]
        assert listed["id"] == cid and listed["turns"] == 2 and listed["title"] == title_from(Q_FIRST)
        opened = client.get(f"/api/v1/conversations/{cid}").json()
        assert [m["question"] for m in opened["messages"]] == [Q_FIRST, "Kinh phí cho nghị quyết đó là bao nhiêu?"]
        assert opened["messages"][0]["answer"] == first.json() and opened["hidden"] == 0

        renamed = client.patch(f"/api/v1/conversations/{cid}", json={"title": "  Mục tiêu   NQ 50 "})
        assert renamed.status_code == 200 and renamed.json()["title"] == "Mục tiêu NQ 50"
        assert client.patch(f"/api/v1/conversations/{cid}", json={"title": "   "}).status_code == 422
        assert client.patch(f"/api/v1/conversations/{cid}", json={"name": "x"}).status_code == 422

        assert client.delete(f"/api/v1/conversations/{cid}").status_code == 204
        gone = client.get(f"/api/v1/conversations/{cid}")
        assert gone.status_code == 404 and "Không tìm thấy cuộc hội thoại" in gone.json()["error"]["message"]
        refused = client.post("/api/v1/ask", json={"question": Q_FIRST, "conversation_id": cid})
        assert refused.status_code == 404
        assert client.get("/api/v1/conversations").json() == {"conversations": []}


def test_the_streamed_answer_is_saved_and_survives_a_restart(index_dir: Path) -> None:
    with LocalClient(create_app(settings_for(index_dir))) as client:
        cid = client.post("/api/v1/conversations", json={"title": "Hỏi về lưu trữ"}).json()["id"]
        with client.stream("POST", "/api/v1/ask/stream", json={"question": Q_FIRST, "conversation_id": cid}) as r:
            assert r.status_code == 200
            events = sse_events(r.read().decode("utf-8"))
        assert [name for name, _ in events][-2:] == ["answer", "done"]
    with LocalClient(create_app(settings_for(index_dir))) as restarted:
        opened = restarted.get(f"/api/v1/conversations/{cid}").json()
        assert opened["title"] == "Hỏi về lưu trữ" and [m["question"] for m in opened["messages"]] == [Q_FIRST]
        assert opened["messages"][0]["answer"]["citations"]


def test_conversations_belong_to_their_user(index_dir: Path) -> None:
    mine, other = add_key(index_dir, "reader", "mat", "chu"), add_key(index_dir, "reader", "mat", "nguoi-khac")
    with LocalClient(create_app(settings_for(index_dir))) as client:
        cid = client.post("/api/v1/conversations", json={}, headers=bearer(mine)).json()["id"]
        answer = client.post(
            "/api/v1/ask", json={"question": question_for("mat"), "conversation_id": cid}, headers=bearer(mine)
        )
        assert answer.status_code == 200 and CANARIES["mat"] in answer.text
        missing = client.get("/api/v1/conversations/khong-co", headers=bearer(other))
        theirs = client.get(f"/api/v1/conversations/{cid}", headers=bearer(other))
        assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
        assert client.get("/api/v1/conversations", headers=bearer(other)).json() == {"conversations": []}
        for call in (
            lambda: client.delete(f"/api/v1/conversations/{cid}", headers=bearer(other)),
            lambda: client.patch(f"/api/v1/conversations/{cid}", json={"title": "x"}, headers=bearer(other)),
            lambda: client.post(
                "/api/v1/ask", json={"question": question_for("mat"), "conversation_id": cid}, headers=bearer(other)
            ),
        ):
            assert call().status_code == 404
        assert client.get(f"/api/v1/conversations/{cid}", headers=bearer(mine)).json()["turns"] == 1
        assert client.get("/api/v1/conversations").status_code == 401  # keys exist: no anonymous history


def test_turns_above_the_readers_clearance_are_withheld(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "conversations.sqlite")
    conversation = store.create("key:abc")
    store.append("key:abc", conversation.id, "Câu công khai?", {"answer": "Trả lời công khai."}, 0)
    store.append("key:abc", conversation.id, "Câu mật?", {"answer": "Trả lời mật."}, 2)
    summary, turns, hidden = store.get("key:abc", conversation.id, max_level=0)
    assert [t["question"] for t in turns] == ["Câu công khai?"] and hidden == 1 and summary.turns == 1
    assert [c.turns for c in store.listing("key:abc", 0)] == [1]
    assert store.history("key:abc", conversation.id, 0, 10) == [
        {"question": "Câu công khai?", "answer": "Trả lời công khai.", "citations": []}
    ]
    _, turns, hidden = store.get("key:abc", conversation.id, max_level=3)
    assert len(turns) == 2 and hidden == 0
    store.close()
