"""The `vankien` command line (also `python -m rag` and `python -m vankien`).

Every command takes `--index DIR` (default `$VANKIEN_INDEX`, else ./index) and `--json` for
machine-readable output on stdout. Human output and messages are in Vietnamese; progress bars and
logs go to stderr. Exit status: 0 success, 1 error, 2 bad usage, 3 some inputs rejected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag import (
    CLASSIFICATIONS,
    DEFAULT_CLASSIFICATION,
    ENV_INDEX,
    ENV_LLM_API_KEY,
    ENV_STORE,
    Filters,
    Library,
    MissingDependency,
    PipelineConfig,
    TerminalProgress,
    VanKienError,
    answer_to_dict,
    build_pipeline,
    default_index_dir,
    default_store,
    document_to_dict,
    hits_to_dicts,
    load_config,
    open_library,
    paragraph_to_dict,
)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3

_STATUS_LABELS = {"ok": "đã nạp", "unchanged": "không đổi", "replaced": "đã thay", "rejected": "từ chối"}


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _config(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline configuration: `--config FILE` (or the defaults), the command's flags over it."""
    llm_url = getattr(args, "llm_url", None)
    return load_config(
        getattr(args, "config", None),
        embedder=getattr(args, "embedder", None),
        mode=getattr(args, "mode", None),
        k=getattr(args, "answer_k", None),
        generator="llm" if llm_url else None,
        llm_url=llm_url,
        llm_model=getattr(args, "llm_model", None),
        llm_api_key=getattr(args, "llm_key", None),
    )


def _open_library(args: argparse.Namespace, *, create: bool) -> Library:
    return open_library(_config(args), args.index, create=create, store=args.store)


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(
        doc_types=tuple(args.type or ()),
        issued_from=args.date_from,
        issued_to=args.date_to,
        doc_ids=tuple(args.doc or ()),
    )


def _add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        metavar="TỆP",
        help="tệp cấu hình TOML của quy trình hỏi đáp (cùng định dạng với eval/configs/; mặc định: cấu hình mặc định)",
    )


def _add_llm_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llm-url",
        metavar="URL",
        help="máy chủ mô hình ngôn ngữ tương thích OpenAI (vLLM, llama.cpp, Ollama), ví dụ http://127.0.0.1:8080/v1; "
        "có tham số này thì câu trả lời do mô hình viết, vẫn kiểm tra trích dẫn",
    )
    p.add_argument("--llm-model", metavar="TÊN", help="tên mô hình trên máy chủ đó (bắt buộc khi có --llm-url)")
    p.add_argument(
        "--llm-key",
        metavar="KHÓA",
        help=f"khóa API của máy chủ mô hình, nếu cần (mặc định: biến môi trường {ENV_LLM_API_KEY})",
    )


def _add_filter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", action="append", metavar="LOẠI", help="chỉ tìm trong loại văn bản này (lặp lại được)")
    p.add_argument("--from", dest="date_from", metavar="NGÀY", help="ban hành từ ngày (NNNN-TT-NN)")
    p.add_argument("--to", dest="date_to", metavar="NGÀY", help="ban hành đến ngày (NNNN-TT-NN)")
    p.add_argument("--doc", action="append", metavar="DOC_ID", help="chỉ tìm trong tài liệu này (lặp lại được)")


