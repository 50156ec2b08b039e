"""Shared helpers for the service tests: tiny Vietnamese documents (with canary strings in restricted ones),
index building, API keys, and reading server-sent events."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from rag import Library
from rag.text.ids import doc_id_suffix
from rag.types import CLASSIFICATIONS
from service.app import create_app
from service.keys import KeyStore
from service.server import uvicorn_config
from service.settings import Settings
from tests.ports import bound_socket, port_of

# Documents written for the tests (not official texts). Each restricted one carries its canary in its title
# and in every body paragraph: if any of its text reached a caller without clearance, the canary would show.
CANARIES: dict[str, str] = {
    "noi-bo": "CANARY-NOIBO-3317",
    "mat": "CANARY-MAT-4821",
    "toi-mat": "CANARY-TOIMAT-9054",
}
NUMBERS: dict[str, int] = {"cong-khai": 50, "noi-bo": 51, "mat": 52, "toi-mat": 53}
DOC_IDS: dict[str, str] = {c: f"nq-{n}-2025{doc_id_suffix(c)}" for c, n in NUMBERS.items()}
LABELS: dict[str, str] = {"cong-khai": "công khai", "noi-bo": "nội bộ", "mat": "mật", "toi-mat": "tối mật"}


def resolution(number: int, day: int, classification: str, topic: str = "kho lưu trữ văn kiện số") -> str:
    """A small resolution about `topic`; restricted ones carry their canary."""
    label = LABELS[classification]
    canary = CANARIES.get(classification, "")
    tag = f" {canary}" if canary else ""
    return f"""BAN CHẤP HÀNH TRUNG ƯƠNG
Số {number}-NQ/TW
Hà Nội, ngày {day} tháng 2 năm 2025
NGHỊ QUYẾT
CỦA BỘ CHÍNH TRỊ
về {topic} {label}{tag}
Tài liệu thử nghiệm do nhóm Văn Kiện soạn, không phải văn bản chính thức.
I. MỤC TIÊU
1. Đến năm 2030, {topic} {label} đạt mục tiêu{tag} với {number * 10} máy chủ riêng.
2. Kinh phí cho {topic} {label} là {number} tỉ đồng{tag}.
II. NHIỆM VỤ
1. Cục Lưu trữ chủ trì xây dựng {topic} {label}{tag}.
"""


def question_for(classification: str) -> str:
    return f"Nghị quyết {NUMBERS[classification]} đặt mục tiêu gì đến năm 2030?"


def forbidden_canaries(clearance: str | None) -> list[str]:
    """Canaries of the documents above a clearance (all of them for a caller without one)."""
    if clearance is None:
        return list(CANARIES.values())
    rank = CLASSIFICATIONS.index(clearance)
    return [c for cls, c in CANARIES.items() if CLASSIFICATIONS.index(cls) > rank]


def write_sources(root: Path) -> dict[str, Path]:
    """One folder per classification, each with its resolution."""
    folders = {}
    for i, classification in enumerate(CLASSIFICATIONS):
        folder = root / classification
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"nq{NUMBERS[classification]}.txt").write_text(
            resolution(NUMBERS[classification], 3 + i, classification), encoding="utf-8"
        )
        folders[classification] = folder
    return folders


def build_index(root: Path) -> Path:
    """An index with the four test resolutions, each at its classification."""
    index = root / "ix"
    with Library(index) as library:
        for classification, folder in write_sources(root / "src").items():
            report = library.ingest([folder], classification)
            assert report.counts["ok"] == 1, report.results
    return index


def settings_for(index: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "index_dir": index,
        "host": "127.0.0.1",
        "rate_limit_per_minute": 0,
        "auth_failures_per_minute": 0,
    }
    values.update(overrides)
    return Settings(**values)


class LocalClient(TestClient):
    """A TestClient whose requests arrive as on a loopback socket (`http://127.0.0.1`): the local demo mode serves
    anonymous callers only there (`service.deps.socket_is_loopback`)."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        kwargs.setdefault("base_url", "http://127.0.0.1")
        super().__init__(app, **kwargs)


class LiveServer:
    """The app under uvicorn on a free 127.0.0.1 port, in a thread (for clients that need real HTTP)."""

    def __init__(self, index: Path, **overrides: Any) -> None:
        self.socket = bound_socket()  # held until exit: no other process can take the port meanwhile
        self.port = port_of(self.socket)
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            self.settings = settings_for(index, port=self.port, **overrides)
            config = uvicorn_config(create_app(self.settings), self.settings, log_level="warning", lifespan="on")
        except BaseException:
            self.socket.close()
            raise
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        try:
            while not self.server.started:
                assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


def add_key(index: Path, role: str, clearance: str, name: str | None = None) -> str:
    _, secret = KeyStore(index / "keys.json").create(role, clearance, name)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event, data) pairs of a server-sent event stream."""
    events = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        name: str | None = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        events.append((name, "\n".join(data)))
    return events


def wait_job(client: TestClient, job_id: str, headers: dict[str, str], timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()
        if job["status"] in {"done", "failed"}:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.05)


def audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture()
def index_dir(tmp_path: Path) -> Path:
    return build_index(tmp_path)
