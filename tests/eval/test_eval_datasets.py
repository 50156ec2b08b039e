"""Loaders: good files load; malformed ones fail naming the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import CorpusDoc, load_beir, load_mcq, load_peer_runs, load_qa
from eval.errors import DatasetError
from rag.errors import InvalidRequest


def test_load_beir_keeps_judged_queries_in_file_order(beir_dir: Path) -> None:
    ds = load_beir(beir_dir)
    assert ds.name == "mau" and ds.split == "all"
    assert ds.corpus["d1"] == CorpusDoc(
        "Nghị quyết mẫu số 1", "Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu."
    )
    assert ds.corpus["d4"].title == ""
    title, text = ds.corpus["d2"]  # a plain (title, text) pair
    assert "2% GDP" in text and title
    assert list(ds.queries) == ["q1", "q2", "q3"]  # q4 has no qrels in "all": dropped
    assert ds.qrels["q3"] == {"d3": 2, "d1": 1}


def test_load_beir_split_without_header(beir_dir: Path) -> None:
    ds = load_beir(beir_dir, "test")
    assert list(ds.queries) == ["q2"] and ds.qrels == {"q2": {"d2": 1}}


def test_unknown_split_lists_available(beir_dir: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load_beir(beir_dir, "dev")
    assert "all, test" in str(info.value)
    assert "all, test" in info.value.user_message


def test_dataset_error_is_an_invalid_request_with_vietnamese_message(beir_dir: Path) -> None:
    (beir_dir / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d2", "text": "b"}\n{"_id": oops}\n')
    with pytest.raises(InvalidRequest) as info:
        load_beir(beir_dir)
    exc = info.value
    assert isinstance(exc, DatasetError)
    assert exc.line == 3 and exc.path.endswith("corpus.jsonl")
    assert "corpus.jsonl:3" in str(exc)
    assert "dòng 3" in exc.user_message and "JSON" in exc.user_message


def test_missing_field_named(beir_dir: Path) -> None:
    (beir_dir / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n{"_id": "q2"}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_beir(beir_dir)
    assert (info.value.line, info.value.field) == (2, "text")
    assert "trường «text»" in info.value.user_message


def test_qrels_with_unknown_query(beir_dir: Path) -> None:
    (beir_dir / "qrels" / "all.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td2\t1\n")
    with pytest.raises(DatasetError) as info:
        load_beir(beir_dir)
    assert (info.value.line, info.value.field) == (3, "query-id")
    assert "q9" in info.value.user_message


@pytest.mark.parametrize(
    ("line", "field", "fragment"),
    [
        ("q1\td9\t1", "corpus-id", "d9"),
        ("q1\td1\tcao", "score", "cao"),
        ("q1\td1", None, "3 cột"),
    ],
)
def test_qrels_malformed_lines(beir_dir: Path, line: str, field: str | None, fragment: str) -> None:
    (beir_dir / "qrels" / "all.tsv").write_text(f"q2\td2\t1\n{line}\n")
    with pytest.raises(DatasetError) as info:
        load_beir(beir_dir)
    assert info.value.line == 2 and info.value.field == field
    assert fragment in info.value.user_message


def test_duplicate_corpus_id(beir_dir: Path) -> None:
    (beir_dir / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n')
    with pytest.raises(DatasetError, match="duplicate") as info:
        load_beir(beir_dir)
    assert info.value.line == 2


def test_ambiguous_query_id_is_left_out_with_a_warning(beir_dir: Path) -> None:
    rows = [
        '{"_id": "q1", "text": "Câu thứ nhất?"}',
        '{"_id": "q2", "text": "B?"}',
        '{"_id": "q1", "text": "Một câu khác?"}',
        '{"_id": "q2", "text": "B?"}',  # an exact repeat is harmless
    ]
    (beir_dir / "queries.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (beir_dir / "qrels" / "all.tsv").write_text("q1\td1\t1\nq2\td2\t1\n")
    ds = load_beir(beir_dir)
    assert ds.queries == {"q2": "B?"} and set(ds.qrels) == {"q2"}
    assert ds.warnings == ("queries.jsonl: query id 'q1' names 2 different questions (lines 1, 3): left out",)


def test_missing_files_and_folder(tmp_path: Path, beir_dir: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_beir(tmp_path / "khong-co")
    (beir_dir / "queries.jsonl").unlink()
    with pytest.raises(DatasetError) as info:
        load_beir(beir_dir)
    assert info.value.path.endswith("queries.jsonl")


def test_split_with_no_relevant_document(beir_dir: Path) -> None:
    (beir_dir / "qrels" / "all.tsv").write_text("q1\td1\t0\n")
    with pytest.raises(DatasetError, match="no query"):
        load_beir(beir_dir)


def test_load_peer_runs(beir_dir: Path) -> None:
    run = {"model": "mô hình X", "note": "top 3", "run": {"q1": ["d2", "d1"], "q2": ["d2"]}}
    (beir_dir / "published_run_x_top3.json").write_text(json.dumps(run, ensure_ascii=False))
    (peer,) = load_peer_runs(beir_dir)
    assert peer.name == "x_top3" and peer.model == "mô hình X" and peer.run["q1"] == ["d2", "d1"]
    (beir_dir / "published_run_bad.json").write_text(json.dumps({"run": {"q1": "d1"}}))
    with pytest.raises(DatasetError) as info:
        load_peer_runs(beir_dir)
    assert info.value.field == "run"


# -- QA -------------------------------------------------------------------------------------------------------


def test_load_qa(qa_file: Path) -> None:
    items = load_qa(qa_file)
    assert [i.id for i in items] == ["a1", "a2", "a3", "a4"]
    first, follow_up, unanswerable = items[0], items[1], items[2]
    assert first.answers == ("2% GDP",) and first.answerable and first.doc == "nq-mau.md"
    assert first.tags == ("so_lieu",)
    assert follow_up.history[0]["question"] == "Nghị quyết mẫu nói gì về khoa học?"
    assert not unanswerable.answerable and unanswerable.answers == ()


def test_qa_extra_fields_kept_and_answerable_defaults(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "x", "question": "Hỏi?", "answers": ["đáp"], "options": ["a", "b"]}\n'
        '{"id": "y", "question": "Hỏi khác?", "answers": []}\n',
        encoding="utf-8",
    )
    x, y = load_qa(path)
    assert x.answerable and x.extra["options"] == ["a", "b"]
    assert not y.answerable


def test_qa_bad_json_on_line_3(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "1", "question": "A?", "answers": ["a"]}\n\n{"id": "2", "question": "B?", "answers": ["b"]\n'
    )
    with pytest.raises(DatasetError) as info:
        load_qa(path)
    assert info.value.line == 3
    assert "qa.jsonl, dòng 3" in info.value.user_message


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"id": "1", "answers": ["a"]}, "question"),
        ({"question": "A?", "answers": ["a"]}, "id"),
        ({"id": "1", "question": "A?"}, "answers"),
        ({"id": "1", "question": "A?", "answers": "a"}, "answers"),
        ({"id": "1", "question": "A?", "answers": [], "answerable": True}, "answers"),
        ({"id": "1", "question": "A?", "answers": ["a"], "answerable": "có"}, "answerable"),
        ({"id": "1", "question": "A?", "answers": ["a"], "history": [{"answer": "x"}]}, "history[0].question"),
        ({"id": "1", "question": "A?", "answers": ["a"], "tags": "x"}, "tags"),
    ],
)
def test_qa_field_errors(tmp_path: Path, row: dict[str, object], field: str) -> None:
    path = tmp_path / "qa.jsonl"
    good = {"id": "0", "question": "Hỏi?", "answers": ["đáp"]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_qa(path)
    assert (info.value.line, info.value.field) == (2, field)


def test_qa_duplicate_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "1", "question": "A?", "answers": ["a"]}\n' * 2)
    with pytest.raises(DatasetError, match="duplicate"):
        load_qa(path)
    path.write_text("\n")
    with pytest.raises(DatasetError, match="no questions"):
        load_qa(path)


# -- MCQ ------------------------------------------------------------------------------------------------------


def test_load_mcq(mcq_file: Path) -> None:
    items = load_mcq(mcq_file)
    assert [i.id for i in items] == ["m1", "m2", "m3", "m4"]
    assert items[1].answer == "2%" and items[1].answer_letter == "B"
    assert items[2].answer_index == 0  # derived from the answer text


def test_load_mcq_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "quiz.jsonl"
    path.write_text('{"id": "x", "question": "Q?", "options": ["a", "b"], "answer_index": 1}\n')
    (item,) = load_mcq(path)
    assert item.answer == "b"


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"qid": "z", "question": "Q?", "options": ["a", "b"], "answer_index": 2}, "answer_index"),
        ({"qid": "z", "question": "Q?", "options": ["a", "b"], "answer": "c"}, "answer_index"),
        ({"qid": "z", "question": "Q?", "options": ["a", "b"], "answer_index": 0, "answer": "b"}, "answer"),
        ({"qid": "z", "question": "Q?", "options": ["a"], "answer_index": 0}, "options"),
        ({"qid": "z", "options": ["a", "b"], "answer_index": 0}, "question"),
    ],
)
def test_mcq_errors_point_at_the_record(tmp_path: Path, record: dict[str, object], field: str) -> None:
    good = {"qid": "y", "question": "Q?", "options": ["a", "b"], "answer_index": 0}
    path = tmp_path / "quiz.json"
    path.write_text(json.dumps([good, record], indent=1))
    # With indent=1 the first record opens on line 2 and takes 8 lines; the second opens after it.
    expected_line = path.read_text().splitlines().index(" {", 2) + 1
    with pytest.raises(DatasetError) as info:
        load_mcq(path)
    assert info.value.field == field
    assert info.value.line == expected_line


def test_mcq_not_json(tmp_path: Path) -> None:
    path = tmp_path / "quiz.json"
    path.write_text('[\n {"qid": "a",\n  "question": }\n]')
    with pytest.raises(DatasetError) as info:
        load_mcq(path)
    assert info.value.line == 3
