"""The `vankien eval` command group: retrieval, qa, mcq and compare.

`add_eval_commands` registers the group under the main parser's subparsers; each subcommand sets `func`
(returning the exit status) like the other `vankien` commands. Human output is Vietnamese on stdout, progress
bars on stderr; `--json` prints the result (one configuration) or {"results": [...]} (several) on stdout.
Exit status: 0 success, 1 error or (compare) regression, 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from eval import engine
from eval.compare import run_compare
from eval.config import RunConfig, load_config
from eval.datasets import load_beir, load_mcq, load_peer_runs, load_qa
from eval.errors import ConfigError
from eval.report import check_plotting, write_report
from eval.runners import run_mcq, run_qa, run_retrieval, score_peer
from rag import DEFAULT_EMBEDDER, VanKienError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

Handler = Callable[[argparse.Namespace], int]


# -- helpers --------------------------------------------------------------------------------------------------


#: Results ranked per query in a retrieval evaluation: the depth of the @10 metrics, and what `vankien search`
#: returns by default. (A configuration's `k` is how many paragraphs the answerer reads, not a ranking depth.)
RETRIEVAL_DEPTH = 10


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-") or "x"


def load_run_configs(paths: Sequence[Path]) -> list[RunConfig]:
    """Load the configurations (the offline default when none); names must be distinct."""
    configs = [load_config(p) for p in paths] or [RunConfig()]
    seen: dict[str, Path] = {}
    for path, config in zip(paths, configs, strict=False):
        if config.name in seen:
            raise ConfigError(
                f"duplicate configuration name {config.name!r} (also in {seen[config.name]})",
                path=path,
                field="name",
                user_reason=f"tên cấu hình «{config.name}» trùng với {seen[config.name]}; hãy đặt name khác.",
            )
        seen[config.name] = path
    return configs


@contextlib.contextmanager
def _work_dir(args: argparse.Namespace) -> Iterator[Path]:
    """The folder where evaluation indexes are built: --work, else a temporary folder removed afterwards."""
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        yield args.work
    else:
        with tempfile.TemporaryDirectory(prefix="vankien-eval-") as tmp:
            yield Path(tmp)


def _not_ready(exc: NotImplementedError) -> int:
    print(
        "Lỗi: phần dựng chỉ mục và truy vấn cho đánh giá chưa sẵn sàng trong phiên bản này "
        f"({exc}). Lệnh «vankien eval compare» vẫn dùng được.",
        file=sys.stderr,
    )
    return EXIT_ERROR


def _format_table(results: Sequence[dict[str, Any]]) -> str:
    names = list(dict.fromkeys(n for r in results for n in r["metrics"]))
    label_width = max([len(str(r.get("label"))) for r in results] + [9])
    header = f"{'Cấu hình':<{label_width}}  {'n':>5}  " + "  ".join(f"{n:>{max(len(n), 7)}}" for n in names)
    lines = [header + f"  {'p50 ms':>8}  {'p95 ms':>8}"]
    for r in results:
        cells = []
        for n in names:
            value = r["metrics"].get(n)
            cells.append(f"{'—' if value is None else f'{value:.4f}':>{max(len(n), 7)}}")
        latency = r.get("latency_ms") or {}
        p50, p95 = (latency.get(p) for p in ("p50", "p95"))
        lat = f"  {'—' if p50 is None else f'{p50:.1f}':>8}  {'—' if p95 is None else f'{p95:.1f}':>8}"
        lines.append(f"{r.get('label', ''):<{label_width}}  {r.get('n', ''):>5}  " + "  ".join(cells) + lat)
    return "\n".join(lines)


def _emit(args: argparse.Namespace, results: list[dict[str, Any]], heading: str, title: str) -> int:
    if args.json:
        _print_json(results[0] if len(results) == 1 else {"results": results})
    else:
        print(heading)
        print(_format_table(results))
    if args.out is not None:
        files = write_report(results, args.out, title, redacted=args.redact)
        where = sys.stderr if args.json else sys.stdout
        print(f"Đã ghi báo cáo: {files.markdown} (JSON: {files.json}, {len(files.plots)} biểu đồ)", file=where)
    return EXIT_OK


# -- commands -------------------------------------------------------------------------------------------------


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_plotting()  # before the evaluation runs, not after
    dataset = load_beir(args.dataset, args.split)
    if args.accentless:
        dataset = dataset.accentless()
    configs = load_run_configs(args.config)
    results: list[dict[str, Any]] = []
    status = EXIT_OK
    try:
        with _work_dir(args) as work:
            for config in configs:
                index_dir = work / slug(f"{dataset.name}-{dataset.split}") / index_name(config)
                search = engine.make_retrieval_engine(config, dataset.corpus, index_dir)
                run = run_retrieval(
                    dataset, search, args.k or RETRIEVAL_DEPTH, args.limit, not args.no_progress, config=config
                )
                results.append(run.to_dict(engine.index_manifest(index_dir)))
    except NotImplementedError as exc:
        status = _not_ready(exc)  # published peer runs can still be scored
        if not args.peer:
            return status
    if args.peer:
        from eval.peers import FACTORIES

        for peer_name, factory in FACTORIES.items():
            peer_search = factory(dataset.corpus)
            run = run_retrieval(
                dataset,
                peer_search,
                args.k or RETRIEVAL_DEPTH,
                args.limit,
                not args.no_progress,
                label=f"peer:{peer_name}",
            )
            results.append(run.to_dict(None))
        # Published runs ranked the questions as written: they cannot stand for the accent-less ones.
        peers = [] if args.accentless else load_peer_runs(args.dataset)
        for peer in peers:
            scored = score_peer(dataset, peer, args.limit)
            if scored.rankings:
                results.append(scored.to_dict())
            else:
                print(
                    f"Kết quả đối chứng «{peer.name}» không có câu hỏi nào của tập «{dataset.split}».", file=sys.stderr
                )
    if not results:
        return EXIT_ERROR
    typed = ", câu hỏi gõ không dấu" if args.accentless else ""
    heading = f"Dữ liệu: {dataset.name} (tập {dataset.split}, {len(dataset.queries)} câu hỏi{typed})"
    return _emit(args, results, heading, f"Đánh giá truy hồi — {dataset.name} ({dataset.split}{typed})") or status


def index_name(config: RunConfig) -> str:
    """The folder of a configuration's index under its corpus folder: configurations that build the same index
    (embedder and lexical parameters; the rest is chosen at query time) share one, so a model embeds a corpus once
    per `--work`, not once per configuration."""
    key = config.embedder or DEFAULT_EMBEDDER
    if config.lexical:
        key += "-" + "-".join(f"{name}{value}" for name, value in sorted(config.lexical.items()))
    return slug(key)


def corpus_dir(work: Path, docs: Path | None, distractors: Path | None, fallback: str = "no-docs") -> Path:
    """The folder of the indexes built over these documents: QA and MCQ runs over the same documents (and
    distractors) share it under one `--work`, so the distractors are embedded once, not once per evaluation."""
    if docs is None:
        return work / slug(fallback)
    key = f"docs-{docs.name}" + (f"+{distractors.stem}" if distractors is not None else "")
    return work / slug(key)


def cmd_eval_qa(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_plotting()  # before the evaluation runs, not after
    items = load_qa(args.qa)
    configs = load_run_configs(args.config)
    results: list[dict[str, Any]] = []
    try:
        with _work_dir(args) as work:
            for config in configs:
                index_dir = corpus_dir(work, args.docs, args.distractors) / index_name(config)
                ask = engine.make_qa_engine(config, args.docs, args.distractors, index_dir)
                run = run_qa(
                    items,
                    ask,
                    args.limit,
                    not args.no_progress,
                    config=config,
                    docs=str(args.docs),
                    qa=str(args.qa),
                )
                results.append(run.to_dict(engine.index_manifest(index_dir)))
            if args.peer:
                from eval.peers import FACTORIES, qa_peer

                # The peers read exactly the paragraphs our index holds (the first configuration's).
                paragraphs = engine.paragraphs(corpus_dir(work, args.docs, args.distractors) / index_name(configs[0]))
                for peer_name in FACTORIES:
                    peer_ask = qa_peer(peer_name, paragraphs)
                    run = run_qa(
                        items,
                        peer_ask,
                        args.limit,
                        not args.no_progress,
                        label=f"peer:{peer_name}",
                        docs=str(args.docs),
                        qa=str(args.qa),
                    )
                    results.append(run.to_dict(None))
    except NotImplementedError as exc:
        return _not_ready(exc)
    heading = f"Bộ câu hỏi: {args.qa} ({len(items)} câu) trên tài liệu {args.docs}"
    return _emit(args, results, heading, f"Đánh giá hỏi đáp — {args.qa.name}")


def cmd_eval_mcq(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_plotting()  # before the evaluation runs, not after
    items = load_mcq(args.quiz)
    configs = load_run_configs(args.config)
    results: list[dict[str, Any]] = []
    try:
        with _work_dir(args) as work:
            for config in configs:
                index_dir = corpus_dir(work, args.docs, args.distractors, f"mcq-{args.quiz.stem}") / index_name(config)
                choose = engine.make_mcq_engine(config, args.docs, args.distractors, index_dir)
                run = run_mcq(items, choose, args.limit, not args.no_progress, config=config, quiz=str(args.quiz))
                manifest = engine.index_manifest(index_dir) if args.docs is not None else None
                results.append(run.to_dict(manifest))
            if args.peer and args.docs is not None:
                from eval.peers import FACTORIES, mcq_peer

                # The peers read exactly the paragraphs our index holds (the first configuration's).
                paragraphs = engine.paragraphs(
                    corpus_dir(work, args.docs, args.distractors, f"mcq-{args.quiz.stem}") / index_name(configs[0])
                )
                for peer_name in FACTORIES:
                    run = run_mcq(
                        items,
                        mcq_peer(peer_name, paragraphs),
                        args.limit,
                        not args.no_progress,
                        label=f"peer:{peer_name}",
                        quiz=str(args.quiz),
                    )
                    results.append(run.to_dict(None))
    except NotImplementedError as exc:
        return _not_ready(exc)
    heading = f"Trắc nghiệm: {args.quiz} ({len(items)} câu)"
    return _emit(args, results, heading, f"Đánh giá trắc nghiệm — {args.quiz.name}")


def cmd_eval_compare(args: argparse.Namespace) -> int:
    if args.max_drop < 0:
        print("Lỗi: --max-drop phải không âm.", file=sys.stderr)
        return EXIT_USAGE
    return run_compare(args.old, args.new, args.max_drop, as_json=args.json, show=args.show)


# -- registration ---------------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"«{text}» không phải số nguyên") from None
    if value < 1:
        raise argparse.ArgumentTypeError("phải là số nguyên dương")
    return value


def _ensure_json_flag(parser: argparse.ArgumentParser) -> None:
    """Add --json unless the common parent already gave it."""
    with contextlib.suppress(argparse.ArgumentError):
        parser.add_argument("--json", action="store_true", help="in kết quả dạng JSON ra stdout")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="tệp cấu hình TOML (lặp lại để so sánh nhiều cấu hình; mặc định: cấu hình offline mặc định)",
    )
    parser.add_argument("--limit", type=_positive, metavar="N", help="chỉ chạy N câu hỏi đầu (kiểm tra nhanh)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="ghi báo cáo (report.md, report.json, biểu đồ PNG)")
    parser.add_argument(
        "--work",
        type=Path,
        metavar="DIR",
        help="thư mục dựng chỉ mục cho đánh giá (giữ lại để dùng lại; mặc định: thư mục tạm, xóa sau khi chạy)",
    )
    parser.add_argument("--no-progress", action="store_true", help="không hiện thanh tiến trình")
    parser.add_argument(
        "--redact",
        action="store_true",
        help="báo cáo (--out) không chép nội dung dữ liệu đánh giá (câu hỏi, đáp án, đoạn văn), chỉ mã và kết quả: "
        "dùng khi dữ liệu thuộc bên thứ ba",
    )
    _ensure_json_flag(parser)


def add_eval_commands(subparsers: Any, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Register `eval retrieval|qa|mcq|compare` under an argparse subparsers object.

    Args:
        subparsers: what `ArgumentParser.add_subparsers()` returned for the main parser.
        common_parent: the parser holding the options every command takes (--index, --json, -v).

    Returns:
        the `eval` parser.
    """
    group: argparse.ArgumentParser = subparsers.add_parser(
        "eval",
        parents=[common_parent],
        help="đánh giá chất lượng: truy hồi, hỏi đáp, trắc nghiệm, so sánh kết quả",
        description="Đánh giá và so sánh cấu hình trên các bộ dữ liệu (BEIR, hỏi đáp, trắc nghiệm).",
    )
    sub = group.add_subparsers(dest="eval_command", metavar="LỆNH")

    def _help(args: argparse.Namespace) -> int:
        group.print_help()
        return EXIT_USAGE

    group.set_defaults(func=_help)

    p = sub.add_parser(
        "retrieval",
        parents=[common_parent],
        help="đánh giá truy hồi trên bộ dữ liệu BEIR",
        description="Chạy mọi câu hỏi của bộ dữ liệu BEIR (corpus.jsonl, queries.jsonl, qrels/<tập>.tsv) và tính "
        "Hit@1/3/10, MRR@10, NDCG@10, Recall@10 cùng độ trễ.",
    )
    p.add_argument("--dataset", type=Path, required=True, metavar="DIR", help="thư mục bộ dữ liệu BEIR")
    p.add_argument("--split", default="all", metavar="S", help="tập qrels (tên tệp trong qrels/, mặc định all)")
    p.add_argument(
        "--k",
        type=_positive,
        metavar="K",
        help=f"số kết quả lấy mỗi câu (mặc định {RETRIEVAL_DEPTH}, độ sâu của các chỉ số @10)",
    )
    p.add_argument(
        "--peer",
        action="store_true",
        help="chạy cả các hệ đối chứng (LangChain BM25Retriever, bm25s) trong cùng tiến trình, và chấm kết quả đã "
        "công bố (published_run_*.json) trong thư mục dữ liệu",
    )
    p.add_argument(
        "--accentless",
        action="store_true",
        help="bỏ dấu mọi câu hỏi trước khi tìm (đo trường hợp người dùng gõ không dấu); văn bản giữ nguyên dấu",
    )
    _run_options(p)
    p.set_defaults(func=cmd_eval_retrieval)

    p = sub.add_parser(
        "qa",
        parents=[common_parent],
        help="đánh giá hỏi đáp có trích dẫn",
        description="Nạp tài liệu, hỏi từng câu của tệp qa.jsonl và chấm câu trả lời, trích dẫn và việc từ chối.",
    )
    p.add_argument("--docs", type=Path, required=True, metavar="DIR", help="thư mục tài liệu trả lời câu hỏi")
    p.add_argument("--qa", type=Path, required=True, metavar="FILE", help="tệp câu hỏi (JSON Lines)")
    p.add_argument("--distractors", type=Path, metavar="FILE", help="tài liệu gây nhiễu nạp kèm")
    p.add_argument(
        "--peer",
        action="store_true",
        help="chạy cả hệ đối chứng chỉ truy hồi (LangChain BM25Retriever, bm25s) trích 3 đoạn đầu của chúng",
    )
    _run_options(p)
    p.set_defaults(func=cmd_eval_qa)

    p = sub.add_parser(
        "mcq",
        parents=[common_parent],
        help="đánh giá trắc nghiệm",
        description="Trả lời các câu trắc nghiệm và tính độ chính xác, so với mức chọn theo chữ cái phổ biến nhất.",
    )
    p.add_argument("--quiz", type=Path, required=True, metavar="FILE", help="tệp câu trắc nghiệm (JSON)")
    p.add_argument("--docs", type=Path, metavar="DIR", help="thư mục tài liệu dùng để trả lời")
    p.add_argument("--distractors", type=Path, metavar="FILE", help="tài liệu gây nhiễu nạp kèm")
    p.add_argument(
        "--peer",
        action="store_true",
        help="chạy cả hệ đối chứng (LangChain BM25Retriever, bm25s): cùng cách chọn phương án, truy hồi của họ "
        "(cần --docs)",
    )
    _run_options(p)
    p.set_defaults(func=cmd_eval_mcq)

    p = sub.add_parser(
        "compare",
        parents=[common_parent],
        help="so sánh hai kết quả đánh giá, báo suy giảm",
        description="So sánh kết quả cũ và mới; mã thoát 1 nếu có chỉ số giảm quá --max-drop, và liệt kê các câu "
        "hỏi kém đi.",
    )
    p.add_argument("old", type=Path, metavar="OLD.json", help="kết quả cũ (mốc)")
    p.add_argument("new", type=Path, metavar="NEW.json", help="kết quả mới")
    p.add_argument(
        "--max-drop",
        type=float,
        default=0.01,
        metavar="X",
        help="mức giảm tối đa chấp nhận cho mỗi chỉ số (tuyệt đối, mặc định 0.01)",
    )
    p.add_argument("--show", type=_positive, default=20, metavar="N", help="số câu kém đi được in (mặc định 20)")
    _ensure_json_flag(p)
    p.set_defaults(func=cmd_eval_compare)
    return group


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser (`python -m eval ...`) with the same `eval` commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index", type=Path, default=None, metavar="DIR", help="thư mục chỉ mục")
    common.add_argument("--json", action="store_true", help="in kết quả dạng JSON ra stdout")
    common.add_argument("-v", "--verbose", action="count", default=0, help="in thêm nhật ký")
    parser = argparse.ArgumentParser(prog="python -m eval", parents=[common])
    sub = parser.add_subparsers(dest="command", metavar="LỆNH")
    add_eval_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `python -m eval retrieval|qa|mcq|compare ...` (as `vankien eval ...`); library errors print their
    Vietnamese message and exit 1."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] != ["eval"]:
        words.insert(0, "eval")
    args = parser.parse_args(words)
    func: Handler | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except VanKienError as exc:
        if getattr(args, "json", False):
            _print_json({"error": {"type": type(exc).__name__, "message": exc.user_message}})
        print(f"Lỗi: {exc.user_message}", file=sys.stderr)
        return EXIT_ERROR
