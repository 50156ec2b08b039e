"""One pipeline for everyone: `vankien serve --config X` and `vankien eval ... --config X` build the same
components with the same parameters, and an LLM server given on the command line or to the service is really the
one that answers (with its citations checked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eval.cli import load_run_configs
from eval.engine import qa_pipeline
from rag import PipelineConfig, describe, open_library
from service.app import open_state
from tests.answer.openai_stub import OpenAIStub
from tests.samples import REPO_ROOT, SAMPLE_CORPUS
from vankien.cli import build_parser, main, serve_settings

ROOT = REPO_ROOT
SHIPPED = sorted((ROOT / "eval" / "configs").glob("*.toml"))

NQ46 = """BAN CHẤP HÀNH TRUNG ƯƠNG
Số 46-NQ/TW
Hà Nội, ngày 02 tháng 7 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về phát triển nông nghiệp sinh thái
Tài liệu thử nghiệm, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, 35% diện tích lúa được canh tác theo quy trình giảm phát thải.
2. Mỗi huyện xây dựng ít nhất một vùng nguyên liệu hữu cơ đạt chuẩn.
II. NHIỆM VỤ
1. Bộ Nông nghiệp và Môi trường chủ trì xây dựng bản đồ thổ nhưỡng số trong năm 2026.
"""
QUESTION = "Ai chủ trì xây dựng bản đồ thổ nhưỡng số?"
ANSWER = "Bộ Nông nghiệp và Môi trường chủ trì xây dựng bản đồ thổ nhưỡng số trong năm 2026"


def _serve_pipeline(argv: list[str]) -> dict[str, Any]:
    """What `vankien serve ARGS` would answer with: its settings, the app's state, the state's pipeline."""
    args = build_parser().parse_args(argv)
    state = open_state(serve_settings(args))
    try:
        return describe(state.pipeline())
    finally:
        state.library.close()


def _eval_pipeline(argv: list[str], index_dir: Path) -> dict[str, Any]:
    """What `vankien eval qa ARGS` would measure: its configurations, the engine's pipeline."""
    args = build_parser().parse_args(argv)
    (config,) = load_run_configs(args.config)
    with open_library(config, index_dir) as library:
        return describe(qa_pipeline(config, library))


def test_every_shipped_configuration_is_found() -> None:
    assert len(SHIPPED) >= 4 and any(p.stem == "default" for p in SHIPPED)


