"""The ingest workflow over real files: idempotence, replacement, removal, bad files in a batch."""

from pathlib import Path

import pytest

from rag import Library
from rag.errors import InvalidRequest, NotFound
from tests.samples import NQ_SAMPLE


def test_ingest_folder_then_reingest_is_unchanged(tmp_path: Path, sample_dir: Path) -> None:
    with Library(tmp_path / "ix") as lib:
        report = lib.ingest([sample_dir])
        assert report.counts == {"ok": 2, "unchanged": 0, "replaced": 0, "rejected": 0}
        docs = {d.doc_id: d for d in lib.documents()}
        assert set(docs) == {"nq-99-2025", "tin-2025-04-12-ha-noi-khai-truong-kho-van"}
        nq = docs["nq-99-2025"]
        assert (nq.number, nq.issued, nq.doc_type, nq.issuer) == (
            "99-NQ/TW",
            "2025-03-05",
            "nghị quyết",
            "Bộ Chính trị",
        )
        before = lib.catalog.last_change()
        again = lib.ingest([sample_dir])
        assert again.counts == {"ok": 0, "unchanged": 2, "replaced": 0, "rejected": 0}
        assert lib.catalog.last_change() == before
        assert lib.check() == []


def test_changed_file_replaces_old_version(tmp_path: Path, sample_dir: Path) -> None:
    with Library(tmp_path / "ix") as lib:
        lib.ingest([sample_dir])
        path = sample_dir / "nq-99.md"
        path.write_text(NQ_SAMPLE.replace("hằng năm", "sáu tháng một lần"), encoding="utf-8")
        report = lib.ingest([path])
        assert [(r.status, r.doc_id) for r in report.results] == [("replaced", "nq-99-2025")]
        texts = [p.text for p in lib.paragraphs("nq-99-2025")]
        assert any("sáu tháng một lần" in t for t in texts)
        assert not any("hằng năm" in t for t in texts)
        assert len(lib.documents()) == 2


def test_reclassifying_replaces(tmp_path: Path, sample_dir: Path) -> None:
    with Library(tmp_path / "ix") as lib:
        lib.ingest([sample_dir / "nq-99.md"])
        report = lib.ingest([sample_dir / "nq-99.md"], classification="mat")
        assert report.results[0].status == "replaced"
        # the id follows the classification's namespace (docs/security.md): the public id is gone
        assert lib.document("nq-99-2025.mat").classification == "mat"
        assert [d.doc_id for d in lib.documents()] == ["nq-99-2025.mat"]
        with pytest.raises(InvalidRequest):
            lib.ingest([sample_dir], classification="bi-mat")


def test_same_number_in_two_files_gets_two_ids(tmp_path: Path, sample_dir: Path) -> None:
    reprint = sample_dir / "nq-99-ban-in-lai.md"
    reprint.write_text(NQ_SAMPLE + "\nBản in lại trên báo.\n", encoding="utf-8")
    with Library(tmp_path / "ix") as lib:
        lib.ingest([sample_dir])
        ids = sorted(d.doc_id for d in lib.documents() if d.number == "99-NQ/TW")
        assert ids == ["nq-99-2025", "nq-99-2025-2"]


def test_bad_files_do_not_stop_the_batch(tmp_path: Path, sample_dir: Path) -> None:
    (sample_dir / "hong.txt").write_bytes(b"\x00\x01\x02" * 100)
    (sample_dir / "rong.md").write_bytes(b"")
    (sample_dir / "bang.xlsx").write_bytes(b"PK\x03\x04")
    with Library(tmp_path / "ix") as lib:
        report = lib.ingest([sample_dir, tmp_path / "khong-co.md"])
        by_name = {Path(r.path).name: r for r in report.results}
        assert report.counts["ok"] == 2 and report.counts["rejected"] == 4
        assert "nhị phân" in by_name["hong.txt"].reason
        assert by_name["rong.md"].reason == "Tệp rỗng."
        assert "không được hỗ trợ" in by_name["bang.xlsx"].reason
        assert "Không tìm thấy" in by_name["khong-co.md"].reason
        assert lib.check() == []


def test_remove(tmp_path: Path, sample_dir: Path) -> None:
    with Library(tmp_path / "ix") as lib:
        lib.ingest([sample_dir])
        lib.remove("nq-99-2025")
        assert [d.doc_id for d in lib.documents()] == ["tin-2025-04-12-ha-noi-khai-truong-kho-van"]
        with pytest.raises(NotFound):
            lib.paragraph("nq-99-2025/p0001")
        # the file is new again for the catalog
        assert lib.ingest([sample_dir / "nq-99.md"]).results[0].status == "ok"


def test_paragraph_ids_and_spans(tmp_path: Path, sample_dir: Path) -> None:
    with Library(tmp_path / "ix") as lib:
        lib.ingest([sample_dir])
        doc = lib.document("nq-99-2025")
        paragraphs = lib.paragraphs("nq-99-2025")
        assert [p.paragraph_id for p in paragraphs[:2]] == ["nq-99-2025/p0000", "nq-99-2025/p0001"]
        for p in paragraphs:
            assert doc.text[p.start : p.end] == p.text
