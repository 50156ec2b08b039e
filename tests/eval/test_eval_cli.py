"""`vankien eval ...` commands with a fake engine; the regression gate fails on a deliberately worse configuration."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from eval import engine
from eval.cli import add_eval_commands, main
from eval.config import RunConfig
from eval.datasets import CorpusDoc, QAItem
from rag.text.normalize import fold
from rag.types import Answer

GOOD = {
    "Khoa học công nghệ có vai trò gì?": ["d1", "d3"],
    "Chi cho nghiên cứu phát triển bao nhiêu phần trăm GDP?": ["d2", "d4"],
    "Công tác kiểm tra giám sát?": ["d3", "d1"],
}
# The deliberately worse configuration: the gold paragraph of two questions drops or disappears.
WORSE = {
    "Khoa học công nghệ có vai trò gì?": ["d1", "d3"],
    "Chi cho nghiên cứu phát triển bao nhiêu phần trăm GDP?": ["d4", "d3", "d2"],
    "Công tác kiểm tra giám sát?": ["d4"],
}


@pytest.fixture()
def fake_engine(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Replace the engine factories: embedder "hash:8" (a tiny embedder) plays the worse configuration."""
    built: list[tuple[str, Path]] = []

    def make_retrieval_engine(
        config: RunConfig, corpus: Mapping[str, CorpusDoc], index_dir: Path
    ) -> Callable[[str, int], list[str]]:
        assert set(corpus) == {"d1", "d2", "d3", "d4"}
        built.append((config.name, index_dir))
        table = WORSE if config.embedder == "hash:8" else GOOD
        return lambda query, k: table[query][:k]

    def make_qa_engine(config: RunConfig, docs: Path, distractors: Path | None, index_dir: Path) -> Any:
        built.append((config.name, index_dir))

        def ask(item: QAItem) -> Answer:
            text = item.answers[0] if item.answerable and config.embedder != "hash:8" else "Không rõ."
            return Answer(item.question, text, not item.answerable, ())

        return ask

    def make_mcq_engine(config: RunConfig, docs: Path | None, distractors: Path | None, index_dir: Path) -> Any:
        return lambda item: item.answer_index if config.embedder != "hash:8" else 1

    monkeypatch.setattr(engine, "make_retrieval_engine", make_retrieval_engine)
    monkeypatch.setattr(engine, "make_qa_engine", make_qa_engine)
    monkeypatch.setattr(engine, "make_mcq_engine", make_mcq_engine)
    monkeypatch.setattr(engine, "index_manifest", lambda index_dir: {"embedder": "gia", "docs": 4})
    return built


@pytest.fixture()
def configs(tmp_path: Path) -> tuple[Path, Path]:
    good = tmp_path / "tot.toml"
    good.write_text('embedder = "hash"\nk = 10\n', encoding="utf-8")
    worse = tmp_path / "kem.toml"
    worse.write_text('name = "kem"\nembedder = "hash:8"\n', encoding="utf-8")
    return good, worse


def _json_out(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_registers_under_a_parser_whose_parent_has_json() -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path)
    common.add_argument("--json", action="store_true")
    parser = argparse.ArgumentParser(prog="vankien", parents=[common])
    sub = parser.add_subparsers(dest="command")
    add_eval_commands(sub, common)
    args = parser.parse_args(["eval", "compare", "a.json", "b.json", "--max-drop", "0.02", "--json"])
    assert (args.old, args.new, args.max_drop, args.json) == (Path("a.json"), Path("b.json"), 0.02, True)
    args = parser.parse_args(["eval", "retrieval", "--dataset", "d", "--config", "a.toml", "--config", "b.toml"])
    assert args.config == [Path("a.toml"), Path("b.toml")] and args.split == "all" and not args.peer


def test_registers_without_json_in_the_parent() -> None:
    parser = argparse.ArgumentParser()
    add_eval_commands(parser.add_subparsers(), argparse.ArgumentParser(add_help=False))
    assert parser.parse_args(["eval", "mcq", "--quiz", "q.json", "--json", "--limit", "3"]).limit == 3


