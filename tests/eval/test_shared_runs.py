"""Invariants over whole evaluation runs on the shared data sets (skipped when ../shared is not beside the repo).

The NQ 57 questions and the 500 out-of-domain questions are asked against one index of the NQ 57 documents plus
the 1,022 party_politics articles, as `vankien eval qa` does. Over every answer of both runs: each citation's
quote is a non-empty exact span of the cited paragraph at `quote_start`, that paragraph is the catalog's paragraph
of that id, every [n] in the text points at a citation, and an abstention carries no citation. Nothing of the
shared data is stored in the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag import Library, QAPipeline
from tests.samples import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
NQ57 = SHARED / "eval/nq57"
OOD = SHARED / "eval/out_of_domain/qa.jsonl"
DISTRACTORS = SHARED / "corpora/party_politics/docs_party_politics.jsonl"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (NQ57.exists() and OOD.exists() and DISTRACTORS.exists()), reason="../shared is absent"),
]


def _questions(path: Path) -> list[str]:
    return [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_citation_of_the_nq57_and_out_of_domain_runs_quotes_its_paragraph(tmp_path: Path) -> None:
    # Lexical retrieval: the invariants are the answer layer's, and embedding 84,000 paragraphs would take most of
    # CI's hour (the default embedder's figures on these runs are in docs/eval/, `make eval-all`).
    library = Library(tmp_path / "ix", embedder="none")
    report = library.ingest([NQ57 / "docs", DISTRACTORS])
    assert report.counts["rejected"] == 0
    qa = QAPipeline(library)
    questions = _questions(NQ57 / "qa.jsonl") + _questions(OOD)
    citations = answered = 0
    for question in questions:
        answer = qa.ask(question)
        markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
        assert markers <= {c.marker for c in answer.citations}, question
        if answer.abstained:
            assert not markers, question
            continue
        answered += 1
        for c in answer.citations:
            text = c.hit.paragraph.text
            assert c.quote, question
            assert text[c.quote_start : c.quote_start + len(c.quote)] == c.quote, question
            assert library.paragraph(c.hit.paragraph_id).text == text, question
            citations += 1
    assert answered >= 16 and citations >= 16  # the invariant was checked on real answers, not on abstentions