# -- commands ---------------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    progress = None if args.no_progress else TerminalProgress(sys.stderr)
    if args.ray is not None:
        from rag import ingest_with_ray

        report = ingest_with_ray(
            [Path(p) for p in args.paths],
            args.store or default_store()[0] or "",
            args.classification,
            address=args.ray or None,
            embedder=args.embedder,
            exclude=args.exclude,
            progress=progress,
        )
    else:
        with _open_library(args, create=True) as library:
            report = library.ingest([Path(p) for p in args.paths], args.classification, progress, args.exclude)
    files = [
        {"path": r.path, "status": r.status, "reason": r.reason, "doc_id": r.doc_id, "paragraphs": r.paragraphs}
        for r in report.results
    ]
    counts = report.counts
    if args.json:
        _print_json({"files": files, "counts": counts})
    else:
        shown = report.results if len(report.results) <= 50 else [r for r in report.results if r.status != "unchanged"]
        for r in shown[:200]:
            line = f"{_STATUS_LABELS[r.status]:>10}  {r.path}"
            if r.doc_id:
                line += f"  -> {r.doc_id} ({r.paragraphs} đoạn)"
            if r.reason:
                line += f"  [{r.reason}]"
            print(line)
        if len(shown) > 200:
            print(f"... và {len(shown) - 200} mục khác (dùng --json để xem đủ)")
        where = f"chỉ mục: {args.index}" if args.ray is None else "kho PostgreSQL, nạp qua Ray"
        print("Tổng: " + ", ".join(f"{_STATUS_LABELS[s]} {n}" for s, n in counts.items()) + f" ({where})")
    return EXIT_REJECTED if counts["rejected"] else EXIT_OK


def cmd_docs(args: argparse.Namespace) -> int:
    with _open_library(args, create=False) as library:
        docs = library.documents()
        pending = library.pending_vectors()
    if args.json:
        _print_json(
            {
                "documents": [{**document_to_dict(d, d.paragraphs), "path": d.path} for d in docs],
                "pending_vectors": pending,
            }
        )
    else:
        if not docs:
            print("Chỉ mục chưa có tài liệu nào.")
        for d in docs:
            meta = " · ".join(x for x in (d.number, d.doc_type, d.issuer, d.issued, d.classification) if x)
            print(f"{d.doc_id}\n    {d.title}\n    {meta} · {d.paragraphs} đoạn")
        print(f"Tổng: {len(docs)} tài liệu.")
        if pending:
            print(
                f"Còn {pending} đoạn chờ vectơ: đã tìm được theo từ khóa, sẽ tìm được theo ngữ nghĩa khi nhúng xong "
                "(dịch vụ tự nhúng nền; hoặc chạy `vankien ingest` với cùng chỉ mục)."
            )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    with _open_library(args, create=False) as library:
        doc = library.document(args.doc_id)
        paragraphs = library.paragraphs(args.doc_id)
        conflicts = library.number_conflicts(doc)
    record = document_to_dict(doc, len(paragraphs), detail=True, conflicts=conflicts)
    if args.json:
        _print_json(
            {
                **record,
                "path": doc.path,
                "paragraphs": [paragraph_to_dict(p) for p in paragraphs],
            }
        )
    else:
        meta = " · ".join(x for x in (doc.number, doc.doc_type, doc.issuer, doc.place, doc.issued) if x)
        print(f"{doc.doc_id}: {doc.title}\n{meta}\nNạp bởi {doc.ingested_by} lúc {doc.added_at}, SHA-256 {doc.sha256}")
        for warning in record["warnings"]:
            print(warning)
        print()
        for p in paragraphs:
            text = " / ".join(p.text.split("\n"))
            if not args.full and len(text) > 100:
                text = text[:99] + "…"
            page = f" tr.{p.page}" if p.page else ""
            print(f"{p.paragraph_id}  [{p.section or '-'}]{page} {p.kind}: {text}")
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    config = _config(args)
    with open_library(config, args.index, create=False, store=args.store) as library:
        qa = build_pipeline(config, library)
        hits = qa.retriever.retrieve(args.query, args.k, _filters(args))
    if args.json:
        _print_json({"query": args.query, "hits": hits_to_dicts(hits)})
    else:
        if not hits:
            print("Không tìm thấy đoạn nào phù hợp.")
        for h in hits:
            meta = " · ".join(x for x in (h.number, h.issued, h.paragraph.section) if x)
            text = h.paragraph.text.replace("\n", " / ")
            print(f"{h.rank:>2}. [{h.score:.3f}] {h.paragraph_id}  {h.title[:80]}")
            if meta:
                print(f"    {meta}")
            print(f"    {text[:300]}{'…' if len(text) > 300 else ''}")
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    config = _config(args)
    with open_library(config, args.index, create=False, store=args.store) as library:
        answer = build_pipeline(config, library).ask(args.question, filters=_filters(args))
    if args.json:
        _print_json(answer_to_dict(answer))
        return EXIT_OK
    print(answer.text)
    if answer.citations:
        print("\nNguồn trích dẫn:")
        for c in answer.citations:
            meta = ", ".join(x for x in (c.hit.number, c.hit.issued, c.hit.paragraph.section) if x)
            print(f"[{c.marker}] {c.hit.title} ({meta}) — {c.hit.paragraph_id}")
            print(f"    «{c.quote}»")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    with _open_library(args, create=False) as library:
        library.remove(args.doc_id)
    if args.json:
        _print_json({"removed": args.doc_id})
    else:
        print(f"Đã xóa tài liệu {args.doc_id}.")
    return EXIT_OK


