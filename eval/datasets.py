"""Loaders for the three evaluation formats, validating as they read.

* BEIR (`load_beir`): a folder with `corpus.jsonl` ({"_id", "title", "text"}), `queries.jsonl` ({"_id", "text"})
  and `qrels/<split>.tsv` (tab-separated `query-id corpus-id score`, with or without that header line).
* QA (`load_qa`): JSON Lines, one question per line: {"id", "question", "answers": [...], "answerable",
  "history"?: [{"question", ...}], "tags"?: [...], "doc"?}.
* MCQ (`load_mcq`): a JSON list (or JSON Lines) of {"qid" or "id", "question", "options": [...],
  "answer_index" and/or "answer"}.
* Published runs of other systems (`load_peer_runs`): `published_run_*.json` files beside a BEIR data set,
  {"model", "source", "note", "run": {query-id: [corpus-id, ...]}}.

Every problem raises `DatasetError` naming the file, the 1-based line and the field, with one exception seen in
published data: a query id repeated with different texts in queries.jsonl is left out of the evaluation (its qrels
cannot say which question they judge), with a warning kept on the data set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from eval.errors import DatasetError
from rag import fold

logger = logging.getLogger(__name__)

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class CorpusDoc(NamedTuple):
    """One corpus entry of a BEIR data set: `(title, text)`; the title may be empty."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class BeirDataset:
    """A BEIR data set restricted to one qrels split.

    Attributes:
        name: the folder name ("alqac").
        split: the qrels split ("all", "test", ...).
        path: the folder.
        corpus: corpus id -> (title, text), in file order.
        queries: query id -> text, only queries with at least one relevant document in the split, in file order.
        qrels: query id -> {corpus id: relevance}; relevance > 0 means relevant (graded values allowed).
        warnings: problems tolerated while loading (ambiguous query ids left out), shown in reports.
    """

    name: str
    split: str
    path: str
    corpus: dict[str, CorpusDoc]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    warnings: tuple[str, ...] = ()

    def accentless(self) -> BeirDataset:
        """The same data set with every question typed without diacritics ("Nghị quyết" -> "Nghi quyet"), as many
        users type; the corpus keeps its accents."""
        return replace(self, queries={qid: fold(text) for qid, text in self.queries.items()})


@dataclass(frozen=True, slots=True)
class QAItem:
    """One question of a QA set.

    Attributes:
        id: question id.
        question: the question as a user types it.
        answers: gold answer strings; a correct answer or cited paragraph contains one of them.
        answerable: False when the documents do not answer it (the system should abstain).
        history: earlier turns of the conversation, oldest first; each has at least "question".
        tags: free labels ("no_diacritics", "follow_up", ...).
        doc: the file the answer comes from, when known.
        extra: other fields of the line, kept as found.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    answerable: bool
    history: tuple[Mapping[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    doc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class MCQItem:
    """One multiple-choice question.

    Attributes:
        id: question id ("qid" in the file, or "id").
        question: the stem.
        options: the choices, in the order shown (letters A, B, C, ... by position).
        answer_index: 0-based index of the correct option.
        source_doc: the document the question is about, when known.
        extra: other fields, kept as found.
    """

    id: str
    question: str
    options: tuple[str, ...]
    answer_index: int
    source_doc: str | None = None
    extra: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    @property
    def answer(self) -> str:
        return self.options[self.answer_index]

    @property
    def answer_letter(self) -> str:
        return option_letter(self.answer_index)


@dataclass(frozen=True, slots=True)
class PeerRun:
    """A ranked run published by another system, to be scored with our metrics beside our own runs.

    Attributes:
        name: a short label ("bge_m3_bge146" from `published_run_bge_m3_bge146.json`).
        model: what produced it, as the file says.
        source: where it comes from.
        note: caveats stated in the file.
        run: query id -> ranked corpus ids, best first.
    """

    name: str
    model: str
    source: str
    note: str
    run: dict[str, list[str]]


def option_letter(index: int) -> str:
    """Return the letter shown for a 0-based option index (0 -> "A")."""
    return chr(ord("A") + index) if 0 <= index < 26 else str(index + 1)


# -- reading helpers ------------------------------------------------------------------------------------------


def _require_file(path: Path, what_vi: str) -> None:
    if not path.is_file():
        raise DatasetError(
            "file not found",
            path=path,
            user_reason=f"không tìm thấy {what_vi}.",
        )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})",
            path=path,
            user_reason="tệp không phải văn bản UTF-8.",
        ) from None
    except OSError as exc:
        raise DatasetError(f"cannot read: {exc.strerror}", path=path, user_reason="không đọc được tệp.") from None


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a bad line raises with its number."""
    for lineno, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"invalid JSON ({exc.msg}, column {exc.colno})",
                path=path,
                line=lineno,
                user_reason=f"dòng không phải JSON hợp lệ ({exc.msg}, cột {exc.colno}).",
            ) from None
        if not isinstance(obj, dict):
            raise DatasetError(
                "expected a JSON object", path=path, line=lineno, user_reason="mỗi dòng phải là một đối tượng JSON."
            )
        yield lineno, obj


