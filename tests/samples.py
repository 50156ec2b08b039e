"""Where the tests find the repository's sample corpus, and tiny Vietnamese documents written for the tests (not
official texts)."""

from collections.abc import Mapping
from pathlib import Path

from rag import Library

#: The repository's root, for the files tests read from it (eval/data, docs/, tools/) and as a subprocess's cwd.
REPO_ROOT = Path(__file__).resolve().parents[1]
#: The sample corpus `make run` serves: the documents, and a README.md that is not one of them.
SAMPLE_CORPUS = REPO_ROOT / "corpus"


def library_of(root: Path, texts: Mapping[str, str], embedder: str | None = None) -> Library:
    """A library over documents written for a test (file name -> text), ingested from `root`/docs into
    `root`/ix (`embedder`: as for `Library`; None is the default packaged model)."""
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (docs / name).write_text(text, encoding="utf-8")
    library = Library(root / "ix", embedder=embedder)
    library.ingest([docs])
    return library


def sample_corpus_files() -> list[Path]:
    """The documents of the sample corpus, sorted by name (its README.md left out)."""
    return sorted(p for p in SAMPLE_CORPUS.iterdir() if p.is_file() and not p.name.startswith("README"))


# A small resolution in the usual layout, written for the tests (not an official text).
NQ_SAMPLE = """**BAN CHẤP HÀNH TRUNG ƯƠNG**
**ĐẢNG CỘNG SẢN VIỆT NAM**

Số 99-NQ/TW
*Hà Nội, ngày 05 tháng 3 năm 2025*

**NGHỊ QUYẾT**
CỦA BỘ CHÍNH TRỊ
**về phát triển thư viện số trong hệ thống chính trị**

Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.

**I- QUAN ĐIỂM**

**1\\.** Thư viện số là hạ tầng tri thức của cán bộ, đảng viên và Nhân dân.

**2\\.** Phát triển thư viện số gắn với chuyển đổi số quốc gia.

**II- MỤC TIÊU**

**1\\. Đến năm 2030**

\\- 100% cấp uỷ cấp tỉnh có kho văn kiện số hoá, tra cứu được trên mạng nội bộ.

\\- Ít nhất 80% văn kiện lưu trữ từ năm 1945 được số hoá và
gắn siêu dữ liệu chuẩn.

**2\\. Tầm nhìn đến năm 2045**

Việt Nam có hệ thống thư viện số hiện đại hàng đầu khu vực.

**III- NHIỆM VỤ, GIẢI PHÁP**

**1\\. Hoàn thiện thể chế**

a) Ban hành quy định về lưu trữ điện tử văn kiện của Đảng trước tháng 12 năm 2025.

b) Bảo đảm an toàn thông tin; tài liệu mật chỉ lưu trên mạng riêng.

**IV- TỔ CHỨC THỰC HIỆN**

Văn phòng Trung ương Đảng chủ trì, theo dõi và báo cáo Bộ Chính trị hằng năm.
"""

NEWS_SAMPLE = """Hà Nội khai trương kho văn kiện số của Đảng bộ thành phố
Minh An
12/04/2025 09:30
Sáng 12/4, Thành uỷ Hà Nội khai trương kho văn kiện số với hơn 20 nghìn tài liệu.
Kho được kết nối tới 126 xã, phường và các đảng uỷ trực thuộc.
"""