#: Where `vankien pg-copy` finds the PostgreSQL address when none is given (keeps a password off the command line).
PG_DSN_ENV = "VANKIEN_PG_DSN"


def cmd_pg_copy(args: argparse.Namespace) -> int:
    import os

    from rag.index.postgres import PgStore, copy_index

    dsn = args.dsn or os.environ.get(PG_DSN_ENV, "")
    if not dsn:
        print(
            f"Lỗi: hãy cho địa chỉ PostgreSQL (postgresql://...) hoặc đặt biến môi trường {PG_DSN_ENV}.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    progress = None if args.no_progress else TerminalProgress(sys.stderr)
    with _open_library(args, create=False) as library, PgStore(dsn) as pg:
        counts = copy_index(library.store, pg, progress)
        paragraphs = pg.count_paragraphs()
    if args.json:
        _print_json({"documents": counts, "paragraphs": paragraphs})
    else:
        print(
            f"Đã sao chép sang PostgreSQL: {counts['ok']} tài liệu mới, {counts['replaced']} thay bản cũ, "
            f"{counts['unchanged']} không đổi; kho có {paragraphs} đoạn."
        )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    # The service sits beside the evaluation toolkit above the library: imported here, only when asked for.
    try:
        from service.server import serve
    except ImportError as exc:
        raise MissingDependency(
            f"service dependencies missing: {exc}",
            "Thiếu các gói của dịch vụ web; hãy cài: pip install -e '.[service]'.",
        ) from exc
    serve(serve_settings(args), log_level="debug" if args.verbose > 1 else "info")
    return EXIT_OK


def serve_settings(args: argparse.Namespace) -> Any:
    """The service settings `vankien serve` runs with: the environment (`VANKIEN_*`), then the flags over it."""
    from service.settings import Settings

    given = {
        "index_dir": args.index,
        "host": args.host,
        "port": args.port,
        "config": args.config,
        "llm_url": args.llm_url,
        "llm_model": args.llm_model,
        "llm_api_key": args.llm_key,
        "store": args.store,
    }
    return Settings(**{k: v for k, v in given.items() if v is not None})


def _keystore(args: argparse.Namespace) -> Any:
    from service.keys import KeyStore, default_keys_path

    return KeyStore(default_keys_path(Path(args.index)))


def cmd_keys_create(args: argparse.Namespace) -> int:
    key, secret = _keystore(args).create(args.role, args.clearance, args.name)
    if args.json:
        _print_json({"name": key.name, "role": key.role, "clearance": key.clearance, "key": secret})
    else:
        print(f"Đã tạo khóa '{key.name}' (vai trò {key.role}, được xem đến mức {key.clearance}).")
        print("Khóa chỉ hiện MỘT lần, hãy lưu lại ngay:")
        print(secret)
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys = _keystore(args).all()
    if args.json:
        _print_json(
            {
                "keys": [
                    {
                        "name": k.name,
                        "role": k.role,
                        "clearance": k.clearance,
                        "prefix": k.prefix,
                        "created": k.created,
                        "revoked": k.revoked,
                    }
                    for k in keys
                ]
            }
        )
    else:
        if not keys:
            print("Chưa có khóa API nào (dịch vụ chỉ chạy được trên 127.0.0.1, ẩn danh, tài liệu công khai).")
        for k in keys:
            state = f"đã thu hồi {k.revoked}" if k.revoked else "đang hoạt động"
            print(f"{k.name:<24} {k.role:<7} {k.clearance:<10} {k.prefix}…  tạo {k.created}  {state}")
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    key = _keystore(args).revoke(args.name)
    if args.json:
        _print_json({"revoked": key.name})
    else:
        print(f"Đã thu hồi khóa '{key.name}'.")
    return EXIT_OK


_STATUS_VI = {"queued": "đang chờ", "running": "đang nạp", "done": "xong", "failed": "thất bại"}


def cmd_jobs(args: argparse.Namespace) -> int:
    import sqlite3

    from service.jobs import JOBS_FILE, read_jobs
    from service.keys import key_id

    names = {f"key:{key_id(k)}": k.name for k in _keystore(args).all()}
    try:
        store = args.store or default_store()[0]
        jobs = read_jobs(
            Path(args.index) / JOBS_FILE, None, args.status, 10_000 if args.key else args.limit, store=store
        )
    except sqlite3.Error as exc:
        logger.debug("cannot read the job table", exc_info=True)
        message = f"Không đọc được bảng tác vụ nạp ({JOBS_FILE}) trong thư mục chỉ mục: {exc}."
        if args.json:
            _print_json({"error": {"type": "StoreError", "message": message}})
        print(f"Lỗi: {message}", file=sys.stderr)
        return EXIT_ERROR

    def owner(job_owner: str) -> str:
        return names.get(job_owner) or job_owner.removeprefix("name:")

    if args.key:
        jobs = [j for j in jobs if owner(j.owner) == args.key][: args.limit]
    if args.json:
        _print_json(
            {
                "jobs": [
                    {
                        "job_id": j.job_id,
                        "status": j.status,
                        "owner": owner(j.owner),
                        "filename": j.filename,
                        "classification": j.classification,
                        "created": j.created,
                        "finished": j.finished,
                        "error": j.error,
                        "files": j.files,
                    }
                    for j in jobs
                ]
            }
        )
        return EXIT_OK
    if not jobs:
        print(
            "Chưa có tác vụ nạp nào"
            + (" khớp điều kiện." if args.status or args.key else " (dịch vụ chưa nhận tệp nào).")
        )
    for j in jobs:
        line = f"{j.job_id}  {_STATUS_VI.get(j.status, j.status):<9} {j.created}  {owner(j.owner):<20} {j.filename}"
        if j.status == "failed" and j.error:
            line += f"\n    lý do: {j.error}"
        elif j.status == "done":
            rejected = [f for f in j.files if f.get("status") == "rejected"]
            ok = len(j.files) - len(rejected)
            line += (
                f"  ({ok} tài liệu"
                + (f", {len(rejected)} bị từ chối: {rejected[0].get('reason')}" if rejected else "")
                + ")"
            )
        print(line)
    return EXIT_OK


_RATING_VI = {"up": "hữu ích", "down": "chưa đạt"}


def cmd_feedback(args: argparse.Namespace) -> int:
    from rag import NotFound
    from service.feedback import read_jsonl
    from service.settings import Settings

    records, bad = read_jsonl(Settings(index_dir=Path(args.index)).feedback_path)
    if args.rating:
        records = [r for r in records if r.get("rating") == args.rating]
    records = records[::-1][: args.limit]
    library = Library(Path(args.index), create=False, store=args.store) if records else None
    try:
        for record in records:
            cited = []
            for pid in record.get("paragraph_ids") or []:
                try:
                    para = library.catalog.paragraph(str(pid)) if library is not None else None
                except NotFound:
                    para = None
                if para is None:
                    cited.append({"paragraph_id": pid, "missing": True})
                else:
                    cited.append(
                        {"paragraph_id": pid, "doc_id": para.doc_id, "section": para.section, "text": para.text}
                    )
            record["paragraphs"] = cited
    finally:
        if library is not None:
            library.close()
    if args.json:
        _print_json({"feedback": records, "unreadable_lines": bad})
        return EXIT_OK
    if not records:
        print("Chưa có góp ý nào" + (" khớp điều kiện." if args.rating else "."))
    for r in records:
        who = f"{r.get('key', '?')} ({r.get('role', '?')}, {r.get('clearance', '?')})"
        print(
            f"[{r.get('ts', '?')}] {_RATING_VI.get(str(r.get('rating')), r.get('rating'))} — {who} — mã {r.get('id')}"
        )
        print(f"  Hỏi: {r.get('question', '')}")
        answer = str(r.get("answer", ""))
        print(f"  Đáp: {answer[:400]}{'…' if len(answer) > 400 else ''}")
        if r.get("comment"):
            print(f"  Góp ý: {r['comment']}")
        for c in r["paragraphs"]:
            if c.get("missing"):
                print(f"  Trích dẫn {c['paragraph_id']}: (đoạn này không còn trong chỉ mục)")
            else:
                text = c["text"]
                print(f"  Trích dẫn {c['paragraph_id']} [{c['section'] or 'đầu văn bản'}]: {text[:300]}")
        print()
    if bad:
        print(f"({bad} dòng trong tệp góp ý không đọc được, đã bỏ qua)", file=sys.stderr)
    return EXIT_OK


# -- parser -----------------------------------------------------------------------------------------


class _VietnameseArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"Lỗi cú pháp lệnh: {message}\nXem trợ giúp: vankien --help\n")