def _string(
    obj: Mapping[str, Any], key: str, path: Path, line: int | None, *, required: bool = True, empty: bool = False
) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise DatasetError("missing field", path=path, line=line, field=key, user_reason="thiếu trường bắt buộc.")
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # numeric ids are common in BEIR files
    if not isinstance(value, str):
        raise DatasetError(
            f"expected a string, got {type(value).__name__}",
            path=path,
            line=line,
            field=key,
            user_reason="giá trị phải là chuỗi.",
        )
    if not empty and required and not value.strip():
        raise DatasetError("empty value", path=path, line=line, field=key, user_reason="giá trị rỗng.")
    return value


def _string_list(obj: Mapping[str, Any], key: str, path: Path, line: int | None) -> tuple[str, ...]:
    value = obj.get(key, [])
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(
            "expected a list of strings",
            path=path,
            line=line,
            field=key,
            user_reason="giá trị phải là danh sách chuỗi.",
        )
    return tuple(value)


# -- BEIR -----------------------------------------------------------------------------------------------------


def available_splits(folder: Path) -> list[str]:
    """Return the qrels splits of a BEIR folder (names of `qrels/*.tsv`), sorted."""
    return sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))


def _load_corpus(path: Path) -> dict[str, CorpusDoc]:
    _require_file(path, "tệp kho văn bản corpus.jsonl")
    corpus: dict[str, CorpusDoc] = {}
    for lineno, obj in _json_lines(path):
        doc_id = _string(obj, "_id", path, lineno)
        if doc_id in corpus:
            raise DatasetError(
                f"duplicate id {doc_id!r}", path=path, line=lineno, field="_id", user_reason=f"mã «{doc_id}» bị lặp."
            )
        title = _string(obj, "title", path, lineno, required=False)
        text = _string(obj, "text", path, lineno, empty=True)
        corpus[doc_id] = CorpusDoc(title, text)
    return corpus


def _load_queries(path: Path, warnings: list[str]) -> tuple[dict[str, str], set[str]]:
    """Read queries. Returns them and the ambiguous ids: an id repeated with different texts cannot be matched
    to its qrels, so it is left out of the evaluation (with a warning); an exact repeat is harmless."""
    _require_file(path, "tệp câu hỏi queries.jsonl")
    queries: dict[str, str] = {}
    lines: dict[str, list[int]] = {}
    ambiguous: set[str] = set()
    for lineno, obj in _json_lines(path):
        qid = _string(obj, "_id", path, lineno)
        text = _string(obj, "text", path, lineno)
        lines.setdefault(qid, []).append(lineno)
        if qid in queries and queries[qid] != text:
            ambiguous.add(qid)
        queries.setdefault(qid, text)
    for qid in sorted(ambiguous, key=lambda q: lines[q][0]):
        at = ", ".join(map(str, lines[qid][:5])) + (", ..." if len(lines[qid]) > 5 else "")
        warnings.append(
            f"{path.name}: query id {qid!r} names {len(lines[qid])} different questions (lines {at}): left out"
        )
        logger.warning("%s: query id %r names %d different questions: left out", path, qid, len(lines[qid]))
    return queries, ambiguous