def test_retrieval_one_config_prints_the_contract(
    beir_dir: Path, fake_engine: list[tuple[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrieval", "--dataset", str(beir_dir), "--json", "--no-progress"]) == 0
    result = _json_out(capsys)
    assert (result["dataset"], result["split"], result["n"]) == ("mau", "all", 3)
    assert result["metrics"]["Hit@1"] == 1.0 and result["index_manifest"] == {"embedder": "gia", "docs": 4}
    assert result["config"]["name"] == "default"
    # The ranking depth is the @10 metrics', not the configuration's k (paragraphs the answerer reads).
    assert result["k"] == 10 and result["config"]["k"] < 10


def test_retrieval_accentless_asks_every_question_without_accents(
    beir_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    folded = {fold(q): ids for q, ids in GOOD.items()}

    def make_retrieval_engine(config: RunConfig, corpus: Any, index_dir: Path) -> Callable[[str, int], list[str]]:
        return lambda query, k: asked.append(query) or folded[query][:k]

    monkeypatch.setattr(engine, "make_retrieval_engine", make_retrieval_engine)
    monkeypatch.setattr(engine, "index_manifest", lambda index_dir: {})
    argv = ["retrieval", "--dataset", str(beir_dir), "--accentless", "--work", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    assert sorted(asked) == sorted(folded) and "Khoa hoc cong nghe co vai tro gi?" in asked
    assert "câu hỏi gõ không dấu" in capsys.readouterr().out


def test_retrieval_sweep_with_limit_and_report(
    beir_dir: Path,
    configs: tuple[Path, Path],
    fake_engine: list[tuple[str, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, worse = configs
    argv = ["eval", "retrieval", "--dataset", str(beir_dir), "--config", str(good), "--config", str(worse)]
    argv += ["--limit", "2", "--out", str(tmp_path / "bc"), "--work", str(tmp_path / "work"), "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Dữ liệu: mau (tập all, 3 câu hỏi)" in out
    assert "tot" in out and "kem" in out and "Hit@1" in out and "Đã ghi báo cáo" in out
    assert [name for name, _ in fake_engine] == ["tot", "kem"]
    # Indexes are kept per embedder (and lexical parameters), shared by configurations that build the same one.
    assert [where for _, where in fake_engine] == [tmp_path / "work" / "mau-all" / n for n in ("hash", "hash-8")]
    report = json.loads((tmp_path / "bc" / "report.json").read_text(encoding="utf-8"))
    assert [r["n"] for r in report["results"]] == [2, 2]
    assert (tmp_path / "bc" / "report.md").is_file() and (tmp_path / "bc" / "hit_curve.png").stat().st_size > 0


def test_regression_gate_fails_on_the_worse_configuration(
    beir_dir: Path,
    configs: tuple[Path, Path],
    fake_engine: list[tuple[str, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Acceptance: last week's result vs. a deliberately worse configuration -> exit 1, worse questions listed."""
    good, worse = configs
    base = ["retrieval", "--dataset", str(beir_dir), "--json", "--no-progress", "--config"]
    assert main([*base, str(good)]) == 0
    old = tmp_path / "old.json"
    old.write_text(capsys.readouterr().out, encoding="utf-8")
    assert main([*base, str(worse)]) == 0
    new = tmp_path / "new.json"
    new.write_text(capsys.readouterr().out, encoding="utf-8")

    assert main(["compare", str(old), str(new), "--max-drop", "0.01"]) == 1
    out = capsys.readouterr().out
    assert "CÓ SUY GIẢM" in out
    assert "q2: hạng 1 → hạng 3" in out and "q3: hạng 1 → ngoài top 10" in out
    assert "Chi cho nghiên cứu phát triển bao nhiêu phần trăm GDP?" in out

    assert main(["compare", str(old), str(old), "--max-drop", "0.01"]) == 0  # equal passes
    assert main(["compare", str(new), str(old)]) == 0  # better passes
    assert main(["compare", str(old), str(new), "--max-drop", "0.9"]) == 0  # within a generous tolerance


def test_qa_and_mcq_commands(
    qa_file: Path,
    mcq_file: Path,
    configs: tuple[Path, Path],
    fake_engine: list[tuple[str, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, worse = configs
    docs = tmp_path / "docs"
    docs.mkdir()
    argv = ["qa", "--docs", str(docs), "--qa", str(qa_file), "--json", "--no-progress"]
    assert main([*argv, "--config", str(good), "--config", str(worse)]) == 0
    data = _json_out(capsys)
    tot, kem = data["results"]
    assert (tot["docs"], tot["qa"], tot["n"]) == (str(docs), str(qa_file), 4)
    assert tot["metrics"]["answer_correct"] == 0.5 and kem["metrics"]["answer_correct"] == 0.0
    assert tot["metrics"]["abstention_recall"] == 1.0

    assert main(["mcq", "--quiz", str(mcq_file), "--json", "--no-progress", "--config", str(good)]) == 0
    assert _json_out(capsys)["metrics"]["accuracy"] == 1.0


def test_real_engine_and_peer_runs(beir_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real engine indexes the tiny BEIR set through rag.pipeline; published peer runs are scored beside it."""
    peer = {"model": "X", "run": {"q1": ["d1"], "q2": ["d3", "d2"]}}
    (beir_dir / "published_run_x.json").write_text(json.dumps(peer))
    assert main(["retrieval", "--dataset", str(beir_dir), "--peer", "--json", "--no-progress"]) == 0
    results = _json_out(capsys)["results"]
    labels = [r["label"] for r in results]
    assert "default" in labels and "peer:x" in labels
    ours = results[labels.index("default")]
    assert ours["index_manifest"]["embedder"].startswith("e5-small-q4@") and ours["metrics"]["Hit@10"] > 0
    assert results[labels.index("peer:x")]["metrics"]["MRR@10"] == 0.75


def test_bad_inputs_exit_1_with_vietnamese_message(
    beir_dir: Path, tmp_path: Path, fake_engine: list[tuple[str, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sai.toml"
    bad.write_text('fusion = "max"\n', encoding="utf-8")
    assert main(["retrieval", "--dataset", str(beir_dir), "--config", str(bad)]) == 1
    assert "Lỗi: Tệp" in capsys.readouterr().err
    assert main(["retrieval", "--dataset", str(beir_dir), "--split", "dev", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["type"] == "DatasetError"
    same = tmp_path / "a.toml"
    same.write_text('name = "x"\n', encoding="utf-8")
    assert main(["retrieval", "--dataset", str(beir_dir), "--config", str(same), "--config", str(same)]) == 1
    assert "trùng" in capsys.readouterr().err


def test_report_without_matplotlib_is_refused_before_the_evaluation_runs(
    beir_dir: Path,
    fake_engine: list[tuple[str, Path]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the environment `make run` creates matplotlib is absent: `--out` used to fail with a bare
    ModuleNotFoundError after the whole evaluation; now at once, saying how to install it."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    argv = ["retrieval", "--dataset", str(beir_dir), "--out", str(tmp_path / "bc"), "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "matplotlib" in err and "pip install -e '.[eval]'" in err and "Traceback" not in err
    assert fake_engine == [] and not (tmp_path / "bc").exists()  # nothing was run or written


def test_eval_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "retrieval" in capsys.readouterr().out


def test_qa_and_mcq_peers_read_the_same_paragraphs(
    qa_file: Path, mcq_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real engine: the peers run beside ours on the paragraphs our index holds, for QA and for MCQ."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "nq-mau.md").write_text(
        "# Nghị quyết mẫu\n\nTài liệu thử nghiệm, không phải văn bản chính thức.\n\n"
        "1. Phát triển khoa học, công nghệ là đột phá quan trọng hàng đầu.\n\n"
        "2. Chi cho nghiên cứu và phát triển đạt 2% GDP vào năm 2030.\n\n"
        "3. Kinh tế tư nhân là một động lực quan trọng nhất của nền kinh tế.\n\n"
        "4. Tăng cường kiểm tra, giám sát trong toàn Đảng.\n",
        encoding="utf-8",
    )
    for command in (["qa", "--qa", str(qa_file)], ["mcq", "--quiz", str(mcq_file)]):
        assert main([*command, "--docs", str(docs), "--peer", "--json", "--no-progress"]) == 0
        results = _json_out(capsys)["results"]
        assert [r["label"] for r in results] == ["default", "peer:langchain-bm25", "peer:bm25s"]
        assert len({r["n"] for r in results}) == 1
    ours, *peers = results  # MCQ: the same chooser on every retrieval
    assert ours["metrics"]["accuracy"] >= 0.5 and all(0.0 <= p["metrics"]["accuracy"] <= 1.0 for p in peers)
