"""The `vankien` command line, run as a real subprocess (`python -m rag`)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.samples import NQ_SAMPLE


def _run(*args: str, env_index: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    if env_index is not None:
        env["VANKIEN_INDEX"] = str(env_index)
    return subprocess.run([sys.executable, "-m", "rag", *args], capture_output=True, text=True, env=env, timeout=120)


def test_ingest_docs_remove_json(tmp_path: Path, sample_dir: Path) -> None:
    index = tmp_path / "ix"
    res = _run("ingest", str(sample_dir), "--index", str(index), "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["counts"] == {"ok": 2, "unchanged": 0, "replaced": 0, "rejected": 0}
    assert {f["status"] for f in out["files"]} == {"ok"}
    assert all(set(f) >= {"path", "status", "reason", "doc_id", "paragraphs"} for f in out["files"])

    res = _run("docs", "--json", env_index=index)  # index from the environment variable
    docs = {d["doc_id"]: d for d in json.loads(res.stdout)["documents"]}
    nq = docs["nq-99-2025"]
    assert nq["number"] == "99-NQ/TW" and nq["issued"] == "2025-03-05" and nq["type"] == "nghị quyết"
    assert nq["issuer"] == "Bộ Chính trị" and nq["classification"] == "cong-khai" and nq["paragraphs"] > 5

    res = _run("ingest", str(sample_dir), "--index", str(index), "--json")
    assert json.loads(res.stdout)["counts"]["unchanged"] == 2

    res = _run("remove", "nq-99-2025", "--index", str(index))
    assert res.returncode == 0 and "Đã xóa" in res.stdout
    res = _run("remove", "nq-99-2025", "--index", str(index))
    assert res.returncode == 1 and "Không có tài liệu" in res.stderr


def test_options_before_the_command_name_are_kept(tmp_path: Path, sample_dir: Path) -> None:
    """`vankien --index DIR --json docs` reads DIR (the usage line puts the options first), not ./index."""
    index = tmp_path / "ix"
    assert _run("--index", str(index), "ingest", str(sample_dir), "--no-progress").returncode == 0
    res = _run("--index", str(index), "--json", "docs", env_index=tmp_path / "elsewhere")
    assert res.returncode == 0, res.stderr
    assert "nq-99-2025" in {d["doc_id"] for d in json.loads(res.stdout)["documents"]}
    res = _run("--index", str(tmp_path / "elsewhere"), "docs", "--index", str(index), "--json")
    assert "nq-99-2025" in {d["doc_id"] for d in json.loads(res.stdout)["documents"]}  # the later one wins


def test_ingesting_the_folder_that_holds_the_index_skips_the_index(tmp_path: Path, sample_dir: Path) -> None:
    """`vankien ingest .` with the default ./index: the index's own files are not sources (they were rejected as
    unreadable, and the exit status said a file failed)."""
    index = sample_dir / "index"
    assert _run("ingest", str(sample_dir), "--index", str(index), "--no-progress").returncode == 0
    res = _run("ingest", str(sample_dir), "--index", str(index), "--json")
    assert res.returncode == 0, res.stdout
    out = json.loads(res.stdout)
    assert out["counts"] == {"ok": 0, "unchanged": 2, "replaced": 0, "rejected": 0}
    assert not [f["path"] for f in out["files"] if "index" in Path(f["path"]).parts]


def test_rejected_file_sets_exit_status_and_human_report(tmp_path: Path) -> None:
    bad = tmp_path / "hong.pdf.txt"
    bad.write_bytes(b"\x00" * 50)
    good = tmp_path / "nq.md"
    good.write_text(NQ_SAMPLE, encoding="utf-8")
    res = _run("ingest", str(bad), str(good), "--index", str(tmp_path / "ix"), "--no-progress")
    assert res.returncode == 3
    assert "từ chối" in res.stdout and "đã nạp" in res.stdout and "nhị phân" in res.stdout


def test_usage_errors_and_help(tmp_path: Path) -> None:
    res = _run("ingest", "--index", str(tmp_path))
    assert res.returncode == 2 and "Lỗi cú pháp lệnh" in res.stderr
    res = _run("--help")
    assert res.returncode == 0 and "ingest" in res.stdout and "docs" in res.stdout
    res = _run("docs", "--index", str(tmp_path / "none"))
    assert res.returncode == 1 and "Chưa có chỉ mục" in res.stderr
    res = _run("ingest", str(tmp_path), "--classification", "bi-mat", "--index", str(tmp_path / "ix"))
    assert res.returncode == 2


def test_show_and_exclude(tmp_path: Path, sample_dir: Path) -> None:
    (sample_dir / "README.md").write_text("# Giới thiệu thư mục\nKhông phải tài liệu.", encoding="utf-8")
    index = str(tmp_path / "ix")
    res = _run("ingest", str(sample_dir), "--exclude", "README.md", "--index", index, "--json")
    assert json.loads(res.stdout)["counts"]["ok"] == 2
    res = _run("show", "nq-99-2025", "--index", index, "--json")
    doc = json.loads(res.stdout)
    sections = {p["section"] for p in doc["paragraphs"]}
    assert {"I", "I > 1", "II > 1", "III > 1 > b)"} <= sections
    res = _run("show", "nq-99-2025", "--index", index)
    assert "nq-99-2025/p0000  [-] header:" in res.stdout
