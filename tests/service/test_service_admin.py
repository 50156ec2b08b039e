"""Administration over HTTP: keys listed without secrets, created (secret shown once) and revoked; ratings
reviewed with the cited paragraphs, marked with the expected answer and exported as an eval QA file that
`vankien eval qa` loads. Nothing above the admin's clearance shows."""

from __future__ import annotations

import json
from pathlib import Path

from eval.datasets import load_qa
from service.app import create_app
from tests.service.conftest import (
    CANARIES,
    DOC_IDS,
    LocalClient,
    add_key,
    bearer,
    question_for,
    settings_for,
    wait_job,
)


def test_keys_are_listed_created_and_revoked(index_dir: Path) -> None:
    admin_secret = add_key(index_dir, "admin", "mat", "quan-tri")
    admin = bearer(admin_secret)
    editor = bearer(add_key(index_dir, "editor", "mat", "bien-tap"))
    with LocalClient(create_app(settings_for(index_dir))) as client:
        listed = client.get("/api/v1/keys", headers=admin)
        assert listed.status_code == 200
        names = [k["name"] for k in listed.json()["keys"]]
        assert set(names) == {"quan-tri", "bien-tap"}
        assert admin_secret not in listed.text and "sha256" not in listed.text
        assert client.get("/api/v1/keys", headers=editor).status_code == 403

        made = client.post("/api/v1/keys", json={"name": "can-bo-moi", "role": "reader", "clearance": "noi-bo"},
                           headers=admin)  # fmt: skip
        assert made.status_code == 201
        secret = made.json()["key"]
        assert made.json()["prefix"] and secret.startswith(made.json()["prefix"])
        new_key = bearer(secret)
        assert client.get("/api/v1/documents", headers=new_key).status_code == 200
        assert secret not in client.get("/api/v1/keys", headers=admin).text  # shown once, never again

        duplicate = client.post("/api/v1/keys", json={"name": "can-bo-moi", "role": "reader", "clearance": "noi-bo"},
                                headers=admin)  # fmt: skip
        assert duplicate.status_code == 400 and "Đã có khóa tên" in duplicate.json()["error"]["message"]
        higher = client.post("/api/v1/keys", json={"role": "reader", "clearance": "toi-mat"}, headers=admin)
        assert higher.status_code == 403 and "cao hơn" in higher.json()["error"]["message"]
        assert client.post("/api/v1/keys", json={"role": "root", "clearance": "mat"}, headers=admin).status_code == 422

        ident = made.json()["key_id"]
        assert client.delete(f"/api/v1/keys/{ident}", headers=admin).status_code == 204
        assert client.get("/api/v1/documents", headers=new_key).status_code == 401
        [revoked] = [k for k in client.get("/api/v1/keys", headers=admin).json()["keys"] if k["key_id"] == ident]
        assert revoked["revoked"]
        assert client.delete(f"/api/v1/keys/{ident}", headers=admin).status_code == 404
        assert client.delete("/api/v1/keys/%C4%91%C3%A2y", headers=admin).status_code == 404  # "đây": not an id
        own = next(
            k["key_id"] for k in client.get("/api/v1/keys", headers=admin).json()["keys"] if k["name"] == "quan-tri"
        )
        refused = client.delete(f"/api/v1/keys/{own}", headers=admin)
        assert refused.status_code == 400 and "chính khóa bạn đang dùng" in refused.json()["error"]["message"]