def _common_options(*, defaults: bool) -> _VietnameseArgumentParser:
    """The options every command takes, before or after its name. After the name they default to nothing
    (`argparse.SUPPRESS`), so that `vankien --index DIR ask ...` keeps the DIR given before it."""

    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    common = _VietnameseArgumentParser(add_help=False)
    common.add_argument(
        "--index",
        type=Path,
        default=default(None),
        metavar="DIR",
        help=f"thư mục chỉ mục (mặc định: biến môi trường {ENV_INDEX}, nếu không có thì ./index)",
    )
    common.add_argument(
        "--store",
        default=default(None),
        metavar="URI",
        help=f"kho văn bản dùng chung PostgreSQL (postgresql://...; mặc định: biến môi trường {ENV_STORE}, nếu không "
        "có thì danh mục cục bộ trong thư mục chỉ mục); thư mục chỉ mục khi đó chỉ giữ chỉ mục tìm kiếm của máy này",
    )
    common.add_argument("--json", action="store_true", default=default(False), help="in kết quả dạng JSON ra stdout")
    common.add_argument(
        "-v", "--verbose", action="count", default=default(0), help="in thêm nhật ký (lặp lại để chi tiết hơn)"
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options(defaults=False)
    parser = _VietnameseArgumentParser(
        prog="vankien",
        description="Văn Kiện: hỏi đáp có trích dẫn trên văn kiện, nghị quyết của Đảng (chạy offline).",
        parents=[_common_options(defaults=True)],
    )
    sub = parser.add_subparsers(dest="command", metavar="LỆNH", parser_class=_VietnameseArgumentParser)

    p = sub.add_parser(
        "ingest",
        parents=[common],
        help="nạp tệp hoặc thư mục vào chỉ mục",
        description="Nạp tệp (.pdf .docx .html .md .txt .jsonl) hoặc thư mục vào chỉ mục. Chạy lại không làm "
        "thay đổi gì nếu tệp không đổi; tệp đã sửa sẽ thay bản cũ.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="tệp hoặc thư mục")
    p.add_argument(
        "--classification",
        default=DEFAULT_CLASSIFICATION,
        choices=CLASSIFICATIONS,
        metavar="LEVEL",
        help=f"mức phân loại của tài liệu: {', '.join(CLASSIFICATIONS)} (mặc định {DEFAULT_CLASSIFICATION})",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="bỏ qua tệp trong thư mục khớp mẫu này (lặp lại được), ví dụ --exclude README.md",
    )
    p.add_argument("--no-progress", action="store_true", help="không hiện thanh tiến trình")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ĐỊA_CHỈ",
        help="nạp phân tán trên cụm Ray vào kho PostgreSQL (--store): phân tích/OCR song song trên các máy, nhúng "
        "bằng nhóm actor (GPU nếu có); không nêu địa chỉ thì chạy cụm cục bộ trên 127.0.0.1",
    )
    p.add_argument(
        "--embedder",
        metavar="TÊN",
        help="bộ nhúng khi tạo chỉ mục mới: e5 (mặc định, mô hình đa ngữ đi kèm gói), none (chỉ từ khóa), hash, "
        "st:/đường/dẫn/mô-hình",
    )
    _add_config_option(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "search",
        parents=[common],
        help="tìm các đoạn văn bản phù hợp với truy vấn",
        description="Tìm các đoạn phù hợp nhất (có thể gõ không dấu, nêu số hiệu như 'NQ 57').",
    )
    p.add_argument("query", metavar="TRUY_VẤN", help="nội dung cần tìm")
    p.add_argument("--k", type=int, default=10, help="số đoạn trả về (1-200, mặc định 10)")
    p.add_argument(
        "--mode", choices=("hybrid", "lexical", "dense"), help="cách tìm (mặc định: theo cấu hình, thường là hybrid)"
    )
    _add_filter_options(p)
    _add_config_option(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("docs", parents=[common], help="liệt kê tài liệu trong chỉ mục", description="Liệt kê tài liệu.")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser(
        "ask",
        parents=[common],
        help="hỏi đáp có trích dẫn",
        description="Trả lời câu hỏi từ các văn bản đã nạp; mỗi câu trả lời dẫn đúng đoạn nguồn, "
        "hoặc báo không tìm thấy khi văn bản không nói đến.",
    )
    p.add_argument("question", metavar="CÂU_HỎI", help="câu hỏi (có thể gõ không dấu)")
    p.add_argument(
        "--k", dest="answer_k", type=int, help="số đoạn đưa cho bộ trả lời (mặc định: theo cấu hình, thường là 8)"
    )
    _add_filter_options(p)
    _add_config_option(p)
    _add_llm_options(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser(
        "show",
        parents=[common],
        help="xem các đoạn của một tài liệu",
        description="In các đoạn của một tài liệu với mã đoạn, mục (section) và trang.",
    )
    p.add_argument("doc_id", metavar="DOC_ID", help="mã tài liệu (xem: vankien docs)")
    p.add_argument("--full", action="store_true", help="in đủ nội dung mỗi đoạn")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "remove", parents=[common], help="xóa một tài liệu", description="Xóa một tài liệu khỏi chỉ mục."
    )
    p.add_argument("doc_id", metavar="DOC_ID", help="mã tài liệu (xem: vankien docs)")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser(
        "serve",
        parents=[common],
        help="chạy dịch vụ API và trang hỏi đáp",
        description="Chạy dịch vụ HTTP (API, trang hỏi đáp, tài liệu OpenAPI tại /docs). Trên địa chỉ khác 127.0.0.1 "
        "dịch vụ cần có khóa API (vankien keys create).",
    )
    p.add_argument("--host", help="địa chỉ lắng nghe (mặc định 127.0.0.1, hoặc biến môi trường VANKIEN_HOST)")
    p.add_argument("--port", type=int, help="cổng (mặc định 8000, hoặc biến môi trường VANKIEN_PORT)")
    _add_config_option(p)
    _add_llm_options(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "pg-copy",
        parents=[common],
        help="sao chép chỉ mục sang kho PostgreSQL + pgvector (thử nghiệm, cho quy mô nhiều máy)",
        description="Sao chép mọi tài liệu của chỉ mục (đoạn văn, mức phân loại, vectơ) sang một cơ sở dữ liệu "
        "PostgreSQL có pgvector; chạy lại chỉ ghi phần đã thay đổi. Kho PostgreSQL chưa phục vụ tìm kiếm qua "
        "dịch vụ (xem docs/scale.md).",
    )
    p.add_argument(
        "dsn", nargs="?", metavar="DSN", help=f"địa chỉ postgresql://... (mặc định: biến môi trường {PG_DSN_ENV})"
    )
    p.add_argument("--no-progress", action="store_true", help="không hiện thanh tiến trình")
    p.set_defaults(func=cmd_pg_copy)

    p = sub.add_parser(
        "keys",
        parents=[common],
        help="quản lý khóa API của dịch vụ",
        description="Tạo, liệt kê, thu hồi khóa API (lưu dạng băm trong thư mục chỉ mục).",
    )
    keys_help = p.format_help()
    p.set_defaults(func=lambda _args: print(keys_help) or EXIT_USAGE)
    keys_sub = p.add_subparsers(dest="keys_command", metavar="LỆNH", parser_class=_VietnameseArgumentParser)
    q = keys_sub.add_parser("create", parents=[common], help="tạo khóa mới (khóa chỉ in ra một lần)")
    q.add_argument("--role", required=True, choices=("reader", "editor", "admin"), help="vai trò")
    q.add_argument(
        "--clearance",
        required=True,
        choices=CLASSIFICATIONS,
        metavar="LEVEL",
        help=f"mức tài liệu được xem: {', '.join(CLASSIFICATIONS)}",
    )
    q.add_argument("--name", help="tên khóa (mặc định: tự sinh)")
    q.set_defaults(func=cmd_keys_create)
    q = keys_sub.add_parser("list", parents=[common], help="liệt kê khóa (không bao giờ in khóa)")
    q.set_defaults(func=cmd_keys_list)
    q = keys_sub.add_parser("revoke", parents=[common], help="thu hồi một khóa theo tên")
    q.add_argument("name", metavar="NAME", help="tên khóa (xem: vankien keys list)")
    q.set_defaults(func=cmd_keys_revoke)

    p = sub.add_parser(
        "jobs",
        parents=[common],
        help="các tệp tải lên dịch vụ và trạng thái nạp",
        description="Liệt kê các tác vụ nạp của dịch vụ (đang chờ, đang nạp, xong, thất bại kèm lý do), "
        "mới nhất trước.",
    )
    p.add_argument("--status", choices=tuple(_STATUS_VI), help="chỉ trạng thái này")
    p.add_argument("--key", metavar="NAME", help="chỉ tác vụ của khóa có tên này (xem: vankien keys list)")
    p.add_argument("--limit", type=int, default=50, help="số tác vụ mới nhất (mặc định 50)")
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser(
        "feedback",
        parents=[common],
        help="xem góp ý của người dùng về câu trả lời (để rà soát)",
        description="Liệt kê góp ý gửi qua dịch vụ, mới nhất trước: câu hỏi, câu trả lời, nhận xét và nội dung các "
        "đoạn được trích dẫn.",
    )
    p.add_argument("--rating", choices=tuple(_RATING_VI), help="chỉ góp ý loại này (down: chưa đạt)")
    p.add_argument("--limit", type=int, default=50, help="số góp ý mới nhất (mặc định 50)")
    p.set_defaults(func=cmd_feedback)

    # The evaluation toolkit sits downstream of the library; its commands are registered here so that
    # evaluators have one entry point (`vankien eval ...`).
    from eval.cli import add_eval_commands

    add_eval_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.index is None:
        args.index = default_index_dir()
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return func(args)
    except VanKienError as exc:
        logger.debug("command failed", exc_info=True)
        if getattr(args, "json", False):
            _print_json({"error": {"type": type(exc).__name__, "message": exc.user_message}})
        print(f"Lỗi: {exc.user_message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Đã dừng theo yêu cầu.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout went away (`vankien docs | head`): not an error worth a traceback.
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
