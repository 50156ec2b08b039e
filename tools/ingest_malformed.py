"""Prove that ingestion survives the malformed-file corpus: through the real CLI, then through the API server.

1. `vankien ingest CORPUS --json` runs as a subprocess into a temporary index. Checked: the command exits with
   0 or 3, without a traceback or a signal, within the time bound; every file has a result, each one ok (or
   unchanged/replaced) or rejected with a reason; the files the manifest marks "ok" or "rejected" end that way;
   the catalog's integrity check passes.
2. `vankien serve` on 127.0.0.1 (a free port) with a new index and an editor key (`vankien keys create`); every
   file is uploaded through POST /api/v1/documents, in batches; the jobs are followed to their end; after each
   batch GET /healthz must answer. Checked: no 5xx, no server death, every job done or failed with a reason.

Parser-worker deaths (killed over a limit, crashed) are counted apart from process crashes: they are the
isolation doing its work. Prints the figures as JSON; exits 1 when any failure count is not zero.

Usage:
    python -m tools.ingest_malformed [--corpus DIR | --sample] [--skip-server] [--keep DIR]
    python -m tools.ingest_malformed --overhead corpus ../shared/eval/nq57/docs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tools.serving import free_port

ROOT = Path(__file__).resolve().parent.parent

#: Log lines of `rag.ingest.isolate` that report a parser worker ended by a limit or a crash.
WORKER_DEATH_RE = re.compile(r"parser worker (died|killed|out of memory)")
OK_STATUSES = {"ok", "unchanged", "replaced"}
UNEXPECTED_PREFIX = "Lỗi không mong đợi"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _vankien(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag", *args]


def load_manifest(corpus: Path) -> list[dict[str, Any]]:
    manifest = corpus / ".manifest.json"
    if manifest.exists():
        rows: list[dict[str, Any]] = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        return rows
    return [
        {"name": p.name, "category": "?", "expect": "any", "bytes": p.stat().st_size}
        for p in sorted(corpus.iterdir())
        if p.is_file() and not p.name.startswith(".")
    ]


def _file_of(result_path: str) -> str:
    """The corpus file a result belongs to (a .jsonl record's path carries "#<record>")."""
    name = Path(result_path.split("#", 1)[0]).name
    return name


def judge(rows: list[dict[str, Any]], results: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per-file outcome from the results: ok (some document stored), rejected (all refused, with reasons)."""
    ok = rejected = 0
    missing: list[str] = []
    no_reason: list[str] = []
    mismatched: list[str] = []
    unexpected: list[str] = []
    for row in rows:
        got = results.get(row["name"], [])
        if not got:
            missing.append(row["name"])
            continue
        statuses = {r["status"] for r in got}
        if statuses & OK_STATUSES:
            ok += 1
            outcome = "ok"
        else:
            rejected += 1
            outcome = "rejected"
        if any(r["status"] == "rejected" and not str(r.get("reason") or "").strip() for r in got):
            no_reason.append(row["name"])
        if any(str(r.get("reason") or "").startswith(UNEXPECTED_PREFIX) for r in got):
            unexpected.append(row["name"])
        if row.get("expect") in ("ok", "rejected") and row["expect"] != outcome:
            mismatched.append(f"{row['name']}: expected {row['expect']}, got {outcome} ({got[0].get('reason')})")
    return {
        "files_tried": len(rows),
        "ok": ok,
        "rejected": rejected,
        "without_result": missing,
        "rejected_without_reason": no_reason,
        "unexpected_errors": unexpected,
        "expectation_mismatches": mismatched,
    }


def integrity(index: Path) -> list[str]:
    """The catalog's integrity problems, and any document that holds a line of /etc/passwd (an XML external
    entity resolved by a parser would put it there)."""
    from rag.pipeline import Library

    secret = ""
    with contextlib.suppress(OSError):
        secret = Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
    with Library(index, create=False) as library:
        problems = library.check()
        if secret:
            for info in library.documents():
                if secret in library.document(info.doc_id).text:
                    problems.append(f"{info.doc_id}: holds the first line of /etc/passwd")
    return problems


# ---------------------------------------------------------------------------------------------- CLI


def run_cli(corpus: Path, index: Path, rows: list[dict[str, Any]], time_limit: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        proc = subprocess.run(
            _vankien("ingest", str(corpus), "--index", str(index), "--json", "--no-progress"),
            capture_output=True,
            text=True,
            env=_env(),
            timeout=time_limit,
        )
    except subprocess.TimeoutExpired as exc:
        return {"crashes": 1, "error": f"ingest ran over {time_limit:.0f} s", "stderr_tail": str(exc.stderr)[-2000:]}
    seconds = time.monotonic() - started
    stderr = proc.stderr
    figures: dict[str, Any] = {"exit_status": proc.returncode, "seconds": round(seconds, 1)}
    crashed = proc.returncode not in (0, 3) or "Traceback (most recent call last)" in stderr
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        report = {"files": []}
        crashed = True
    results: dict[str, list[dict[str, Any]]] = {}
    for item in report["files"]:
        results.setdefault(_file_of(item["path"]), []).append(item)
    figures.update(judge(rows, results))
    figures["crashes"] = int(crashed)
    figures["parser_worker_deaths"] = len(WORKER_DEATH_RE.findall(stderr))
    figures["results"] = len(report["files"])
    figures["statuses"] = dict(Counter(item["status"] for item in report["files"]))
    figures["integrity_problems"] = integrity(index) if not crashed else ["not checked: the command crashed"]
    if crashed:
        figures["stderr_tail"] = stderr[-4000:]
    return figures


# ---------------------------------------------------------------------------------------------- server


def _create_key(index: Path) -> str:
    out = subprocess.run(
        _vankien("keys", "create", "--role", "editor", "--clearance", "toi-mat", "--name", "malformed", "--json",
                 "--index", str(index)),
        capture_output=True, text=True, env=_env(), check=True,
    )  # fmt: skip
    return str(json.loads(out.stdout)["key"])


def run_server(
    corpus: Path, index: Path, rows: list[dict[str, Any]], *, batch: int, job_timeout: float, log: Path
) -> dict[str, Any]:
    import httpx

    index.mkdir(parents=True, exist_ok=True)
    key = _create_key(index)
    port = free_port()
    env = _env()
    env["VANKIEN_RATE_LIMIT_PER_MINUTE"] = "0"  # hundreds of uploads from one key
    largest = max(int(r["bytes"]) for r in rows)
    env["VANKIEN_MAX_UPLOAD_MB"] = str(max(20, largest // (1024 * 1024) + 1))  # every file reaches the parser
    with log.open("w", encoding="utf-8") as log_file:
        server = subprocess.Popen(
            _vankien("serve", "--index", str(index), "--host", "127.0.0.1", "--port", str(port)),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            return _drive(server, port, key, corpus, rows, batch, job_timeout, httpx, log)
        finally:
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
                try:
                    server.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait(10)


def _drive(
    server: subprocess.Popen[bytes],
    port: int,
    key: str,
    corpus: Path,
    rows: list[dict[str, Any]],
    batch: int,
    job_timeout: float,
    httpx: Any,
    log: Path,
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=120.0)
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            return {"server_deaths": 1, "error": "the server did not start", "log_tail": log.read_text()[-3000:]}
        with contextlib.suppress(httpx.HTTPError):
            if client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200:
                break
        if time.monotonic() > deadline:
            return {"server_deaths": 1, "error": "the server never became ready"}
        time.sleep(0.3)

    started = time.monotonic()
    server_errors = 0
    refused_at_upload: Counter[str] = Counter()
    deaths = 0
    health_failures = 0
    results: dict[str, list[dict[str, Any]]] = {}
    job_status: Counter[str] = Counter()
    failed_without_reason: list[str] = []
    stuck: list[str] = []
    for first in range(0, len(rows), batch):
        jobs: dict[str, str] = {}
        for row in rows[first : first + batch]:
            name = row["name"]
            try:
                response = client.post(
                    "/api/v1/documents",
                    files={"file": (name, (corpus / name).read_bytes())},
                    data={"classification": "noi-bo"},
                )
            except httpx.HTTPError as exc:
                server_errors += 1
                results[name] = [{"status": "rejected", "reason": f"upload failed: {exc!r}"}]
                continue
            if response.status_code >= 500:
                server_errors += 1
            if response.status_code == 202:
                jobs[response.json()["job_id"]] = name
            else:
                refused_at_upload[str(response.status_code)] += 1
                message = response.json().get("error", {}).get("message", "") if response.content else ""
                results[name] = [{"status": "rejected", "reason": message or f"HTTP {response.status_code}"}]
        for job_id, name in jobs.items():
            job_deadline = time.monotonic() + job_timeout
            while True:
                try:
                    response = client.get(f"/api/v1/jobs/{job_id}")
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code >= 500:
                    server_errors += 1
                if (
                    response is not None
                    and response.status_code == 200
                    and response.json()["status"]
                    in (
                        "done",
                        "failed",
                    )
                ):
                    job = response.json()
                    job_status[job["status"]] += 1
                    results[name] = job["files"] or [{"status": "rejected", "reason": job.get("error") or ""}]
                    if job["status"] == "failed" and not str(job.get("error") or "").strip():
                        failed_without_reason.append(name)
                    break
                if server.poll() is not None or time.monotonic() > job_deadline:
                    stuck.append(name)
                    break
                time.sleep(0.05)
        try:
            alive = client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            alive = False
        if not alive:
            health_failures += 1
        if server.poll() is not None:
            deaths += 1
            break
    seconds = time.monotonic() - started
    client.close()
    figures: dict[str, Any] = {"seconds": round(seconds, 1)}
    figures.update(judge(rows, results))
    text = log.read_text(encoding="utf-8", errors="replace")
    figures["server_errors_5xx"] = server_errors
    figures["server_deaths"] = deaths
    figures["healthz_failures"] = health_failures
    figures["jobs"] = dict(job_status)
    figures["jobs_failed_without_reason"] = failed_without_reason
    figures["jobs_not_finished"] = stuck
    figures["refused_at_upload"] = dict(refused_at_upload)
    figures["parser_worker_deaths"] = len(WORKER_DEATH_RE.findall(text))
    figures["tracebacks_in_log"] = text.count("Traceback (most recent call last)")
    return figures


# ---------------------------------------------------------------------------------------------- overhead


def overhead(folders: list[Path], repeat: int = 3) -> dict[str, Any]:
    """Time parsing every file of each folder in-process, with a warm worker pool, and with a new worker per file."""
    from rag.ingest import parse_file
    from rag.ingest.isolate import WorkerPool, parse_file_isolated
    from rag.pipeline import collect_files

    out: dict[str, Any] = {}
    for folder in folders:
        files = [f for f in collect_files([folder]) if isinstance(f, Path)]

        def run(fn: Any, files: list[Path] = files) -> float:
            t = time.perf_counter()
            for f in files:
                with contextlib.suppress(Exception):
                    fn(f)
            return time.perf_counter() - t

        run(parse_file)  # imports
        inproc = min(run(parse_file) for _ in range(repeat))
        pool = WorkerPool()
        first = run(lambda f, pool=pool: parse_file_isolated(f, pool=pool))
        warm = min(run(lambda f, pool=pool: parse_file_isolated(f, pool=pool)) for _ in range(repeat))
        pool.close()
        per_file = WorkerPool(max_tasks=1)
        fresh = run(lambda f, pool=per_file: parse_file_isolated(f, pool=pool))
        per_file.close()
        n = max(len(files), 1)
        out[str(folder)] = {
            "files": len(files),
            "in_process_s": round(inproc, 3),
            "pool_first_batch_s": round(first, 3),
            "pool_warm_s": round(warm, 3),
            "new_worker_per_file_s": round(fresh, 3),
            "warm_overhead_ms_per_file": round(1000 * (warm - inproc) / n, 1),
            "new_worker_overhead_ms_per_file": round(1000 * (fresh - inproc) / n, 1),
        }
    return out


# ---------------------------------------------------------------------------------------------- main


def failures(figures: dict[str, Any]) -> int:
    cli = figures.get("cli", {})
    server = figures.get("server", {})
    count = 0
    for part in (cli, server):
        for key in ("without_result", "rejected_without_reason", "unexpected_errors", "expectation_mismatches"):
            count += len(part.get(key, []))
    count += cli.get("crashes", 0) + len(cli.get("integrity_problems", []))
    count += server.get("server_errors_5xx", 0) + server.get("server_deaths", 0) + server.get("healthz_failures", 0)
    count += len(server.get("jobs_failed_without_reason", [])) + len(server.get("jobs_not_finished", []))
    count += server.get("tracebacks_in_log", 0) + len(server.get("integrity_problems", []))
    return int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="an existing corpus folder (default: generate one)")
    parser.add_argument("--sample", action="store_true", help="generate only the CI-sized sample")
    parser.add_argument("--seed", type=int, default=57)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--skip-server", action="store_true", help="only the CLI part")
    parser.add_argument("--batch", type=int, default=25, help="uploads per batch before /healthz is checked")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="bound on the CLI ingest (seconds)")
    parser.add_argument("--job-timeout", type=float, default=900.0, help="bound on one upload job (seconds)")
    parser.add_argument("--overhead", nargs="+", type=Path, metavar="FOLDER", help="only measure isolation cost")
    args = parser.parse_args(argv)

    if args.overhead:
        print(json.dumps(overhead(args.overhead), ensure_ascii=False, indent=2))
        return 0

    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vankien-malformed-")))
        work.mkdir(parents=True, exist_ok=True)
        corpus = args.corpus
        if corpus is None:
            from tools.make_malformed_corpus import generate

            corpus = work / "corpus"
            generate(corpus, sample=args.sample, seed=args.seed)
        rows = load_manifest(corpus)
        figures: dict[str, Any] = {"corpus": str(corpus), "files": len(rows)}
        figures["cli"] = run_cli(corpus, work / "index-cli", rows, args.time_limit)
        if not args.skip_server:
            server = run_server(
                corpus, work / "index-server", rows, batch=args.batch, job_timeout=args.job_timeout,
                log=work / "server.log",
            )  # fmt: skip
            if not server.get("server_deaths"):
                server["integrity_problems"] = integrity(work / "index-server")
            figures["server"] = server
        figures["failures"] = failures(figures)
        print(json.dumps(figures, ensure_ascii=False, indent=2))
        return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