@pytest.mark.parametrize("config", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_serve_and_eval_build_the_same_pipeline(config: Path, tmp_path: Path) -> None:
    served = _serve_pipeline(["serve", "--config", str(config), "--index", str(tmp_path / "serve")])
    measured = _eval_pipeline(
        [
            "eval",
            "qa",
            "--config",
            str(config),
            "--docs",
            str(SAMPLE_CORPUS),
            "--qa",
            str(ROOT / "eval/data/corpus_qa.jsonl"),
        ],
        tmp_path / "eval",
    )
    assert served == measured
    # The description is not vacuous: it names the retriever's parameters and the generator.
    assert {"fusion", "lexical_weight", "rerank", "rrf_k"} <= set(served["retriever"])
    assert served["generator"]["name"] == "extractive" and served["k"] >= 1


def test_a_different_configuration_gives_a_different_description(tmp_path: Path) -> None:
    default = _serve_pipeline(["serve", "--index", str(tmp_path / "a")])
    rerank = _serve_pipeline(
        ["serve", "--config", str(ROOT / "eval/configs/rerank.toml"), "--index", str(tmp_path / "b")]
    )
    assert default["retriever"]["rerank"] is False and rerank["retriever"]["rerank"] is True


def test_flags_override_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "llm.toml"
    config.write_text("k = 5\nllm_timeout = 7\n", encoding="utf-8")
    served = _serve_pipeline(
        [
            "serve",
            "--config",
            str(config),
            "--index",
            str(tmp_path / "ix"),
            "--llm-url",
            "http://127.0.0.1:9/v1",
            "--llm-model",
            "mo-hinh",
        ]
    )
    assert served["k"] == 5
    generator = served["generator"]
    assert generator["type"] == "FallbackGenerator"
    assert generator["primary"]["model"] == "mo-hinh" and generator["primary"]["timeout"] == 7.0
    assert generator["fallback"]["name"] == "extractive"


def _cite(body: dict[str, Any]) -> str:
    """A faithful scripted model: cites the prompt's paragraph about the soil map."""
    user = body["messages"][-1]["content"]
    for block in user.split('<doan so="')[1:]:
        n, _, text = block.partition('">')
        if "thổ nhưỡng" in text:
            return f"Theo văn bản, {ANSWER[0].lower()}{ANSWER[1:]} [{n}]."
    return "Không tìm thấy thông tin trong các văn bản được cung cấp."


@pytest.fixture
def index(tmp_path: Path) -> Path:
    pytest.importorskip("langchain_openai")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nq46.txt").write_text(NQ46, encoding="utf-8")
    assert main(["ingest", str(docs), "--index", str(tmp_path / "ix"), "--no-progress", "--json"]) == 0
    return tmp_path / "ix"


def test_vankien_ask_answers_through_the_llm_given_by_flag(
    index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANKIEN_LLM_API_KEY", "khoa-thu")
    capsys.readouterr()
    with OpenAIStub(_cite) as stub:
        code = main(["ask", QUESTION, "--index", str(index), "--json", "--llm-url", stub.url, "--llm-model", "m"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and len(stub.requests) == 1 and stub.requests[0]["model"] == "m"
    assert stub.headers[0].get("authorization") == "Bearer khoa-thu"
    assert out["abstained"] is False and out["answer"].startswith("Theo văn bản")
    (citation,) = out["citations"]
    assert citation["paragraph_id"].startswith("nq-46-2025/") and ANSWER in citation["text"]
    assert citation["quote"] in citation["text"]


def test_vankien_ask_drops_what_the_llm_cannot_support(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    with OpenAIStub("Bộ Tài chính chủ trì lập quỹ hỗ trợ nông dân trồng cà phê [1].") as stub:
        main(["ask", QUESTION, "--index", str(index), "--json", "--llm-url", stub.url, "--llm-model", "m"])
    out = json.loads(capsys.readouterr().out)
    assert len(stub.requests) == 1 and out["abstained"] is True and out["citations"] == []


def test_the_service_answers_through_the_configured_llm(index: Path) -> None:
    from service.app import create_app
    from service.settings import Settings
    from tests.service.conftest import LocalClient

    with OpenAIStub(_cite) as stub:
        settings = Settings(index_dir=index, llm_url=stub.url, llm_model="m")
        with LocalClient(create_app(settings)) as client:
            answer = client.post("/api/v1/ask", json={"question": QUESTION}).json()
            chat = client.post(
                "/v1/chat/completions", json={"model": "vankien", "messages": [{"role": "user", "content": QUESTION}]}
            ).json()
    assert len(stub.requests) == 2
    assert answer["abstained"] is False and answer["answer"].startswith("Theo văn bản")
    assert ANSWER in answer["citations"][0]["text"]
    assert chat["choices"][0]["message"]["content"].startswith("Theo văn bản") and chat["citations"]


def test_a_bad_configuration_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "sai.toml"
    config.write_text('generator = "gpt"\n', encoding="utf-8")
    code = main(["ask", QUESTION, "--index", str(tmp_path / "ix"), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 1 and "sai.toml" in err and "generator" in err and "extractive" in err


def test_default_config_is_the_empty_file() -> None:
    from rag import load_config

    assert load_config(ROOT / "eval/configs/default.toml").to_dict() | {"name": "x", "description": ""} == (
        PipelineConfig().to_dict() | {"name": "x", "description": ""}
    )