def test_ratings_are_reviewed_and_exported_as_regression_questions(index_dir: Path, tmp_path: Path) -> None:
    admin = bearer(add_key(index_dir, "admin", "mat", "quan-tri"))
    reader = bearer(add_key(index_dir, "reader", "cong-khai", "doc-gia"))
    top = bearer(add_key(index_dir, "reader", "toi-mat", "can-bo-toi-mat"))
    with LocalClient(create_app(settings_for(index_dir))) as client:
        answer = client.post("/api/v1/ask", json={"question": question_for("cong-khai")}, headers=reader).json()
        down = {
            "question": question_for("cong-khai"),
            "answer": answer["answer"],
            "rating": "down",
            "comment": "Thiếu con số kinh phí",
            "paragraph_ids": [c["paragraph_id"] for c in answer["citations"]] + [f"{DOC_IDS['toi-mat']}/p0005"],
        }
        first = client.post("/api/v1/feedback", json=down, headers=reader).json()["id"]
        up = {**down, "rating": "up", "comment": None}
        client.post("/api/v1/feedback", json=up, headers=reader)
        secret = {"question": question_for("toi-mat"), "answer": f"Mục tiêu {CANARIES['toi-mat']}", "rating": "down"}
        hidden_id = client.post("/api/v1/feedback", json=secret, headers=top).json()["id"]

        listed = client.get("/api/v1/feedback", params={"rating": "down"}, headers=admin)
        assert listed.status_code == 200 and CANARIES["toi-mat"] not in listed.text
        [item] = listed.json()["feedback"]  # the toi-mat rater's rating is above the admin's clearance
        assert item["id"] == first and item["comment"] == "Thiếu con số kinh phí" and item["review"] is None
        shown = {p["paragraph_id"]: p for p in item["paragraphs"]}
        cited = answer["citations"][0]
        assert shown[cited["paragraph_id"]]["text"] == cited["text"]
        assert shown[f"{DOC_IDS['toi-mat']}/p0005"] == {"paragraph_id": f"{DOC_IDS['toi-mat']}/p0005", "missing": True}
        assert client.get("/api/v1/feedback", headers=reader).status_code == 403

        review = {"expected": "50 tỉ đồng", "note": "câu hỏi cần con số"}
        r = client.post(f"/api/v1/feedback/{first}/review", json=review, headers=admin)
        assert r.status_code == 200 and r.json()["reviewed"] and r.json()["reviewer"] == "quan-tri"
        assert client.post(f"/api/v1/feedback/{hidden_id}/review", json=review, headers=admin).status_code == 404
        assert client.post("/api/v1/feedback/khong-co/review", json=review, headers=admin).status_code == 404
        pending = client.get("/api/v1/feedback", params={"reviewed": False}, headers=admin).json()["feedback"]
        assert [f["rating"] for f in pending] == ["up"]
        done = client.get("/api/v1/feedback", params={"reviewed": True}, headers=admin).json()["feedback"]
        assert [f["id"] for f in done] == [first] and done[0]["review"]["expected"] == "50 tỉ đồng"

        exported = client.get("/api/v1/feedback/export", headers=admin)
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/x-ndjson")
        assert "attachment" in exported.headers["content-disposition"]
    path = tmp_path / "gop-y.jsonl"
    path.write_bytes(exported.content)
    [question] = load_qa(path)  # the evaluator's own loader takes it as a QA set
    assert question.id == f"fb-{first}" and question.question == question_for("cong-khai")
    assert question.answers == ("50 tỉ đồng",) and question.answerable
    assert json.loads(exported.content)["comment"] == "Thiếu con số kinh phí"


def test_an_admin_reingests_a_document_from_its_source(index_dir: Path) -> None:
    admin = bearer(add_key(index_dir, "admin", "noi-bo", "quan-tri"))
    editor = bearer(add_key(index_dir, "editor", "toi-mat", "bien-tap"))
    with LocalClient(create_app(settings_for(index_dir))) as client:
        doc_id = DOC_IDS["cong-khai"]
        before = client.get(f"/api/v1/documents/{doc_id}", headers=admin).json()
        r = client.post(f"/api/v1/documents/{doc_id}/reingest", headers=admin)
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["job_id"], admin)
        # unchanged content, analysed again: the same document replaced under its id, provenance kept
        assert job["status"] == "done" and [f["status"] for f in job["files"]] == ["replaced"]
        after = client.get(f"/api/v1/documents/{doc_id}", headers=admin).json()
        assert after["paragraph_ids"] == before["paragraph_ids"]
        assert after["provenance"]["ingested_by"] == before["provenance"]["ingested_by"] == "cli"

        assert client.post(f"/api/v1/documents/{doc_id}/reingest", headers=editor).status_code == 403
        hidden = client.post(f"/api/v1/documents/{DOC_IDS['mat']}/reingest", headers=admin)
        assert hidden.status_code == 404 and CANARIES["mat"] not in hidden.text

        # the operator's source now unreadable: the job fails with the reason, and the file is left where it is
        path = index_dir.parent / "src" / "cong-khai" / "nq50.txt"
        path.write_text("   \n", encoding="utf-8")
        failed = wait_job(
            client, client.post(f"/api/v1/documents/{doc_id}/reingest", headers=admin).json()["job_id"], admin
        )
        assert failed["status"] == "failed" and failed["error"]
        assert path.exists()
        path.unlink()
        gone = client.post(f"/api/v1/documents/{doc_id}/reingest", headers=admin)
        assert gone.status_code == 409 and "không còn trên máy chủ" in gone.json()["error"]["message"]