_QRELS_COLUMNS = ("query-id", "corpus-id", "score")


def _load_qrels(path: Path, queries: Mapping[str, str], corpus: Mapping[str, CorpusDoc]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        cols = raw.split("\t") if "\t" in raw else raw.split()
        if lineno == 1 and [c.strip().lower() for c in cols] == list(_QRELS_COLUMNS):
            continue
        if len(cols) != 3:
            raise DatasetError(
                f"expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}",
                path=path,
                line=lineno,
                user_reason=f"cần 3 cột cách nhau bằng tab (query-id, corpus-id, score), có {len(cols)}.",
            )
        qid, doc_id, score_text = (c.strip() for c in cols)
        try:
            score = int(score_text)
        except ValueError:
            raise DatasetError(
                f"score {score_text!r} is not an integer",
                path=path,
                line=lineno,
                field="score",
                user_reason=f"điểm «{score_text}» không phải số nguyên.",
            ) from None
        if qid not in queries:
            raise DatasetError(
                f"unknown query id {qid!r} (not in queries.jsonl)",
                path=path,
                line=lineno,
                field="query-id",
                user_reason=f"mã câu hỏi «{qid}» không có trong queries.jsonl.",
            )
        if doc_id not in corpus:
            raise DatasetError(
                f"unknown corpus id {doc_id!r} (not in corpus.jsonl)",
                path=path,
                line=lineno,
                field="corpus-id",
                user_reason=f"mã đoạn «{doc_id}» không có trong corpus.jsonl.",
            )
        qrels.setdefault(qid, {})[doc_id] = score
    return qrels


def load_beir(folder: str | Path, split: str = "all") -> BeirDataset:
    """Load a BEIR data set restricted to one qrels split.

    Queries without a relevant document (score > 0) in the split are dropped, so every query counts.

    Args:
        folder: the data set folder (corpus.jsonl, queries.jsonl, qrels/).
        split: the qrels file name without ".tsv".

    Raises:
        DatasetError: a file is missing or malformed, a qrels line names an unknown query or corpus id,
            or no query has a relevant document.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError("data set folder not found", path=folder, user_reason="không tìm thấy thư mục dữ liệu.")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        splits = available_splits(folder)
        raise DatasetError(
            f"split {split!r} not found; available: {', '.join(splits) or 'none'}",
            path=qrels_path,
            user_reason=f"không có tập «{split}»; các tập có sẵn: {', '.join(splits) or 'không có'}.",
        )
    corpus = _load_corpus(folder / "corpus.jsonl")
    warnings: list[str] = []
    queries, ambiguous = _load_queries(folder / "queries.jsonl", warnings)
    qrels = _load_qrels(qrels_path, queries, corpus)
    judged = {qid for qid, rels in qrels.items() if any(s > 0 for s in rels.values()) and qid not in ambiguous}
    kept = {qid: text for qid, text in queries.items() if qid in judged}
    if not kept:
        raise DatasetError(
            "no query has a relevant document in this split",
            path=qrels_path,
            user_reason="không câu hỏi nào có đoạn đúng (điểm > 0) trong tập này.",
        )
    dropped = len(queries) - len(kept)
    if dropped:
        logger.info("%s: %d of %d queries have no relevant document in split %s", folder, dropped, len(queries), split)
    return BeirDataset(
        name=folder.name,
        split=split,
        path=str(folder),
        corpus=corpus,
        queries=kept,
        qrels={qid: qrels[qid] for qid in kept},
        warnings=tuple(warnings),
    )


def load_peer_runs(folder: str | Path) -> list[PeerRun]:
    """Load the runs other systems published for a BEIR data set (`published_run_*.json` in its folder).

    Raises:
        DatasetError: a file is not JSON or lacks a "run" object of id lists.
    """
    peers = []
    for path in sorted(Path(folder).glob("published_run_*.json")):
        text = _read_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"invalid JSON ({exc.msg})", path=path, line=exc.lineno, user_reason=f"JSON không hợp lệ ({exc.msg})."
            ) from None
        run = data.get("run") if isinstance(data, dict) else None
        if not isinstance(run, dict) or not all(
            isinstance(ids, list) and all(isinstance(i, str) for i in ids) for ids in run.values()
        ):
            raise DatasetError(
                "expected an object {query id: [corpus ids]}",
                path=path,
                field="run",
                user_reason="cần đối tượng {mã câu hỏi: [mã đoạn]}.",
            )
        assert isinstance(data, dict)
        peers.append(
            PeerRun(
                name=path.stem.removeprefix("published_run_"),
                model=str(data.get("model") or path.stem),
                source=str(data.get("source") or ""),
                note=str(data.get("note") or ""),
                run={str(q): list(ids) for q, ids in run.items()},
            )
        )
    return peers


# -- QA -------------------------------------------------------------------------------------------------------


def _history(obj: Mapping[str, Any], path: Path, line: int) -> tuple[Mapping[str, Any], ...]:
    value = obj.get("history") or []
    if not isinstance(value, list):
        raise DatasetError(
            "expected a list of turns", path=path, line=line, field="history", user_reason="phải là danh sách lượt hỏi."
        )
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, dict) or not isinstance(turn.get("question"), str) or not turn["question"].strip():
            raise DatasetError(
                f"turn {i} needs a non-empty 'question'",
                path=path,
                line=line,
                field=f"history[{i}].question",
                user_reason=f"lượt hỏi thứ {i + 1} thiếu câu hỏi.",
            )
        turns.append(MappingProxyType(dict(turn)))
    return tuple(turns)


_QA_FIELDS = ("id", "question", "answers", "answerable", "history", "tags", "doc")


def load_qa(path: str | Path) -> list[QAItem]:
    """Load a QA set (JSON Lines).

    `answerable` defaults to whether `answers` is non-empty; an answerable question must have an answer.

    Raises:
        DatasetError: the file is missing, a line is not JSON, a field is missing or of the wrong type,
            an id repeats, or the file holds no question.
    """
    path = Path(path)
    _require_file(path, "tệp câu hỏi")
    items: list[QAItem] = []
    seen: set[str] = set()
    for lineno, obj in _json_lines(path):
        qid = _string(obj, "id", path, lineno)
        if qid in seen:
            raise DatasetError(
                f"duplicate id {qid!r}", path=path, line=lineno, field="id", user_reason=f"mã «{qid}» bị lặp."
            )
        seen.add(qid)
        question = _string(obj, "question", path, lineno)
        if "answers" not in obj:
            raise DatasetError(
                "missing field", path=path, line=lineno, field="answers", user_reason="thiếu trường bắt buộc."
            )
        answers = tuple(a for a in _string_list(obj, "answers", path, lineno) if a.strip())
        answerable = obj.get("answerable", bool(answers))
        if not isinstance(answerable, bool):
            raise DatasetError(
                "expected true or false",
                path=path,
                line=lineno,
                field="answerable",
                user_reason="giá trị phải là true hoặc false.",
            )
        if answerable and not answers:
            raise DatasetError(
                "an answerable question needs at least one gold answer",
                path=path,
                line=lineno,
                field="answers",
                user_reason="câu hỏi có thể trả lời phải có ít nhất một đáp án.",
            )
        doc = _string(obj, "doc", path, lineno, required=False) or None
        items.append(
            QAItem(
                id=qid,
                question=question,
                answers=answers,
                answerable=answerable,
                history=_history(obj, path, lineno),
                tags=_string_list(obj, "tags", path, lineno),
                doc=doc,
                extra=MappingProxyType({k: v for k, v in obj.items() if k not in _QA_FIELDS}),
            )
        )
    if not items:
        raise DatasetError("no questions", path=path, user_reason="tệp không có câu hỏi nào.")
    return items


# -- MCQ ------------------------------------------------------------------------------------------------------

_MCQ_FIELDS = ("qid", "id", "question", "options", "answer_index", "answer", "source_doc")


def _mcq_records(path: Path) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """Yield (line, record) from a JSON list (line = where the record starts, best effort) or JSON Lines."""
    text = _read_text(path)
    if path.suffix.lower() == ".jsonl":
        yield from _json_lines(path)
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"invalid JSON ({exc.msg}, column {exc.colno})",
            path=path,
            line=exc.lineno,
            user_reason=f"JSON không hợp lệ ({exc.msg}, cột {exc.colno}).",
        ) from None
    if not isinstance(data, list):
        raise DatasetError("expected a JSON list of questions", path=path, user_reason="cần một danh sách JSON.")
    # Line numbers of a pretty-printed list: find each record's opening brace in order.
    starts = _object_start_lines(text)
    for i, obj in enumerate(data):
        line = starts[i] if i < len(starts) else None
        if not isinstance(obj, dict):
            raise DatasetError(
                f"item {i} is not a JSON object",
                path=path,
                line=line,
                user_reason=f"mục thứ {i + 1} không phải đối tượng.",
            )
        yield line, obj


def _object_start_lines(text: str) -> list[int]:
    """1-based line numbers where the top-level list's objects start (a light scan aware of strings)."""
    lines: list[int] = []
    depth, line, in_string, escaped = 0, 1, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "[{":
            if ch == "{" and depth == 1:
                lines.append(line)
            depth += 1
        elif ch in "]}":
            depth -= 1
    return lines


def load_mcq(path: str | Path) -> list[MCQItem]:
    """Load multiple-choice questions.

    The correct option is `answer_index` (0-based); without it, `answer` must equal one of the options.
    When both are given they must agree.

    Raises:
        DatasetError: the file is missing or not JSON, a field is missing or of the wrong type, the answer is
            not among the options, an id repeats, or there is no question.
    """
    path = Path(path)
    _require_file(path, "tệp trắc nghiệm")
    items: list[MCQItem] = []
    seen: set[str] = set()
    for lineno, obj in _mcq_records(path):
        key = "qid" if "qid" in obj else "id"
        qid = _string(obj, key, path, lineno)
        if qid in seen:
            raise DatasetError(
                f"duplicate id {qid!r}", path=path, line=lineno, field=key, user_reason=f"mã «{qid}» bị lặp."
            )
        seen.add(qid)
        question = _string(obj, "question", path, lineno)
        options = _string_list(obj, "options", path, lineno)
        if len(options) < 2:
            raise DatasetError(
                "need at least two options",
                path=path,
                line=lineno,
                field="options",
                user_reason="cần ít nhất hai phương án.",
            )
        index = obj.get("answer_index")
        answer = obj.get("answer")
        if index is None:
            if not isinstance(answer, str) or answer not in options:
                raise DatasetError(
                    "missing answer_index, and answer is not one of the options",
                    path=path,
                    line=lineno,
                    field="answer_index",
                    user_reason="thiếu chỉ số đáp án, và đáp án không trùng phương án nào.",
                )
            index = options.index(answer)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(options):
            raise DatasetError(
                f"answer_index must be 0..{len(options) - 1}",
                path=path,
                line=lineno,
                field="answer_index",
                user_reason=f"chỉ số đáp án phải từ 0 đến {len(options) - 1}.",
            )
        if isinstance(answer, str) and answer.strip() and answer.strip() != options[index].strip():
            raise DatasetError(
                "answer differs from options[answer_index]",
                path=path,
                line=lineno,
                field="answer",
                user_reason="đáp án không khớp với phương án theo chỉ số.",
            )
        source = obj.get("source_doc")
        items.append(
            MCQItem(
                id=qid,
                question=question,
                options=options,
                answer_index=index,
                source_doc=str(source) if source else None,
                extra=MappingProxyType({k: v for k, v in obj.items() if k not in _MCQ_FIELDS}),
            )
        )
    if not items:
        raise DatasetError("no questions", path=path, user_reason="tệp không có câu hỏi nào.")
    return items
