"""Tiny evaluation data sets written inline (Vietnamese, made up by the team; nothing from third parties)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

CORPUS = [
    {
        "_id": "d1",
        "title": "Nghị quyết mẫu số 1",
        "text": "Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu.",
    },
    {"_id": "d2", "title": "Nghị quyết mẫu số 2", "text": "Chi cho nghiên cứu và phát triển đạt 2% GDP vào năm 2030."},
    {"_id": "d3", "title": "Chỉ thị mẫu", "text": "Tăng cường công tác kiểm tra, giám sát trong toàn Đảng."},
    {"_id": "d4", "title": "", "text": "Kinh tế tư nhân là một động lực quan trọng nhất của nền kinh tế."},
]
QUERIES = [
    {"_id": "q1", "text": "Khoa học công nghệ có vai trò gì?"},
    {"_id": "q2", "text": "Chi cho nghiên cứu phát triển bao nhiêu phần trăm GDP?"},
    {"_id": "q3", "text": "Công tác kiểm tra giám sát?"},
    {"_id": "q4", "text": "Câu hỏi không có đoạn đúng trong tập này"},
]
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\nq3\td1\t1\n"


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def beir_dir(tmp_path: Path) -> Path:
    """A BEIR folder: 4 documents, 4 queries, split "all" judging q1-q3 (q3 graded), split "test" judging q2."""
    folder = tmp_path / "mau"
    write_jsonl(folder / "corpus.jsonl", CORPUS)
    write_jsonl(folder / "queries.jsonl", QUERIES)
    (folder / "qrels").mkdir()
    (folder / "qrels" / "all.tsv").write_text(QRELS, encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("q2\td2\t1\n", encoding="utf-8")
    return folder


QA_ROWS = [
    {
        "id": "a1",
        "question": "Chi cho nghiên cứu và phát triển đạt bao nhiêu?",
        "answers": ["2% GDP"],
        "answerable": True,
        "doc": "nq-mau.md",
        "tags": ["so_lieu"],
    },
    {
        "id": "a2",
        "question": "Còn kinh tế tư nhân thì sao?",
        "answers": ["động lực quan trọng nhất"],
        "answerable": True,
        "history": [{"question": "Nghị quyết mẫu nói gì về khoa học?"}],
    },
    {"id": "a3", "question": "Giá vàng hôm nay bao nhiêu?", "answers": [], "answerable": False},
    {"id": "a4", "question": "Thời tiết Hà Nội ngày mai?", "answers": [], "answerable": False},
]


@pytest.fixture()
def qa_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", QA_ROWS)


MCQ_ROWS = [
    {
        "qid": "m1",
        "question": "Đột phá quan trọng hàng đầu là gì?",
        "options": ["Khoa học, công nghệ", "Du lịch"],
        "answer_index": 0,
    },
    {
        "qid": "m2",
        "question": "Chi R&D đạt bao nhiêu GDP?",
        "options": ["1%", "2%", "3%"],
        "answer_index": 1,
        "answer": "2%",
    },
    {
        "qid": "m3",
        "question": "Động lực quan trọng nhất?",
        "options": ["Kinh tế tư nhân", "Kinh tế nhà nước"],
        "answer": "Kinh tế tư nhân",
    },
    {"qid": "m4", "question": "Ai giám sát?", "options": ["Toàn Đảng", "Không ai", "Báo chí"], "answer_index": 0},
]


@pytest.fixture()
def mcq_file(tmp_path: Path) -> Path:
    path = tmp_path / "quiz.json"
    path.write_text(json.dumps(MCQ_ROWS, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
